/**
 * The Connector API's requests and responses against the internal call API: validated protobuf
 * requests become plain parameters here, at the edge, and results become protobuf responses.
 * Nothing below this file sees a protobuf message of the Connector service.
 */
import type { Duration } from '@bufbuild/protobuf';
import {
  AcceptWhatsAppCallResponse,
  DialWhatsAppCallResponse,
  DisconnectWhatsAppCallRequest_DisconnectReason as DisconnectReason,
  type AcceptWhatsAppCallRequest,
  type ConnectWhatsAppCallRequest,
  type DialWhatsAppCallRequest,
  type DisconnectWhatsAppCallRequest,
  type RoomAgentDispatch,
} from '@livekit/protocol';
import type {
  AcceptParams,
  AcceptResult,
  AgentDispatch,
  ConnectParams,
  DialParams,
  DialResult,
  DisconnectParams,
  OperationContext,
  ParticipantParams,
} from '../calls/call-params.js';
import { parseWhatsAppUser } from '../calls/call-params-validation.js';
import type { RequestContext } from './request-context.js';

/** The call-layer context of an authenticated Connector request. */
export function operationContextOf(ctx: RequestContext): OperationContext {
  return {
    logger: ctx.logger,
    signal: ctx.signal,
    origin: 'api',
    requestId: ctx.requestId,
    requester: ctx.apiKeyId,
    deadline: ctx.clientTimeoutMs !== undefined ? Date.now() + ctx.clientTimeoutMs : undefined,
  };
}

/**
 * The idempotency key of a Dial: the client's own request id (which the SDKs reuse when they
 * retry), scoped by API key so that two applications cannot collide. None for generated ids.
 */
export function dialIdempotencyKey(ctx: RequestContext): string | undefined {
  return ctx.clientRequestId ? `${ctx.apiKeyId}:${ctx.requestId}` : undefined;
}

/** A validated Dial (see `ConnectorRequestValidator.dial`) as call parameters. */
export function dialParamsOf(req: DialWhatsAppCallRequest, ctx: RequestContext): DialParams {
  return {
    meta: {
      phoneNumberId: req.whatsappPhoneNumberId,
      accessToken: req.whatsappApiKey,
      apiVersion: req.whatsappCloudApiVersion,
    },
    to: parseWhatsAppUser(req.whatsappToPhoneNumber, 'whatsapp_to_phone_number'),
    participant: participantOf(req),
    destinationCountry: req.destinationCountry || undefined,
    bizOpaqueCallbackData: req.whatsappBizOpaqueCallbackData || undefined,
    ringingTimeoutMs: durationMs(req.ringingTimeout),
    idempotencyKey: dialIdempotencyKey(ctx),
  };
}

/** A validated Accept (see `ConnectorRequestValidator.accept`) as call parameters. */
export function acceptParamsOf(req: AcceptWhatsAppCallRequest): AcceptParams {
  return {
    meta: {
      phoneNumberId: req.whatsappPhoneNumberId,
      accessToken: req.whatsappApiKey,
      apiVersion: req.whatsappCloudApiVersion,
    },
    callId: req.whatsappCallId,
    offerSdp: req.sdp?.sdp ?? '',
    participant: participantOf(req),
    destinationCountry: req.destinationCountry || undefined,
    bizOpaqueCallbackData: req.whatsappBizOpaqueCallbackData || undefined,
    ringingTimeoutMs: durationMs(req.ringingTimeout),
    waitUntilAnswered: req.waitUntilAnswered,
  };
}

/** A validated Connect as call parameters. */
export function connectParamsOf(req: ConnectWhatsAppCallRequest): ConnectParams {
  return {
    callId: req.whatsappCallId,
    answerSdp: req.sdp?.sdp ?? '',
    waitUntilAnswered: req.waitUntilAnswered,
  };
}

/** A validated Disconnect as call parameters. */
export function disconnectParamsOf(req: DisconnectWhatsAppCallRequest): DisconnectParams {
  const business = req.disconnectReason === DisconnectReason.BUSINESS_INITIATED;
  return {
    callId: req.whatsappCallId,
    initiator: business ? 'business' : 'user',
    accessToken: business && req.whatsappApiKey ? req.whatsappApiKey : undefined,
  };
}

export function dialResponseOf(result: DialResult): DialWhatsAppCallResponse {
  return new DialWhatsAppCallResponse({
    whatsappCallId: result.callId,
    roomName: result.roomName,
  });
}

export function acceptResponseOf(result: AcceptResult): AcceptWhatsAppCallResponse {
  return new AcceptWhatsAppCallResponse({ roomName: result.roomName });
}

function participantOf(req: {
  roomName: string;
  participantIdentity: string;
  participantName: string;
  participantMetadata: string;
  participantAttributes: Record<string, string>;
  agents: RoomAgentDispatch[];
}): ParticipantParams {
  return {
    roomName: req.roomName,
    identity: req.participantIdentity,
    name: req.participantName,
    metadata: req.participantMetadata,
    attributes: { ...req.participantAttributes },
    agents: req.agents.map((a): AgentDispatch => ({
      agentName: a.agentName,
      metadata: a.metadata,
      restartPolicy: a.restartPolicy,
      deployment: a.deployment,
      attributes: { ...a.attributes },
    })),
  };
}

/** A protobuf duration in ms (the validator has set every duration this reads). */
function durationMs(d: Duration | undefined): number {
  if (!d) return 0;
  return Number(d.seconds) * 1000 + Math.floor(d.nanos / 1e6);
}
