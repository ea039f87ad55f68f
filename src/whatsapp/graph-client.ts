/**
 * Client for the WhatsApp Cloud API calling endpoints of Meta's Graph API:
 * `POST /{version}/{phone-number-id}/calls` (connect, pre_accept, accept, reject, terminate),
 * `GET …/call_permissions`, `POST …/messages` (call permission request) and `GET …/settings`.
 *
 * Retry policy, decided here and nowhere else: an attempt whose outcome is unknown (timeout,
 * network error, HTTP 5xx) is repeated only for requests Meta can safely see twice — reads, and
 * `pre_accept`/`accept` (same SDP for the same call), `reject` and `terminate`, whose repetition
 * at worst earns a 4xx saying the call already moved on. `connect` and message sends are never
 * repeated: a lost answer could otherwise place two calls or send two messages. Any 4xx is final.
 * Both error classes say whether Meta may have applied a failed request anyway (`outcomeUnknown`):
 * callers decide on it, e.g. a call whose accept may have been applied is ended with terminate.
 */
import type { Logger } from '../log/index.js';
import { silentLogger } from '../log/index.js';
import { ConnectorError } from '../errors/connector-error.js';
import { DEFAULT_GRAPH_URL } from '../config/config.js';
import { DEFAULT_CLOUD_API_VERSION, graphVersionPath } from './api-version.js';
import { GraphApiError, parseGraphErrorBody } from './graph-api-error.js';
import { GraphTransportError } from './graph-transport-error.js';
import { graphUserField, isBusinessScopedUserId, phoneNumberDigits } from './whatsapp-user.js';

export const DEFAULT_GRAPH_REQUEST_TIMEOUT_MS = 10_000;
export const DEFAULT_GRAPH_TOTAL_DEADLINE_MS = 25_000;
export const DEFAULT_GRAPH_MAX_ATTEMPTS = 4;
export const DEFAULT_GRAPH_INITIAL_BACKOFF_MS = 250;
export const DEFAULT_GRAPH_MAX_BACKOFF_MS = 4_000;

export type CallAction = 'connect' | 'pre_accept' | 'accept' | 'reject' | 'terminate';

export interface WhatsAppGraphClientOptions {
  /** Optional - Base URL of the Graph API (`config.whatsapp.graphUrl`). Default `https://graph.facebook.com`. */
  baseUrl?: string;
  /** Optional - Access token used when a request does not bring its own. Never logged. */
  accessToken?: string;
  /** Optional - Cloud API version ("24.0" or "v24.0") when a request names none. Default "24.0". */
  apiVersion?: string;
  /** Optional - Timeout of one HTTP attempt, in milliseconds. Default 10000. */
  requestTimeoutMs?: number;
  /** Optional - Deadline for all attempts of one request including backoff, in milliseconds. Default 25000. */
  totalDeadlineMs?: number;
  /** Optional - Maximum attempts for requests that are safe to repeat. Default 4. */
  maxAttempts?: number;
  /** Optional - Backoff before the first retry, in milliseconds; doubles per retry. Default 250. */
  initialBackoffMs?: number;
  /** Optional - Upper bound of one backoff, in milliseconds. Default 4000. */
  maxBackoffMs?: number;
  /** Optional - `fetch` implementation; tests may inject one. Default `globalThis.fetch`. */
  fetch?: typeof globalThis.fetch;
  /** Optional - Logger for retries and failures. Default silent. */
  logger?: Logger;
  /**
   * Optional - told of every request that failed after its last attempt (for `/metrics`):
   * `operation` (`calls.connect`, `calls.accept`, `calls.terminate`, …) and `code`, Meta's error code
   * when its answer carried one, else `http_<status>`, or the transport failure (`timeout`,
   * `network`, `retries_exhausted`, `invalid_response`). Requests the caller aborted are not
   * reported. Default none.
   */
  onFailure?: (operation: string, code: string) => void;
}

/** Per-request settings shared by every method. */
export interface GraphRequestOptions {
  /** Required - Numeric id of the business phone number (not the E.164 number). */
  phoneNumberId: string;
  /** Optional - Access token for this request; overrides the client's. */
  accessToken?: string;
  /** Optional - Cloud API version for this request; overrides the client's. */
  apiVersion?: string;
  /** Optional - Aborts the request (and any pending retry). */
  signal?: AbortSignal;
}

export interface ConnectCallRequest extends GraphRequestOptions {
  /**
   * Required unless `recipient` is given - The callee: a phone number (digits, `+` and separators
   * allowed) or a BSUID / parent BSUID, which is sent in `recipient` as Meta expects.
   */
  to?: string;
  /** Optional - BSUID or parent BSUID of the callee; Meta prefers `to` when both are given. */
  recipient?: string;
  /** Required - Our SDP offer (CRLF line endings). */
  sdp: string;
  /** Optional - Echoed by Meta in status and terminate webhooks; at most 512 characters. */
  bizOpaqueCallbackData?: string;
}

export interface AnswerCallRequest extends GraphRequestOptions {
  /** Required - `wacid.…` from the connect webhook. */
  callId: string;
  /** Required - Our SDP answer; must be the same string for pre_accept and accept. */
  sdp: string;
}

export interface AcceptCallRequest extends AnswerCallRequest {
  /** Optional - Echoed by Meta in the terminate webhook; at most 512 characters. */
  bizOpaqueCallbackData?: string;
}

export interface CallIdRequest extends GraphRequestOptions {
  /** Required - `wacid.…` of the call. */
  callId: string;
}

export interface ConnectCallResult {
  /** `wacid.…` Meta assigned to the new call. */
  callId: string;
}

/** One rate limit of a permission action. Time values are Unix seconds. */
export interface CallPermissionLimit {
  /** ISO 8601 duration, e.g. "PT24H", "P7D". */
  timePeriod: string;
  maxAllowed: number | undefined;
  currentUsage: number | undefined;
  /** Only when the limit is used up. */
  limitExpirationTime: number | undefined;
}

export interface CallPermissionAction {
  /** e.g. "send_call_permission_request", "start_call". */
  actionName: string;
  canPerformAction: boolean;
  limits: CallPermissionLimit[];
}

export interface CallPermissions {
  /** "no_permission" | "temporary" | "permanent" per Meta's guides (other values pass through). */
  status: string;
  /** Unix seconds; absent for permanent permission or none. */
  expirationTime: number | undefined;
  actions: CallPermissionAction[];
  /** `start_call` action's verdict, when Meta reported it. */
  canStartCall: boolean | undefined;
  /** `send_call_permission_request` action's verdict, when Meta reported it. */
  canSendPermissionRequest: boolean | undefined;
}

/**
 * Whose permission to read: `userWaId` is a phone number or a BSUID (a BSUID is sent as
 * `recipient=`, as Meta expects); `recipient` is a BSUID or parent BSUID.
 */
export type CallPermissionsRequest = GraphRequestOptions &
  ({ userWaId: string; recipient?: never } | { recipient: string; userWaId?: never });

export interface CallPermissionRequestMessage extends GraphRequestOptions {
  /**
   * Required unless `recipient` is given - The user: a phone number or a BSUID / parent BSUID
   * (sent in `recipient`).
   */
  to?: string;
  /** Optional - BSUID or parent BSUID of the user; Meta prefers `to` when both are given. */
  recipient?: string;
  /** Optional - Text shown above the permission buttons. */
  bodyText?: string;
}

export interface SentMessage {
  /** `wamid.…` of the sent message. */
  messageId: string;
  /** WhatsApp id Meta resolved `to` to, when reported (phone-number sends only). */
  waId: string | undefined;
  /** The user's BSUID, when reported (BSUID sends, and phone sends once Meta adds it). */
  userId: string | undefined;
  /** The user's parent BSUID, when reported. */
  parentUserId: string | undefined;
}

/** The calling part of the phone number settings; unknown keys are kept. */
export interface CallingSettings {
  status?: string;
  call_icon_visibility?: string;
  callback_permission_status?: string;
  srtp_key_exchange_protocol?: string;
  call_hours?: Record<string, unknown>;
  sip?: Record<string, unknown>;
  audio?: Record<string, unknown>;
  voicemail?: Record<string, unknown>;
  restrictions?: Record<string, unknown>;
  [key: string]: unknown;
}

export interface PhoneNumberSettings {
  /** Undefined when Meta returned no `calling` object. */
  calling: CallingSettings | undefined;
  /** The whole response body. */
  raw: Record<string, unknown>;
}

interface GraphCall {
  operation: string;
  method: 'GET' | 'POST';
  request: GraphRequestOptions;
  /** Path below `/{version}/{phone-number-id}`, e.g. "calls". */
  path: string;
  query?: Record<string, string>;
  body?: Record<string, unknown>;
  /** Whether an attempt with an unknown outcome may be repeated. */
  retrySafe: boolean;
}

const BIZ_OPAQUE_MAX_LENGTH = 512;

function requireText(value: unknown, field: string): string {
  if (typeof value !== 'string' || value.trim() === '') {
    throw new ConnectorError('invalid_argument', `${field} is required`);
  }
  return value;
}

function checkOpaque(value: string | undefined): void {
  if (value !== undefined && value.length > BIZ_OPAQUE_MAX_LENGTH) {
    throw new ConnectorError(
      'invalid_argument',
      `bizOpaqueCallbackData is longer than ${BIZ_OPAQUE_MAX_LENGTH} characters`,
    );
  }
}

/**
 * The `to` / `recipient` fields naming a user. A BSUID given as `to` moves to `recipient`; a
 * `recipient` must be a BSUID or parent BSUID; anything else is a clear `invalid_argument`.
 */
function userTargetFields(
  to: string | undefined,
  recipient: string | undefined,
): {
  to?: string;
  recipient?: string;
} {
  if (to === undefined && recipient === undefined) {
    throw new ConnectorError('invalid_argument', 'to or recipient is required');
  }
  const fields: { to?: string; recipient?: string } = {};
  if (to !== undefined) {
    const target = graphUserField(requireText(to, 'to'));
    if (!target) {
      throw new ConnectorError(
        'invalid_argument',
        'to must be a phone number with country code (6-15 digits) or a business-scoped user id such as US.13491208655302741918',
      );
    }
    fields[target.field] = target.value;
  }
  if (recipient !== undefined) {
    if (!isBusinessScopedUserId(requireText(recipient, 'recipient'))) {
      throw new ConnectorError(
        'invalid_argument',
        'recipient must be a business-scoped user id such as US.13491208655302741918 (phone numbers go in to)',
      );
    }
    if (fields.recipient !== undefined && fields.recipient !== recipient.trim()) {
      throw new ConnectorError('invalid_argument', 'to and recipient name two different BSUIDs');
    }
    fields.recipient = recipient.trim();
  }
  return fields;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function optionalNumber(v: unknown): number | undefined {
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  if (typeof v === 'string' && /^\d+$/.test(v)) return Number(v);
  return undefined;
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

type AttemptOutcome =
  | { kind: 'answer'; status: number; body: unknown }
  | { kind: 'timeout' }
  | { kind: 'network'; cause: unknown }
  | { kind: 'aborted'; cause: unknown };

export class WhatsAppGraphClient {
  private readonly baseUrl: string;
  private readonly accessToken: string | undefined;
  private readonly apiVersion: string;
  private readonly requestTimeoutMs: number;
  private readonly totalDeadlineMs: number;
  private readonly maxAttempts: number;
  private readonly initialBackoffMs: number;
  private readonly maxBackoffMs: number;
  private readonly fetchImpl: typeof globalThis.fetch;
  private readonly logger: Logger;
  private readonly onFailure: ((operation: string, code: string) => void) | undefined;

  constructor(options: WhatsAppGraphClientOptions = {}) {
    const baseUrl = options.baseUrl ?? DEFAULT_GRAPH_URL;
    let parsed: URL;
    try {
      parsed = new URL(baseUrl);
    } catch {
      throw new ConnectorError('invalid_argument', `Graph API base URL is not a URL: ${baseUrl}`);
    }
    if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') {
      throw new ConnectorError('invalid_argument', 'Graph API base URL must be http(s)');
    }
    this.baseUrl = baseUrl.replace(/\/+$/, '');
    this.accessToken = options.accessToken;
    // Validates the default version early so a bad config fails at start-up, not per call.
    graphVersionPath(options.apiVersion ?? DEFAULT_CLOUD_API_VERSION);
    this.apiVersion = options.apiVersion ?? DEFAULT_CLOUD_API_VERSION;
    this.requestTimeoutMs = positive(options.requestTimeoutMs, DEFAULT_GRAPH_REQUEST_TIMEOUT_MS);
    this.totalDeadlineMs = positive(options.totalDeadlineMs, DEFAULT_GRAPH_TOTAL_DEADLINE_MS);
    this.maxAttempts = Math.max(
      1,
      Math.floor(positive(options.maxAttempts, DEFAULT_GRAPH_MAX_ATTEMPTS)),
    );
    this.initialBackoffMs = positive(options.initialBackoffMs, DEFAULT_GRAPH_INITIAL_BACKOFF_MS);
    this.maxBackoffMs = positive(options.maxBackoffMs, DEFAULT_GRAPH_MAX_BACKOFF_MS);
    this.fetchImpl = options.fetch ?? globalThis.fetch;
    this.logger = options.logger ?? silentLogger;
    this.onFailure = options.onFailure;
  }

  /**
   * Business-initiated call: sends our SDP offer and returns the new call's id. Never retried
   * (a lost answer could otherwise place a second call); on a timeout the error's
   * `outcomeUnknown` says a call may exist.
   */
  async connectCall(request: ConnectCallRequest): Promise<ConnectCallResult> {
    const target = userTargetFields(request.to, request.recipient);
    requireText(request.sdp, 'sdp');
    checkOpaque(request.bizOpaqueCallbackData);
    const body: Record<string, unknown> = {
      messaging_product: 'whatsapp',
      ...target,
      action: 'connect',
      session: { sdp_type: 'offer', sdp: request.sdp },
      ...(request.bizOpaqueCallbackData !== undefined
        ? { biz_opaque_callback_data: request.bizOpaqueCallbackData }
        : {}),
    };
    const operation = 'calls.connect';
    const answer = await this.send({
      operation,
      method: 'POST',
      request,
      path: 'calls',
      body,
      retrySafe: false,
    });
    const calls = isRecord(answer.body) ? answer.body.calls : undefined;
    const first: unknown = Array.isArray(calls) ? calls[0] : undefined;
    const id = isRecord(first) ? first.id : undefined;
    if (typeof id !== 'string' || id === '') {
      throw new GraphTransportError('invalid_response', 'answer has no calls[0].id', {
        operation,
        attempts: answer.attempts,
        outcomeUnknown: true,
        lastStatus: answer.status,
      });
    }
    return { callId: id };
  }

  /** Lets media connect before the call is answered. Same SDP as the later accept. */
  async preAcceptCall(request: AnswerCallRequest): Promise<void> {
    await this.callAction('pre_accept', request, {
      session: { sdp_type: 'answer', sdp: requireText(request.sdp, 'sdp') },
    });
  }

  /** Answers a user-initiated call. Start sending media only after this resolves. */
  async acceptCall(request: AcceptCallRequest): Promise<void> {
    checkOpaque(request.bizOpaqueCallbackData);
    await this.callAction('accept', request, {
      session: { sdp_type: 'answer', sdp: requireText(request.sdp, 'sdp') },
      ...(request.bizOpaqueCallbackData !== undefined
        ? { biz_opaque_callback_data: request.bizOpaqueCallbackData }
        : {}),
    });
  }

  /** Declines a user-initiated call that was not accepted. */
  async rejectCall(request: CallIdRequest): Promise<void> {
    await this.callAction('reject', request, {});
  }

  /** Ends a call in either direction; required even after RTCP BYE so Meta bills correctly. */
  async terminateCall(request: CallIdRequest): Promise<void> {
    await this.callAction('terminate', request, {});
  }

  /** Whether the business may call the user (and ask for permission) right now. */
  async getCallPermissions(request: CallPermissionsRequest): Promise<CallPermissions> {
    let query: Record<string, string>;
    if (request.userWaId !== undefined) {
      const target = graphUserField(requireText(request.userWaId, 'userWaId'));
      if (!target) {
        throw new ConnectorError(
          'invalid_argument',
          'userWaId must be a phone number with country code (6-15 digits) or a business-scoped user id',
        );
      }
      // Meta reads a phone number from `user_wa_id` and a BSUID from `recipient`.
      query =
        target.field === 'to'
          ? { user_wa_id: phoneNumberDigits(target.value) }
          : { recipient: target.value };
    } else {
      const recipient = requireText(request.recipient, 'recipient or userWaId');
      if (!isBusinessScopedUserId(recipient)) {
        throw new ConnectorError(
          'invalid_argument',
          'recipient must be a business-scoped user id (phone numbers go in userWaId)',
        );
      }
      query = { recipient: recipient.trim() };
    }
    const operation = 'call_permissions';
    const answer = await this.send({
      operation,
      method: 'GET',
      request,
      path: 'call_permissions',
      query,
      retrySafe: true,
    });
    const body = answer.body;
    const permission = isRecord(body) ? body.permission : undefined;
    if (!isRecord(permission) || typeof permission.status !== 'string') {
      throw new GraphTransportError('invalid_response', 'answer has no permission.status', {
        operation,
        attempts: answer.attempts,
        outcomeUnknown: false,
        lastStatus: answer.status,
      });
    }
    const rawActions = isRecord(body) && Array.isArray(body.actions) ? body.actions : [];
    const actions: CallPermissionAction[] = rawActions.filter(isRecord).map((a) => ({
      actionName: typeof a.action_name === 'string' ? a.action_name : '',
      canPerformAction: a.can_perform_action === true,
      limits: (Array.isArray(a.limits) ? a.limits : []).filter(isRecord).map((l) => ({
        timePeriod: typeof l.time_period === 'string' ? l.time_period : '',
        maxAllowed: optionalNumber(l.max_allowed),
        currentUsage: optionalNumber(l.current_usage),
        limitExpirationTime: optionalNumber(l.limit_expiration_time),
      })),
    }));
    const verdict = (name: string): boolean | undefined =>
      actions.find((a) => a.actionName === name)?.canPerformAction;
    return {
      status: permission.status,
      // The guide's table calls it `expiration`, its samples `expiration_time`; accept both.
      expirationTime: optionalNumber(permission.expiration_time ?? permission.expiration),
      actions,
      canStartCall: verdict('start_call'),
      canSendPermissionRequest: verdict('send_call_permission_request'),
    };
  }

  /**
   * Sends the interactive call-permission-request message (needs an open customer-service
   * window). Never retried: a lost answer could otherwise send two requests and use up the
   * per-user limit.
   */
  async sendCallPermissionRequest(request: CallPermissionRequestMessage): Promise<SentMessage> {
    const target = userTargetFields(request.to, request.recipient);
    const operation = 'messages.call_permission_request';
    const answer = await this.send({
      operation,
      method: 'POST',
      request,
      path: 'messages',
      body: {
        messaging_product: 'whatsapp',
        recipient_type: 'individual',
        ...target,
        type: 'interactive',
        interactive: {
          type: 'call_permission_request',
          action: { name: 'call_permission_request' },
          ...(request.bodyText !== undefined ? { body: { text: request.bodyText } } : {}),
        },
      },
      retrySafe: false,
    });
    const body = isRecord(answer.body) ? answer.body : {};
    const message: unknown = Array.isArray(body.messages) ? body.messages[0] : undefined;
    const messageId = isRecord(message) ? message.id : undefined;
    if (typeof messageId !== 'string' || messageId === '') {
      throw new GraphTransportError('invalid_response', 'answer has no messages[0].id', {
        operation,
        attempts: answer.attempts,
        outcomeUnknown: true,
        lastStatus: answer.status,
      });
    }
    const contact: unknown = Array.isArray(body.contacts) ? body.contacts[0] : undefined;
    const text = (key: string): string | undefined =>
      isRecord(contact) && typeof contact[key] === 'string' && contact[key] !== ''
        ? contact[key]
        : undefined;
    return {
      messageId,
      waId: text('wa_id'),
      userId: text('user_id'),
      parentUserId: text('parent_user_id'),
    };
  }

  /** Reads the phone number's settings; `calling` holds the calling configuration. */
  async getPhoneNumberSettings(request: GraphRequestOptions): Promise<PhoneNumberSettings> {
    const answer = await this.send({
      operation: 'settings',
      method: 'GET',
      request,
      path: 'settings',
      retrySafe: true,
    });
    if (!isRecord(answer.body)) {
      throw new GraphTransportError('invalid_response', 'answer is not a JSON object', {
        operation: 'settings',
        attempts: answer.attempts,
        outcomeUnknown: false,
        lastStatus: answer.status,
      });
    }
    const calling = answer.body.calling;
    return {
      calling: isRecord(calling) ? (calling as CallingSettings) : undefined,
      raw: answer.body,
    };
  }

  private async callAction(
    action: Exclude<CallAction, 'connect'>,
    request: CallIdRequest,
    extra: Record<string, unknown>,
  ): Promise<void> {
    const callId = requireText(request.callId, 'callId');
    const operation = `calls.${action}`;
    const answer = await this.send({
      operation,
      method: 'POST',
      request,
      path: 'calls',
      body: { messaging_product: 'whatsapp', call_id: callId, action, ...extra },
      retrySafe: true,
    });
    // Meta documents `{"messaging_product":"whatsapp","success":true}` and elsewhere
    // `{"success":true}`; only `success` is relied upon.
    if (!isRecord(answer.body) || answer.body.success !== true) {
      throw new GraphTransportError('invalid_response', 'answer does not say success: true', {
        operation,
        attempts: answer.attempts,
        outcomeUnknown: true,
        lastStatus: answer.status,
      });
    }
  }

  private buildUrl(call: GraphCall): string {
    const phoneNumberId = requireText(call.request.phoneNumberId, 'phoneNumberId');
    const version = graphVersionPath(call.request.apiVersion ?? this.apiVersion);
    const url = new URL(
      `${this.baseUrl}/${version}/${encodeURIComponent(phoneNumberId)}/${call.path}`,
    );
    for (const [k, v] of Object.entries(call.query ?? {})) url.searchParams.set(k, v);
    return url.toString();
  }

  /** Runs the request with the retry policy; resolves with a 2xx answer or throws. */
  private async send(
    call: GraphCall,
  ): Promise<{ status: number; body: unknown; attempts: number }> {
    try {
      return await this.sendWithRetries(call);
    } catch (err) {
      const code = failureCode(err);
      if (code !== undefined && this.onFailure) {
        try {
          this.onFailure(call.operation, code);
        } catch {
          // An observer's fault must not change the request's outcome.
        }
      }
      throw err;
    }
  }

  private async sendWithRetries(
    call: GraphCall,
  ): Promise<{ status: number; body: unknown; attempts: number }> {
    const url = this.buildUrl(call);
    const token = call.request.accessToken ?? this.accessToken;
    if (token === undefined || token === '') {
      throw new ConnectorError('invalid_argument', 'WhatsApp access token is required');
    }
    const headers: Record<string, string> = {
      Authorization: `Bearer ${token}`,
      Accept: 'application/json',
    };
    const payload = call.body === undefined ? undefined : JSON.stringify(call.body);
    if (payload !== undefined) headers['Content-Type'] = 'application/json';

    const deadline = Date.now() + this.totalDeadlineMs;
    const maxAttempts = call.retrySafe ? this.maxAttempts : 1;
    let uncertain = false;
    let lastStatus: number | undefined;
    let lastCause: unknown;
    let lastFailure: 'timeout' | 'network' | 'server_error' = 'timeout';
    let attempt = 0;
    while (attempt < maxAttempts) {
      attempt += 1;
      const remaining = deadline - Date.now();
      const outcome = await this.attempt(
        url,
        call.method,
        headers,
        payload,
        Math.min(this.requestTimeoutMs, Math.max(1, remaining)),
        call.request.signal,
      );
      if (outcome.kind === 'aborted') {
        throw new GraphTransportError('aborted', 'aborted by caller', {
          operation: call.operation,
          attempts: attempt,
          outcomeUnknown: true,
          ...(lastStatus !== undefined ? { lastStatus } : {}),
          cause: outcome.cause,
        });
      }
      if (outcome.kind === 'answer') {
        lastStatus = outcome.status;
        if (outcome.status >= 200 && outcome.status < 300) {
          return { status: outcome.status, body: outcome.body, attempts: attempt };
        }
        if (outcome.status < 500) {
          throw new GraphApiError(parseGraphErrorBody(outcome.body), {
            status: outcome.status,
            operation: call.operation,
            attempts: attempt,
            afterUncertainAttempt: uncertain,
          });
        }
        lastFailure = 'server_error';
        lastCause = new GraphApiError(parseGraphErrorBody(outcome.body), {
          status: outcome.status,
          operation: call.operation,
          attempts: attempt,
          afterUncertainAttempt: uncertain,
        });
      } else {
        lastFailure = outcome.kind;
        lastCause = outcome.kind === 'network' ? outcome.cause : undefined;
      }
      uncertain = true;

      if (!call.retrySafe) break;
      if (attempt >= maxAttempts) break;
      const backoff = this.backoffMs(attempt);
      // No point sleeping if the next attempt could not even start before the deadline.
      if (Date.now() + backoff >= deadline) break;
      this.logger.warn(
        {
          operation: call.operation,
          attempt,
          status: outcome.kind === 'answer' ? outcome.status : undefined,
          failure: outcome.kind,
          fbtraceId: lastCause instanceof GraphApiError ? lastCause.fbtraceId : undefined,
          backoffMs: backoff,
        },
        'Graph API attempt failed, retrying',
      );
      try {
        await sleep(backoff, call.request.signal);
      } catch (cause) {
        throw new GraphTransportError('aborted', 'aborted by caller', {
          operation: call.operation,
          attempts: attempt,
          outcomeUnknown: true,
          ...(lastStatus !== undefined ? { lastStatus } : {}),
          cause,
        });
      }
    }

    // Out of attempts or time. A single unsafe attempt reports what happened to it; a 5xx keeps
    // Meta's envelope as the error itself so callers still see code/fbtrace_id.
    if (!call.retrySafe) {
      if (lastCause instanceof GraphApiError) throw lastCause;
      const failure = lastFailure === 'network' ? 'network' : 'timeout';
      throw new GraphTransportError(
        failure,
        failure === 'timeout' ? 'no answer within the timeout' : 'connection failed',
        {
          operation: call.operation,
          attempts: attempt,
          outcomeUnknown: true,
          cause: lastCause,
        },
      );
    }
    throw new GraphTransportError(
      'retries_exhausted',
      lastFailure === 'server_error'
        ? `Meta kept failing (last HTTP ${lastStatus ?? '?'})`
        : `no answer from Meta (last attempt: ${lastFailure})`,
      {
        operation: call.operation,
        attempts: attempt,
        outcomeUnknown: true,
        ...(lastStatus !== undefined ? { lastStatus } : {}),
        cause: lastCause,
      },
    );
  }

  private backoffMs(attempt: number): number {
    const ceiling = Math.min(this.maxBackoffMs, this.initialBackoffMs * 2 ** (attempt - 1));
    // Half fixed, half random: spreads retries of many calls without ever waiting ~0.
    return Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
  }

  private async attempt(
    url: string,
    method: 'GET' | 'POST',
    headers: Record<string, string>,
    payload: string | undefined,
    timeoutMs: number,
    callerSignal: AbortSignal | undefined,
  ): Promise<AttemptOutcome> {
    if (callerSignal?.aborted) return { kind: 'aborted', cause: callerSignal.reason };
    const timeout = AbortSignal.timeout(timeoutMs);
    const signal = callerSignal ? AbortSignal.any([timeout, callerSignal]) : timeout;
    try {
      const response = await this.fetchImpl(url, {
        method,
        headers,
        ...(payload !== undefined ? { body: payload } : {}),
        signal,
      });
      const bodyText = await response.text();
      let body: unknown;
      try {
        body = bodyText === '' ? undefined : JSON.parse(bodyText);
      } catch {
        body = undefined;
      }
      return { kind: 'answer', status: response.status, body };
    } catch (cause) {
      if (callerSignal?.aborted) return { kind: 'aborted', cause: callerSignal.reason };
      if (timeout.aborted) return { kind: 'timeout' };
      return { kind: 'network', cause };
    }
  }
}

function positive(value: number | undefined, fallback: number): number {
  return typeof value === 'number' && Number.isFinite(value) && value > 0 ? value : fallback;
}

/** The code a failed request is counted under; undefined for the caller's own abort. */
function failureCode(err: unknown): string | undefined {
  if (err instanceof GraphApiError) {
    return err.graphCode !== undefined ? String(err.graphCode) : `http_${err.graphStatus}`;
  }
  if (err instanceof GraphTransportError) {
    return err.failure === 'aborted' ? undefined : err.failure;
  }
  return undefined;
}
