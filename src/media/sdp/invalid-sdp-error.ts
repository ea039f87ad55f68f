import { ConnectorError } from '../../errors/connector-error.js';

/**
 * Why an SDP was refused. Stable identifiers: callers and tests key on these, never on messages.
 * - `not_sdp`: empty, not text, or no `v=0` line;
 * - `too_large`, `too_many_lines`, `line_too_long`, `too_many_media`, `too_many_candidates`:
 *   a limit of {@link SdpLimits} was exceeded (checked before any other work);
 * - `malformed`: a line that must be well formed (the `m=` line) is not;
 * - `unusable`: well-formed SDP that breaks a rule the call needs (no Opus, no fingerprint, no
 *   candidate in an allowed network, ...); the message says which.
 */
export type InvalidSdpReason =
  | 'not_sdp'
  | 'too_large'
  | 'too_many_lines'
  | 'line_too_long'
  | 'too_many_media'
  | 'too_many_candidates'
  | 'malformed'
  | 'unusable';

/**
 * An SDP (from Meta, an API client or a peer) that is refused. It is a `ConnectorError` with code
 * `invalid_argument`, so the API edge answers Twirp `invalid_argument` with the message, which
 * says what is wrong and what was expected.
 */
export class InvalidSdpError extends ConnectorError {
  override readonly name = 'InvalidSdpError';
  readonly reason: InvalidSdpReason;

  constructor(reason: InvalidSdpReason, message: string, options?: { cause?: unknown }) {
    super('invalid_argument', message, {}, options);
    this.reason = reason;
  }
}
