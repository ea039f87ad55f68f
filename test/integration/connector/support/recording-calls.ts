import { GraphApiError } from '../../../../src/whatsapp/graph-api-error.js';
import { CallNotFoundError } from '../../../../src/calls/call-errors.js';
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
} from '../../../../src/calls/call-params.js';

/** The call operations the Connector API drives. */
export type RecordedOperation = 'dial' | 'accept' | 'connect' | 'disconnect';

/** One request that passed the Twirp layer, as the call layer received it. */
export interface RecordedCall {
  operation: RecordedOperation;
  params: DialParams | AcceptParams | ConnectParams | DisconnectParams;
  ctx: OperationContext;
}

/** To-number that makes the double fail a Dial the way a Graph API refusal would. */
export const UPSTREAM_FAILURE_TO_NUMBER = '15550009999';

/** Meta's answer the double turns into the upstream error (shape of a real Graph error). */
export const UPSTREAM_FAILURE = {
  status: 400,
  body: {
    code: 138006,
    type: 'OAuthException',
    message: '(#138006) Lack of call permission',
    error_data: { details: 'No approved call permission from the recipient' },
    fbtrace_id: 'AZ-compat-fbtrace-1',
  },
} as const;

/**
 * Test double for the calls behind the Connector API: records every converted request and
 * answers as the call layer's contract says (call ids it knows, `CallNotFoundError` otherwise).
 * Tests may replace an operation through `override` to control timing or failures. Lives in test/
 * on purpose: the Twirp layer is what is under test here; the real calls are tested end to end
 * elsewhere.
 */
export class RecordingCalls implements CallOperations {
  readonly calls: RecordedCall[] = [];
  readonly knownCallIds = new Set(['wacid.known-1', 'wacid.inbound-1']);
  override: Partial<CallOperations> = {};

  last(operation: RecordedOperation): RecordedCall | undefined {
    return this.calls.filter((c) => c.operation === operation).at(-1);
  }

  async dial(params: DialParams, ctx: OperationContext): Promise<DialResult> {
    this.calls.push({ operation: 'dial', params, ctx });
    if (this.override.dial) return this.override.dial(params, ctx);
    if (params.to.phoneNumber === UPSTREAM_FAILURE_TO_NUMBER) {
      throw new GraphApiError(UPSTREAM_FAILURE.body, {
        status: UPSTREAM_FAILURE.status,
        operation: 'calls.connect',
        attempts: 1,
        afterUncertainAttempt: false,
      });
    }
    const roomName = params.participant.roomName;
    return { callId: `wacid.${roomName}`, roomName };
  }

  async connect(params: ConnectParams, ctx: OperationContext): Promise<void> {
    this.calls.push({ operation: 'connect', params, ctx });
    if (this.override.connect) return this.override.connect(params, ctx);
    if (!this.knownCallIds.has(params.callId)) throw new CallNotFoundError(params.callId);
  }

  async accept(params: AcceptParams, ctx: OperationContext): Promise<AcceptResult> {
    this.calls.push({ operation: 'accept', params, ctx });
    if (this.override.accept) return this.override.accept(params, ctx);
    if (!this.knownCallIds.has(params.callId)) throw new CallNotFoundError(params.callId);
    return { roomName: params.participant.roomName };
  }

  async disconnect(params: DisconnectParams, ctx: OperationContext): Promise<void> {
    this.calls.push({ operation: 'disconnect', params, ctx });
    if (this.override.disconnect) return this.override.disconnect(params, ctx);
    if (!this.knownCallIds.has(params.callId)) throw new CallNotFoundError(params.callId);
  }

  async userHangup(params: HangupParams): Promise<boolean> {
    return this.knownCallIds.has(params.callId);
  }

  async callStatus(params: CallStatusParams): Promise<boolean> {
    return this.knownCallIds.has(params.callId);
  }

  async transfer(params: TransferParams): Promise<TransferResult> {
    if (!this.knownCallIds.has(params.callId)) throw new CallNotFoundError(params.callId);
    return { callId: params.callId, roomName: params.roomName, participantIdentity: 'p' };
  }
}
