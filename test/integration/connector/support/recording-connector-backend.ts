import {
  AcceptWhatsAppCallResponse,
  ConnectWhatsAppCallResponse,
  DialWhatsAppCallResponse,
  DisconnectWhatsAppCallResponse,
  type AcceptWhatsAppCallRequest,
  type ConnectWhatsAppCallRequest,
  type DialWhatsAppCallRequest,
  type DisconnectWhatsAppCallRequest,
} from '@livekit/protocol';
import type {
  ConnectorBackend,
  ConnectorMethod,
  RequestContext,
} from '../../../../src/connector/index.js';
import { connectorErrors, whatsAppApiError } from '../../../../src/connector/index.js';

/** One request that passed the Twirp layer, as the backend received it. */
export interface RecordedCall {
  method: ConnectorMethod;
  request:
    | DialWhatsAppCallRequest
    | ConnectWhatsAppCallRequest
    | AcceptWhatsAppCallRequest
    | DisconnectWhatsAppCallRequest;
  ctx: RequestContext;
}

/** To-number that makes the double fail a Dial the way a Graph API refusal would. */
export const UPSTREAM_FAILURE_TO_NUMBER = '15550009999';

/** Meta's answer the double turns into the upstream error (shape of a real Graph error). */
export const UPSTREAM_FAILURE = {
  httpStatus: 400,
  code: 138006,
  type: 'OAuthException',
  message: '(#138006) Lack of call permission',
  details: 'No approved call permission from the recipient',
  fbtraceId: 'AZ-compat-fbtrace-1',
} as const;

/**
 * Test double for the call bridge: records every validated request and answers like the bridge's
 * contract says (call ids it knows, `not_found` otherwise). Tests may replace a method through
 * `override` to control timing or failures. Lives in test/ on purpose: the Twirp layer is what
 * is under test here; the real bridge is tested end to end elsewhere.
 */
export class RecordingConnectorBackend implements ConnectorBackend {
  readonly calls: RecordedCall[] = [];
  readonly knownCallIds = new Set(['wacid.known-1', 'wacid.inbound-1']);
  override: Partial<ConnectorBackend> = {};

  last(method: ConnectorMethod): RecordedCall | undefined {
    return this.calls.filter((c) => c.method === method).at(-1);
  }

  async dialWhatsAppCall(
    req: DialWhatsAppCallRequest,
    ctx: RequestContext,
  ): Promise<DialWhatsAppCallResponse> {
    this.calls.push({ method: 'DialWhatsAppCall', request: req, ctx });
    if (this.override.dialWhatsAppCall) return this.override.dialWhatsAppCall(req, ctx);
    if (req.whatsappToPhoneNumber === UPSTREAM_FAILURE_TO_NUMBER) {
      throw whatsAppApiError(UPSTREAM_FAILURE);
    }
    return new DialWhatsAppCallResponse({
      whatsappCallId: `wacid.${req.roomName}`,
      roomName: req.roomName,
    });
  }

  async connectWhatsAppCall(
    req: ConnectWhatsAppCallRequest,
    ctx: RequestContext,
  ): Promise<ConnectWhatsAppCallResponse> {
    this.calls.push({ method: 'ConnectWhatsAppCall', request: req, ctx });
    if (this.override.connectWhatsAppCall) return this.override.connectWhatsAppCall(req, ctx);
    if (!this.knownCallIds.has(req.whatsappCallId)) throw connectorErrors.callNotFound();
    return new ConnectWhatsAppCallResponse();
  }

  async acceptWhatsAppCall(
    req: AcceptWhatsAppCallRequest,
    ctx: RequestContext,
  ): Promise<AcceptWhatsAppCallResponse> {
    this.calls.push({ method: 'AcceptWhatsAppCall', request: req, ctx });
    if (this.override.acceptWhatsAppCall) return this.override.acceptWhatsAppCall(req, ctx);
    if (!this.knownCallIds.has(req.whatsappCallId)) throw connectorErrors.callNotFound();
    return new AcceptWhatsAppCallResponse({ roomName: req.roomName });
  }

  async disconnectWhatsAppCall(
    req: DisconnectWhatsAppCallRequest,
    ctx: RequestContext,
  ): Promise<DisconnectWhatsAppCallResponse> {
    this.calls.push({ method: 'DisconnectWhatsAppCall', request: req, ctx });
    if (this.override.disconnectWhatsAppCall) {
      return this.override.disconnectWhatsAppCall(req, ctx);
    }
    if (!this.knownCallIds.has(req.whatsappCallId)) throw connectorErrors.callNotFound();
    return new DisconnectWhatsAppCallResponse();
  }
}
