/**
 * The typed errors of the service's inside. They say what went wrong in the service's own terms
 * (a call that is not here, no capacity, an invalid SDP) and carry no wire codes: each API edge
 * maps them to its protocol once (the Connector API in `src/connector/connector-errors.ts`, the
 * cluster's internal endpoint in `src/cluster/`). Code checks errors by class, never by message.
 */

/** Base of the typed errors. */
export abstract class ServiceError extends Error {
  override readonly name: string = 'ServiceError';
  /**
   * True when the request was refused before it had any effect, so sending it again — later, or to
   * another instance — cannot do anything twice (e.g. no capacity here). False when a retry could
   * repeat an effect (a call placed at Meta) or cannot succeed (bad input).
   */
  abstract readonly retryable: boolean;

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** A value a caller supplied is not acceptable. The message names the field and the rule. */
export class InvalidArgumentError extends ServiceError {
  override readonly name = 'InvalidArgumentError';
  readonly retryable = false;

  constructor(
    message: string,
    /** The parameter at fault, e.g. `to`, when one can be named. */
    readonly field?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
