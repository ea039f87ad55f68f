import { NoCallPermissionError } from '../calls/call-errors.js';
import type {
  AcceptParams,
  AcceptResult,
  CallOperations,
  CallStatusParams,
  ConnectParams,
  DialParams,
  DialResult,
  DisconnectParams,
  HangupParams,
  OperationContext,
  TransferParams,
  TransferResult,
} from '../calls/call-params.js';
import type { WhatsAppGraphClient } from '../whatsapp/graph-client.js';

export interface PermissionCheckingCallsOptions {
  /** Required - the calls (the call router). */
  inner: CallOperations;
  /** Required - Graph client for `call_permissions`. */
  graph: Pick<WhatsAppGraphClient, 'getCallPermissions'>;
  /** Required - whether dials from this business number are checked first. */
  shouldCheck: (phoneNumberId: string) => boolean;
}

/**
 * The calls as the Connector API sees them: a dial to a user without call permission fails
 * before the call is placed, with a `NoCallPermissionError` that says how to get permission (a
 * dial Meta refuses with 138006 fails the same way, from the call itself). A permission check that
 * fails for any other reason (rate limit, Meta unreachable) does not block the dial: Meta still
 * enforces permission.
 */
export class PermissionCheckingCalls implements CallOperations {
  private readonly inner: CallOperations;
  private readonly graph: Pick<WhatsAppGraphClient, 'getCallPermissions'>;
  private readonly shouldCheck: (phoneNumberId: string) => boolean;

  constructor(options: PermissionCheckingCallsOptions) {
    this.inner = options.inner;
    this.graph = options.graph;
    this.shouldCheck = options.shouldCheck;
  }

  async dial(params: DialParams, ctx: OperationContext): Promise<DialResult> {
    if (this.shouldCheck(params.meta.phoneNumberId)) await this.checkPermission(params, ctx);
    return this.inner.dial(params, ctx);
  }

  private async checkPermission(params: DialParams, ctx: OperationContext): Promise<void> {
    const { meta, to } = params;
    let verdict: { status: string; canStart: boolean; canRequest: boolean | undefined };
    try {
      const p = await this.graph.getCallPermissions({
        phoneNumberId: meta.phoneNumberId,
        accessToken: meta.accessToken,
        apiVersion: meta.apiVersion,
        ...(to.phoneNumber !== undefined
          ? { userWaId: to.phoneNumber }
          : { recipient: to.userId ?? to.parentUserId ?? '' }),
        signal: ctx.signal,
      });
      verdict = {
        status: p.status,
        canStart: p.canStartCall ?? p.status !== 'no_permission',
        canRequest: p.canSendPermissionRequest,
      };
    } catch (err) {
      ctx.logger.warn({ err }, 'call permission check failed; dialling anyway');
      return;
    }
    if (!verdict.canStart) {
      ctx.logger.info(
        { to: to.phoneNumber ?? to.userId ?? to.parentUserId, permissionStatus: verdict.status },
        'dial refused: no call permission',
      );
      throw new NoCallPermissionError(meta.phoneNumberId, verdict.status, verdict.canRequest);
    }
  }

  accept(params: AcceptParams, ctx: OperationContext): Promise<AcceptResult> {
    return this.inner.accept(params, ctx);
  }

  connect(params: ConnectParams, ctx: OperationContext): Promise<void> {
    return this.inner.connect(params, ctx);
  }

  disconnect(params: DisconnectParams, ctx: OperationContext): Promise<void> {
    return this.inner.disconnect(params, ctx);
  }

  transfer(params: TransferParams, ctx: OperationContext): Promise<TransferResult> {
    return this.inner.transfer(params, ctx);
  }

  userHangup(params: HangupParams, ctx: OperationContext): Promise<boolean> {
    return this.inner.userHangup(params, ctx);
  }

  callStatus(params: CallStatusParams, ctx: OperationContext): Promise<boolean> {
    return this.inner.callStatus(params, ctx);
  }
}
