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
import type { Logger } from '../log/index.js';

/** The Twirp methods of `livekit.Connector` this service implements. */
export type ConnectorMethod =
  'DialWhatsAppCall' | 'ConnectWhatsAppCall' | 'AcceptWhatsAppCall' | 'DisconnectWhatsAppCall';

/** What the Twirp layer knows about one authenticated request. */
export interface RequestContext {
  method: ConnectorMethod;
  /** The LiveKit API key (JWT `iss`) the caller authenticated with. Not a secret. */
  apiKeyId: string;
  /**
   * `X-Livekit-Request-Id` when the client sent one (Go and Node ≥ 2.19 do, and reuse it on
   * retries, so it can make Dial idempotent); otherwise a fresh UUID.
   */
  requestId: string;
  /** True when `requestId` came from the client rather than being generated here. */
  clientRequestId: boolean;
  /** Fires when the client goes away before the answer is written; stop waiting then. */
  signal: AbortSignal;
  /**
   * Client deadline from `X-Twirp-Timeout-Ms` in milliseconds, when sent. The SDKs wait 10 s
   * (30 s for Accept with `wait_until_answered`) whether or not they send it.
   */
  clientTimeoutMs: number | undefined;
  /** Child logger bound to method and request id. */
  logger: Logger;
}

/**
 * The work behind the Connector API. The Twirp layer hands over requests that are authenticated,
 * validated and normalised:
 * - required fields are present (see `connector-request-validator.ts` for the exact rules);
 * - `whatsappCloudApiVersion` is the bare version, e.g. "23.0" (a leading "v" is removed);
 * - `roomName` is set (generated `whatsapp-<12 random chars>` when the client sent none);
 * - `participantIdentity` is set (default `whatsapp_<digits of to number>` for Dial,
 *   `whatsapp_<call id>` for Accept);
 * - `ringingTimeout` is set (default from the configuration, 30 s);
 * - `destinationCountry` is empty or an upper-case ISO 3166-1 alpha-2 code;
 * - `sdp.type` is "offer" for Accept and "answer" for Connect, and `sdp.sdp` is not empty.
 *
 * Implementations throw `ConnectorError`s (`connectorErrors`, `whatsAppApiError`); anything else
 * reaches the client as `internal`.
 */
export interface ConnectorBackend {
  dialWhatsAppCall(
    req: DialWhatsAppCallRequest,
    ctx: RequestContext,
  ): Promise<DialWhatsAppCallResponse>;
  connectWhatsAppCall(
    req: ConnectWhatsAppCallRequest,
    ctx: RequestContext,
  ): Promise<ConnectWhatsAppCallResponse>;
  acceptWhatsAppCall(
    req: AcceptWhatsAppCallRequest,
    ctx: RequestContext,
  ): Promise<AcceptWhatsAppCallResponse>;
  disconnectWhatsAppCall(
    req: DisconnectWhatsAppCallRequest,
    ctx: RequestContext,
  ): Promise<DisconnectWhatsAppCallResponse>;
}
