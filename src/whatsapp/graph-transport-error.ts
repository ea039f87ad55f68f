/**
 * A Graph API request that got no usable answer from Meta: timeouts, network failures, a missed
 * total deadline, or a 2xx whose body is not what Meta documents. Distinct from
 * {@link GraphApiError}, which is Meta saying no.
 */
import { ConnectorError, type TwirpCode } from '../errors/connector-error.js';

export type GraphTransportFailure =
  /** One attempt exceeded its timeout and no retry was allowed or possible. */
  | 'timeout'
  /** The connection failed (refused, reset, DNS). */
  | 'network'
  /** Meta kept answering 5xx or timing out until the attempts or total deadline ran out. */
  | 'retries_exhausted'
  /** A 2xx answer whose body is not the documented shape. */
  | 'invalid_response'
  /** The caller's AbortSignal fired. */
  | 'aborted';

const TWIRP_CODE: Record<GraphTransportFailure, TwirpCode> = {
  timeout: 'deadline_exceeded',
  network: 'unavailable',
  retries_exhausted: 'unavailable',
  invalid_response: 'internal',
  aborted: 'canceled',
};

export interface GraphTransportErrorContext {
  operation: string;
  attempts: number;
  /**
   * True when at least one attempt may have reached Meta, so the action may have been applied
   * (e.g. a timed-out `connect` may still have placed a call).
   */
  outcomeUnknown: boolean;
  /** Last HTTP status seen, if any attempt got an answer. */
  lastStatus?: number;
  cause?: unknown;
}

export class GraphTransportError extends ConnectorError {
  override readonly name = 'GraphTransportError';
  readonly failure: GraphTransportFailure;
  readonly operation: string;
  readonly attempts: number;
  readonly outcomeUnknown: boolean;
  readonly lastStatus: number | undefined;

  constructor(failure: GraphTransportFailure, detail: string, context: GraphTransportErrorContext) {
    super(
      TWIRP_CODE[failure],
      `WhatsApp Graph API ${context.operation}: ${detail} after ${context.attempts} attempt(s)`,
      { graphFailure: failure, attempts: String(context.attempts) },
      context.cause === undefined ? undefined : { cause: context.cause },
    );
    this.failure = failure;
    this.operation = context.operation;
    this.attempts = context.attempts;
    this.outcomeUnknown = context.outcomeUnknown;
    this.lastStatus = context.lastStatus;
  }
}
