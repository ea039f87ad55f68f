import type { Logger } from '../log/index.js';

/** The Twirp methods of `livekit.Connector` this service implements. */
export type ConnectorMethod =
  | 'DialWhatsAppCall'
  | 'ConnectWhatsAppCall'
  | 'AcceptWhatsAppCall'
  | 'DisconnectWhatsAppCall'
  | 'ConnectTwilioCall';

/** What the Twirp layer knows about one authenticated request. */
export interface RequestContext {
  method: ConnectorMethod;
  /** The LiveKit API key (JWT `iss`) the caller authenticated with. Not a secret. */
  apiKeyId: string;
  /**
   * `X-Livekit-Request-Id` when the client sent one (Go and Node ≥ 2.19 do, and reuse it on
   * retries, so it makes Dial idempotent); otherwise a fresh UUID.
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
  /**
   * `scheme://host` the client addressed: Host (or X-Forwarded-Host) and X-Forwarded-Proto
   * (else http). Set by the Twirp layer; URLs handed back to clients may be built on it.
   */
  clientOrigin?: string | undefined;
}
