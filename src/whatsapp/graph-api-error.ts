/**
 * A failure answered by Meta's Graph API with its error envelope
 * (`{"error":{"message","type","code","error_subcode","error_data":{"details"},"fbtrace_id",…}}`).
 * Meta's fields are kept verbatim in {@link GraphApiError.graph}; the Twirp code is derived from
 * Meta's `code` first (stable, documented) and the HTTP status second, never from `message`.
 */
import { ConnectorError, type TwirpCode } from '../errors/connector-error.js';

/** Meta's `error` object as sent. Only `code` and `message` are present on every error. */
export interface GraphErrorBody {
  message?: string;
  type?: string;
  code?: number;
  error_subcode?: number;
  error_data?: {
    messaging_product?: string;
    details?: string;
  };
  is_transient?: boolean;
  error_user_title?: string;
  error_user_msg?: string;
  fbtrace_id?: string;
}

/** Calling and Cloud API codes with a meaning more specific than their HTTP status. */
const TWIRP_CODE_BY_GRAPH_CODE: Record<number, TwirpCode> = {
  0: 'unauthenticated',
  190: 'unauthenticated',
  10: 'permission_denied',
  100: 'invalid_argument',
  131008: 'invalid_argument',
  131009: 'invalid_argument',
  4: 'resource_exhausted',
  613: 'resource_exhausted',
  80007: 'resource_exhausted',
  130429: 'resource_exhausted',
  138002: 'resource_exhausted',
  138005: 'resource_exhausted',
  138009: 'resource_exhausted',
  138012: 'resource_exhausted',
  // Calling not enabled on the number / BIC not available in the country / temporarily disabled.
  138000: 'failed_precondition',
  138013: 'failed_precondition',
  138014: 'failed_precondition',
  138018: 'failed_precondition',
  131055: 'failed_precondition',
  // Receiver is not a WhatsApp user or cannot take calls.
  138001: 'failed_precondition',
  // No approved call permission for a business-initiated call.
  138006: 'permission_denied',
  138003: 'already_exists',
  138017: 'already_exists',
  138004: 'unavailable',
  138007: 'deadline_exceeded',
};

function twirpCodeFor(status: number, graphCode: number | undefined): TwirpCode {
  if (graphCode !== undefined) {
    const byCode = TWIRP_CODE_BY_GRAPH_CODE[graphCode];
    if (byCode) return byCode;
    if (graphCode >= 200 && graphCode <= 299) return 'permission_denied';
  }
  if (status === 401) return 'unauthenticated';
  if (status === 403) return 'permission_denied';
  if (status === 404) return 'not_found';
  if (status === 429) return 'resource_exhausted';
  if (status >= 500) return 'unavailable';
  return 'failed_precondition';
}

export interface GraphApiErrorContext {
  /** HTTP status Meta answered with. */
  status: number;
  /** What was attempted, e.g. "calls.accept" or "call_permissions"; used in the message. */
  operation: string;
  /** Attempts made, including the one that produced this error. */
  attempts: number;
  /**
   * True when an earlier attempt of this request ended without a known outcome (timeout, network
   * error, 5xx) before this error was answered, so Meta may already have applied the request: an
   * "already terminated" answer to a retried terminate, for example, is then not a real failure.
   */
  afterUncertainAttempt: boolean;
}

export class GraphApiError extends ConnectorError {
  override readonly name = 'GraphApiError';
  /** Meta's error object, verbatim (missing fields stay undefined). */
  readonly graph: GraphErrorBody;
  /** HTTP status of Meta's answer (not {@link ConnectorError.httpStatus}, which is ours). */
  readonly graphStatus: number;
  readonly operation: string;
  readonly attempts: number;
  readonly afterUncertainAttempt: boolean;

  constructor(graph: GraphErrorBody, context: GraphApiErrorContext) {
    const details = graph.error_data?.details;
    const summary = [
      `WhatsApp Graph API ${context.operation} failed`,
      `(HTTP ${context.status}${graph.code !== undefined ? `, code ${graph.code}` : ''})`,
    ].join(' ');
    const text = [graph.message, details].filter((s) => typeof s === 'string' && s !== '');
    super(
      twirpCodeFor(context.status, graph.code),
      text.length > 0 ? `${summary}: ${text.join(' - ')}` : summary,
      {
        graphStatus: String(context.status),
        ...(graph.code !== undefined ? { graphCode: String(graph.code) } : {}),
        ...(graph.error_subcode !== undefined
          ? { graphErrorSubcode: String(graph.error_subcode) }
          : {}),
        ...(graph.fbtrace_id !== undefined ? { fbtraceId: graph.fbtrace_id } : {}),
      },
    );
    this.graph = graph;
    this.graphStatus = context.status;
    this.operation = context.operation;
    this.attempts = context.attempts;
    this.afterUncertainAttempt = context.afterUncertainAttempt;
  }

  /**
   * Whether Meta may have applied the request despite this error: its own answer was a 5xx, or
   * an earlier attempt's outcome was unknown. Same meaning as `GraphTransportError.outcomeUnknown`.
   */
  get outcomeUnknown(): boolean {
    return this.graphStatus >= 500 || this.afterUncertainAttempt;
  }

  /** Meta's numeric error code (e.g. 100, 138006); undefined when the body had no envelope. */
  get graphCode(): number | undefined {
    return this.graph.code;
  }

  get errorSubcode(): number | undefined {
    return this.graph.error_subcode;
  }

  get graphMessage(): string | undefined {
    return this.graph.message;
  }

  /** Meta's `type`, e.g. "OAuthException". */
  get graphType(): string | undefined {
    return this.graph.type;
  }

  get fbtraceId(): string | undefined {
    return this.graph.fbtrace_id;
  }

  /** `error_data.details`: where Meta explains SDP validation failures. */
  get details(): string | undefined {
    return this.graph.error_data?.details;
  }
}

/**
 * Extracts Meta's error object from a response body; tolerant of missing or mistyped fields (they
 * are dropped, never trusted). Returns an empty object when the body has no envelope at all, e.g.
 * an HTML page from a proxy.
 */
export function parseGraphErrorBody(body: unknown): GraphErrorBody {
  if (typeof body !== 'object' || body === null) return {};
  const error = (body as { error?: unknown }).error;
  if (typeof error !== 'object' || error === null) return {};
  const e = error as Record<string, unknown>;
  const out: GraphErrorBody = {};
  const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
  const int = (v: unknown): number | undefined =>
    typeof v === 'number' && Number.isInteger(v)
      ? v
      : typeof v === 'string' && /^\d+$/.test(v)
        ? Number(v)
        : undefined;
  const message = str(e.message);
  if (message !== undefined) out.message = message;
  const type = str(e.type);
  if (type !== undefined) out.type = type;
  const code = int(e.code);
  if (code !== undefined) out.code = code;
  const subcode = int(e.error_subcode);
  if (subcode !== undefined) out.error_subcode = subcode;
  if (typeof e.error_data === 'object' && e.error_data !== null) {
    const d = e.error_data as Record<string, unknown>;
    out.error_data = {};
    const product = str(d.messaging_product);
    if (product !== undefined) out.error_data.messaging_product = product;
    const details = str(d.details);
    if (details !== undefined) out.error_data.details = details;
  }
  if (typeof e.is_transient === 'boolean') out.is_transient = e.is_transient;
  const title = str(e.error_user_title);
  if (title !== undefined) out.error_user_title = title;
  const userMsg = str(e.error_user_msg);
  if (userMsg !== undefined) out.error_user_msg = userMsg;
  const trace = str(e.fbtrace_id);
  if (trace !== undefined) out.fbtrace_id = trace;
  return out;
}
