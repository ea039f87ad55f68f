/**
 * The internal API of calls: plain parameters and results, independent of any wire format. The
 * Connector API edge (`src/connector/`) converts protobuf requests into these after validating
 * them, the webhook gateway builds them from Meta's events and its routing rules, and the cluster
 * forwards them to peers as JSON. Everything below the edges works on these types.
 *
 * Defaults are applied by whoever builds the parameters (the edge knows the configuration); the
 * call layer takes every field as given. `validateDialParams`/`validateAcceptParams`
 * (`call-params-validation.ts`) check them again wherever they enter the call layer.
 */
import type { PlainMessage } from '@bufbuild/protobuf';
import type { RoomAgentDispatch } from '@livekit/protocol';
import type { Logger } from '../log/index.js';
import type { WhatsAppUser } from '../whatsapp/whatsapp-user.js';
import type { CallPlacement } from './call-placement.js';

/**
 * Meta credentials and API version of one call. The access token is a secret: it is never logged,
 * never shown in summaries, and leaves the process only towards Meta (and, in a cluster, to the
 * peer that runs the call, over the authenticated internal endpoint).
 */
export interface MetaContext {
  /** Numeric id of the business phone number (not the E.164 number). */
  phoneNumberId: string;
  /** Graph API access token for this number. Secret. */
  accessToken: string;
  /** Cloud API version without the "v", e.g. "24.0". */
  apiVersion: string;
}

/** An agent to dispatch into the call's room (LiveKit's `RoomAgentDispatch`, as a plain object). */
export type AgentDispatch = PlainMessage<RoomAgentDispatch>;

/** The connector participant of a call and the room it joins. */
export interface ParticipantParams {
  /** Room to join; created by the join when it does not exist. */
  roomName: string;
  /** Identity of the connector participant; unique in the room. */
  identity: string;
  /** Display name; '' for none. */
  name: string;
  /** Participant metadata; '' for none. */
  metadata: string;
  /** Attributes set at join; the call's own `whatsapp.*` attributes take precedence. */
  attributes: Record<string, string>;
  /** Agents dispatched into the room, each exactly once. */
  agents: AgentDispatch[];
}

/** A business-initiated call (Connector `DialWhatsAppCall`). */
export interface DialParams {
  meta: MetaContext;
  /**
   * Who to call: a phone number (digits only), else a BSUID or parent BSUID (sent to Meta in
   * `recipient`). PII: never logged outside redactable fields.
   */
  to: WhatsAppUser;
  participant: ParticipantParams;
  /** ISO 3166-1 alpha-2 code, upper case, of where the call terminates; undefined when unknown. */
  destinationCountry?: string | undefined;
  /** Echoed by Meta in status and terminate webhooks; at most 512 characters. */
  bizOpaqueCallbackData?: string | undefined;
  /** How long the user's phone may ring before the call ends as `no_answer`, ms (> 0). */
  ringingTimeoutMs: number;
  /**
   * Makes the Dial idempotent: a Dial repeated with the same key (the client retrying after a lost
   * answer, on any instance of a cluster) answers the first Dial's result instead of calling the
   * user again. The Connector edge uses the client's `X-Livekit-Request-Id`, scoped by API key.
   * Undefined: no deduplication.
   */
  idempotencyKey?: string | undefined;
  /**
   * How the router placed the dial (set by the router, carried to the peer that places it, kept
   * for the call listing). Undefined until routed.
   */
  placement?: CallPlacement | undefined;
}

/** The result of a dial: Meta's call id and the room the participant joined. */
export interface DialResult {
  callId: string;
  roomName: string;
}

/** A user-initiated call to answer (Connector `AcceptWhatsAppCall`). */
export interface AcceptParams {
  meta: MetaContext;
  /** Meta's call id (`wacid.…`) from the connect webhook. */
  callId: string;
  /** Meta's SDP offer from the connect webhook. */
  offerSdp: string;
  participant: ParticipantParams;
  /**
   * The caller as Meta named them (phone number, BSUID, username), when known: the webhook
   * gateway knows it, the Connector API does not.
   */
  caller?: WhatsAppUser | undefined;
  /** ISO 3166-1 alpha-2 code, upper case; undefined when unknown. */
  destinationCountry?: string | undefined;
  /** Echoed by Meta in the terminate webhook; at most 512 characters. */
  bizOpaqueCallbackData?: string | undefined;
  /** How long answering may take (media up and accepted) before the call ends as `no_answer`, ms. */
  ringingTimeoutMs: number;
  /** Resolve only once the caller's audio flows (LiveKit's `wait_until_answered`). */
  waitUntilAnswered: boolean;
  /**
   * How the router placed the accept (set by the router when it sent the accept to an instance
   * of the call's region, kept for the call listing). Undefined: answered where it arrived.
   */
  placement?: CallPlacement | undefined;
}

/** The result of an accept: the room the caller was put in. */
export interface AcceptResult {
  roomName: string;
}

/** Meta's SDP answer for a dialled call (Connector `ConnectWhatsAppCall`, or the connect webhook). */
export interface ConnectParams {
  callId: string;
  answerSdp: string;
  /** Resolve only once the user picked up (LiveKit's `wait_until_answered`). */
  waitUntilAnswered: boolean;
}

/** Ends a call on request (Connector `DisconnectWhatsAppCall`). */
export interface DisconnectParams {
  callId: string;
  /**
   * `user`: the application reports that the WhatsApp user hung up (nothing is sent to Meta).
   * `business`: the business hangs up; the call is ended at Meta (terminate, or reject when it was
   * never answered).
   */
  initiator: 'user' | 'business';
  /** Access token for ending the call at Meta; default the one the call was set up with. Secret. */
  accessToken?: string | undefined;
}

/**
 * Move a call into another room (the Meta leg stays): HTTP `POST /api/calls/{id}/transfer`, the
 * CLI's `transfer`, or a data message from a participant of the call's room. Fields left out keep
 * the current participant's values; `agents` defaults to none.
 */
export interface TransferParams {
  callId: string;
  /** Required - the room to move the call into; created by the join when it does not exist. */
  roomName: string;
  /** Optional - identity of the connector participant there. Default: the current one. */
  identity?: string | undefined;
  /** Optional - display name there. Default: the current one. */
  name?: string | undefined;
  /** Optional - participant metadata there. Default: the current one. */
  metadata?: string | undefined;
  /**
   * Optional - attributes set at join there (the call's `whatsapp.*` attributes take precedence).
   * Default: the current participant's own attributes.
   */
  attributes?: Record<string, string> | undefined;
  /** Optional - agents to dispatch into the new room, each once. Default none. */
  agents?: AgentDispatch[] | undefined;
}

/** Where a transferred call is now. */
export interface TransferResult {
  callId: string;
  roomName: string;
  participantIdentity: string;
}

/** Meta ended a call (terminate webhook). */
export interface HangupParams {
  callId: string;
  /** The webhook's `status` (`COMPLETED`, `FAILED`); undefined when absent. */
  status?: string | undefined;
  /** The webhook's `errors[].code`. */
  errorCodes?: number[] | undefined;
}

/** A call status webhook of a business-initiated call. */
export interface CallStatusParams {
  callId: string;
  status: MetaCallStatus;
}

/** Statuses Meta reports for business-initiated calls. */
export type MetaCallStatus = 'RINGING' | 'ACCEPTED' | 'REJECTED';
export const META_CALL_STATUSES: readonly MetaCallStatus[] = ['RINGING', 'ACCEPTED', 'REJECTED'];

/** Where a request to the call layer comes from; decides waiting and forwarding rules. */
export type RequestOrigin =
  /** An API client (Connector API, CLI). */
  | 'api'
  /** A Meta webhook: the call may not be published yet on a cluster, so owners are awaited. */
  | 'webhook'
  /** Another instance forwarded it: served here and never forwarded again. */
  | 'peer';

/** What every call-layer operation gets besides its parameters. */
export interface OperationContext {
  /** Logger bound to the request. */
  logger: Logger;
  /** Fires when the requester goes away: stop waiting then (started work is not undone). */
  signal: AbortSignal;
  origin: RequestOrigin;
  /** Correlates logs across instances. */
  requestId: string;
  /**
   * Who asked, for logs: the LiveKit API key of an API client, `webhook-gateway`, or the instance
   * that forwarded the request. Not a secret.
   */
  requester: string;
  /** Epoch ms by which the requester stops waiting, when known. */
  deadline?: number | undefined;
}

/**
 * The internal API of calls, served by the local call manager, by a peer instance, and by the
 * router that picks between them. Failures are typed errors (`call-errors.ts`,
 * `src/errors/service-error.ts`, and the Graph client's `GraphApiError`/`GraphTransportError`).
 */
export interface CallOperations {
  /** Place a business-initiated call and join its room. */
  dial(params: DialParams, ctx: OperationContext): Promise<DialResult>;
  /** Answer a user-initiated call into a room. A repeated accept joins the first. */
  accept(params: AcceptParams, ctx: OperationContext): Promise<AcceptResult>;
  /** Apply Meta's answer to a dialled call. Idempotent. */
  connect(params: ConnectParams, ctx: OperationContext): Promise<void>;
  /** End a call on request; a second disconnect of the same call is `CallNotFoundError`. */
  disconnect(params: DisconnectParams, ctx: OperationContext): Promise<void>;
  /** Meta ended the call. Resolves whether a call was found. Idempotent. */
  userHangup(params: HangupParams, ctx: OperationContext): Promise<boolean>;
  /** A status of a dialled call. Resolves whether a call was found. Idempotent, order-tolerant. */
  callStatus(params: CallStatusParams, ctx: OperationContext): Promise<boolean>;
  /** Move a live call into another room (its Meta leg stays). */
  transfer(params: TransferParams, ctx: OperationContext): Promise<TransferResult>;
}
