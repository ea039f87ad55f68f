import type { DisconnectReason } from '@livekit/protocol';

/**
 * Why a LiveKit operation failed. Callers branch on `reason` (and `retryable`), never on the
 * message text; the API edge maps these to Twirp codes once.
 */
export type LiveKitErrorReason =
  /** livekit-server could not be reached (connection refused, reset, DNS). */
  | 'unreachable'
  /** The token was rejected or lacks a grant (HTTP 401/403 on the WebSocket upgrade). */
  | 'not-allowed'
  /** The server answered the upgrade with another HTTP status (see `httpStatus`). */
  | 'http-error'
  /** A step did not finish within its timeout (WebSocket open, join, publish, peer connection). */
  | 'timeout'
  /** The server sent a LeaveRequest instead of the join/reconnect response. */
  | 'left'
  /** The server answered with something the protocol does not allow at this point. */
  | 'protocol'
  /** The participant was closed (by `leave()`, the server, or a failed reconnect). */
  | 'closed'
  /** The server refused a request (RequestResponse with a reason other than OK). */
  | 'rejected'
  /** The caller passed something unusable (empty track name, oversized data packet...). */
  | 'invalid-argument';

/** An error of the LiveKit participant. `retryable` says whether trying again may succeed. */
export class LiveKitError extends Error {
  override readonly name = 'LiveKitError';
  readonly reason: LiveKitErrorReason;
  readonly retryable: boolean;
  /** HTTP status of a failed WebSocket upgrade, when there was one. */
  readonly httpStatus: number | undefined;
  /** Server-given reason for `left`. */
  readonly disconnectReason: DisconnectReason | undefined;

  constructor(
    reason: LiveKitErrorReason,
    message: string,
    options: {
      retryable?: boolean;
      httpStatus?: number;
      disconnectReason?: DisconnectReason;
      cause?: unknown;
    } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.reason = reason;
    this.retryable = options.retryable ?? DEFAULT_RETRYABLE[reason];
    this.httpStatus = options.httpStatus;
    this.disconnectReason = options.disconnectReason;
  }
}

const DEFAULT_RETRYABLE: Record<LiveKitErrorReason, boolean> = {
  unreachable: true,
  'not-allowed': false,
  'http-error': true,
  timeout: true,
  left: false,
  protocol: false,
  closed: false,
  rejected: false,
  'invalid-argument': false,
};

/** The error for an HTTP status answering the signal WebSocket upgrade. */
export function errorForUpgradeStatus(status: number, body: string): LiveKitError {
  // livekit-server writes a one-line reason in the body ("invalid token", "room not found"...);
  // v1.13 appends the token it refused ("invalid token: eyJ..."): a secret, so it is cut out.
  const detail =
    body
      .trim()
      .replace(/eyJ[\w-]*\.[\w-]*(\.[\w-]*)?/g, '<token>')
      .slice(0, 200) || `HTTP ${status}`;
  if (status === 401 || status === 403) {
    return new LiveKitError('not-allowed', `livekit-server refused the token: ${detail}`, {
      httpStatus: status,
    });
  }
  return new LiveKitError('http-error', `livekit-server answered the signal upgrade: ${detail}`, {
    httpStatus: status,
    // 4xx other than 404/429 will not change by retrying; 5xx, 404 (a v1 path on an old server,
    // handled by the caller) and 429 may.
    retryable: status >= 500 || status === 404 || status === 429,
  });
}
