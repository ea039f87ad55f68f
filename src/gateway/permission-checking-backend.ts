import type {
  AcceptWhatsAppCallRequest,
  AcceptWhatsAppCallResponse,
  ConnectWhatsAppCallRequest,
  ConnectWhatsAppCallResponse,
  DialWhatsAppCallRequest,
  DialWhatsAppCallResponse,
  DisconnectWhatsAppCallRequest,
  DisconnectWhatsAppCallResponse,
} from '@livekit/protocol';
import type { ConnectorBackend, RequestContext } from '../connector/connector-backend.js';
import { ConnectorError } from '../errors/index.js';
import type { WhatsAppGraphClient } from '../whatsapp/graph-client.js';
import { CallPermissionError, NO_CALL_PERMISSION_GRAPH_CODE } from './call-permission-error.js';

export interface PermissionCheckingBackendOptions {
  /** Required - the backend that does the calls. */
  inner: ConnectorBackend;
  /** Required - Graph client for `call_permissions`. */
  graph: WhatsAppGraphClient;
  /** Required - whether dials from this business number are checked first. */
  shouldCheck: (phoneNumberId: string) => boolean;
}

/**
 * Wraps the Connector API backend so a dial to a user without call permission fails before the
 * call is placed, with an error that says how to get permission. Meta's own refusal (138006) on
 * the dial is turned into the same error. A permission check that fails for any other reason
 * (rate limit, Meta unreachable) does not block the dial: Meta still enforces permission.
 */
export class PermissionCheckingBackend implements ConnectorBackend {
  private readonly inner: ConnectorBackend;
  private readonly graph: WhatsAppGraphClient;
  private readonly shouldCheck: (phoneNumberId: string) => boolean;

  constructor(options: PermissionCheckingBackendOptions) {
    this.inner = options.inner;
    this.graph = options.graph;
    this.shouldCheck = options.shouldCheck;
  }

  async dialWhatsAppCall(
    req: DialWhatsAppCallRequest,
    ctx: RequestContext,
  ): Promise<DialWhatsAppCallResponse> {
    if (this.shouldCheck(req.whatsappPhoneNumberId)) {
      let verdict: { status: string; canStart: boolean; canRequest: boolean | undefined };
      try {
        const p = await this.graph.getCallPermissions({
          phoneNumberId: req.whatsappPhoneNumberId,
          accessToken: req.whatsappApiKey,
          apiVersion: req.whatsappCloudApiVersion,
          userWaId: req.whatsappToPhoneNumber.replace(/\D/g, ''),
          signal: ctx.signal,
        });
        verdict = {
          status: p.status,
          canStart: p.canStartCall ?? p.status !== 'no_permission',
          canRequest: p.canSendPermissionRequest,
        };
      } catch (err) {
        ctx.logger.warn({ err }, 'call permission check failed; dialling anyway');
        verdict = { status: 'unknown', canStart: true, canRequest: undefined };
      }
      if (!verdict.canStart) {
        ctx.logger.info(
          { to: req.whatsappToPhoneNumber, permissionStatus: verdict.status },
          'dial refused: no call permission',
        );
        throw new CallPermissionError(req.whatsappPhoneNumberId, verdict.status, {
          canSendPermissionRequest: verdict.canRequest,
        });
      }
    }
    try {
      return await this.inner.dialWhatsAppCall(req, ctx);
    } catch (err) {
      if (
        err instanceof ConnectorError &&
        err.meta.graphCode === String(NO_CALL_PERMISSION_GRAPH_CODE)
      ) {
        throw new CallPermissionError(req.whatsappPhoneNumberId, 'no_permission', { cause: err });
      }
      throw err;
    }
  }

  connectWhatsAppCall(
    req: ConnectWhatsAppCallRequest,
    ctx: RequestContext,
  ): Promise<ConnectWhatsAppCallResponse> {
    return this.inner.connectWhatsAppCall(req, ctx);
  }

  acceptWhatsAppCall(
    req: AcceptWhatsAppCallRequest,
    ctx: RequestContext,
  ): Promise<AcceptWhatsAppCallResponse> {
    return this.inner.acceptWhatsAppCall(req, ctx);
  }

  disconnectWhatsAppCall(
    req: DisconnectWhatsAppCallRequest,
    ctx: RequestContext,
  ): Promise<DisconnectWhatsAppCallResponse> {
    return this.inner.disconnectWhatsAppCall(req, ctx);
  }
}
