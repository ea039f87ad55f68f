/**
 * The Connector API's wire error: a Twirp code, a client-facing message and string metadata. The
 * Connector API edge (`src/connector/connector-errors.ts`) builds these from the typed errors of
 * `service-error.ts` and the call layer; `src/connector/twirp-server.ts` serialises them. Modules
 * that predate the typed errors (room, media, simulator, CLI) still throw it directly; the edge
 * passes those through unchanged.
 */

/** Twirp error codes (wire protocol v7 / twirp v8). `dataloss` is deliberately absent. */
export type TwirpCode =
  | 'canceled'
  | 'unknown'
  | 'invalid_argument'
  | 'malformed'
  | 'deadline_exceeded'
  | 'not_found'
  | 'bad_route'
  | 'already_exists'
  | 'permission_denied'
  | 'unauthenticated'
  | 'resource_exhausted'
  | 'failed_precondition'
  | 'aborted'
  | 'out_of_range'
  | 'unimplemented'
  | 'internal'
  | 'unavailable';

const HTTP_STATUS: Record<TwirpCode, number> = {
  canceled: 408,
  unknown: 500,
  invalid_argument: 400,
  malformed: 400,
  deadline_exceeded: 408,
  not_found: 404,
  bad_route: 404,
  already_exists: 409,
  permission_denied: 403,
  unauthenticated: 401,
  resource_exhausted: 429,
  failed_precondition: 412,
  aborted: 409,
  out_of_range: 400,
  unimplemented: 501,
  internal: 500,
  unavailable: 503,
};

/** HTTP status that the Twirp spec assigns to a code. */
export function httpStatusForCode(code: TwirpCode): number {
  return HTTP_STATUS[code];
}

export function isTwirpCode(value: unknown): value is TwirpCode {
  return typeof value === 'string' && Object.hasOwn(HTTP_STATUS, value);
}

/** Base class: an error with a Twirp code, a user-facing message and optional string metadata. */
export class ConnectorError extends Error {
  override readonly name: string = 'ConnectorError';
  readonly code: TwirpCode;
  /** String map sent as Twirp `meta`; never contains secrets. */
  readonly meta: Record<string, string>;

  constructor(
    code: TwirpCode,
    message: string,
    meta: Record<string, string> = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.code = code;
    this.meta = meta;
  }

  get httpStatus(): number {
    return httpStatusForCode(this.code);
  }
}

/** Turn anything thrown into a ConnectorError without leaking internals to the client. */
export function toConnectorError(err: unknown): ConnectorError {
  if (err instanceof ConnectorError) return err;
  return new ConnectorError('internal', 'internal error', {}, { cause: err });
}
