/**
 * Turns a WhatsApp Business Account webhook POST body into typed events. Meta's payloads drift
 * (BSUID and username fields, legacy duplicates, error objects without `href`/`error_data`,
 * `contacts` absent on outbound calls), so parsing is tolerant: unknown fields are ignored, a
 * malformed item becomes a problem (with its JSON path) and never an exception, and every change
 * that is not a call event is still surfaced as an {@link OtherWebhookEvent}.
 *
 * Meta delivers at least once and in no guaranteed order (a terminate can precede its connect,
 * an ACCEPTED status its connect). Every event therefore carries its call id, kind, Meta's
 * timestamp and a {@link WebhookEventBase.dedupeKey} that is identical for redeliveries of the
 * same fact, so consumers can drop duplicates and order by phase.
 */
import { createHash } from 'node:crypto';
import type { CallDirection } from './webhook-payloads.js';
import type { WhatsAppUser } from './whatsapp-user.js';

export type WebhookEventKind =
  'call_connect' | 'call_terminate' | 'call_status' | 'call_permission_reply' | 'other';

export interface WebhookEventBase {
  kind: WebhookEventKind;
  /**
   * Same string for every delivery of the same fact: `<kind>:<call or message id>[:<status>]`, or
   * for other events a hash of the change. Use it to drop redeliveries.
   */
  dedupeKey: string;
  /** `entry[].changes[].field`, e.g. `calls`, `messages`. */
  field: string;
  /** WhatsApp Business Account id (`entry[].id`). */
  wabaId: string | undefined;
  /** Business phone number id (`value.metadata.phone_number_id`). */
  phoneNumberId: string | undefined;
  /** Business number, digits (`value.metadata.display_phone_number`). */
  displayPhoneNumber: string | undefined;
  /** Meta's event time, Unix seconds; undefined when absent or unparseable. */
  timestamp: number | undefined;
}

/** The WhatsApp user of a call as described by `contacts[]`. */
export interface WebhookContactInfo {
  name: string | undefined;
  username: string | undefined;
  waId: string | undefined;
  /** Business-scoped user id. */
  userId: string | undefined;
  /** Parent BSUID (linked business portfolios). */
  parentUserId: string | undefined;
}

interface CallEventCommon extends WebhookEventBase {
  /** `wacid.…` */
  callId: string;
  /** From the payload, or inferred from the SDP type on connect when Meta omitted it. */
  direction: CallDirection | undefined;
  /** Caller number (user for user-initiated, business for business-initiated). */
  from: string | undefined;
  /** Callee number. */
  to: string | undefined;
  /** The WhatsApp user's `contacts[]` entry, if Meta sent one. */
  contact: WebhookContactInfo | undefined;
  /**
   * The WhatsApp user of the call (the caller of a user-initiated call, the callee of a
   * business-initiated one), merged from the call's `from`/`to` fields and `contacts[]`. A user who
   * adopted a username may come with a BSUID and no phone number.
   */
  user: WhatsAppUser;
  bizOpaqueCallbackData: string | undefined;
}

export interface CallConnectEvent extends CallEventCommon {
  kind: 'call_connect';
  /** Meta's offer (user-initiated) or answer (business-initiated). */
  session: { sdpType: 'offer' | 'answer'; sdp: string };
  /** From a `wa.me/call` deep link with `biz_payload`. */
  deeplinkPayload: string | undefined;
  /** From a call-button message `payload`. */
  ctaPayload: string | undefined;
}

/** Error object Meta attaches to failed calls; only `code` is reliably present. */
export interface CallErrorInfo {
  code: number | undefined;
  title: string | undefined;
  message: string | undefined;
  details: string | undefined;
  href: string | undefined;
}

export interface CallTerminateEvent extends CallEventCommon {
  kind: 'call_terminate';
  /** `COMPLETED` or `FAILED` (upper-cased; other values pass through). */
  status: string | undefined;
  /** Unix seconds; only when the call was picked up. */
  startTime: number | undefined;
  /** Unix seconds; only when the call was picked up. */
  endTime: number | undefined;
  /** Seconds; only when the call was picked up. */
  durationSeconds: number | undefined;
  /** Errors on the call object, or else on the change value. */
  errors: CallErrorInfo[];
}

export type CallStatus = 'RINGING' | 'ACCEPTED' | 'REJECTED';

export interface CallStatusEvent extends WebhookEventBase {
  kind: 'call_status';
  callId: string;
  status: CallStatus;
  /** The user's number. */
  recipientId: string | undefined;
  recipientUserId: string | undefined;
  /** The called user: `recipient_id`, `recipient_user_id`, `recipient_parent_user_id`. */
  user: WhatsAppUser;
  bizOpaqueCallbackData: string | undefined;
}

export interface CallPermissionReplyEvent extends WebhookEventBase {
  kind: 'call_permission_reply';
  /** `wamid.…` of the reply message. */
  messageId: string;
  /** The user's number. */
  from: string | undefined;
  fromUserId: string | undefined;
  /** The user who answered: `from`, `from_user_id`, `from_parent_user_id` and `contacts[]`. */
  user: WhatsAppUser;
  response: 'accept' | 'reject';
  isPermanent: boolean;
  /** Unix seconds; temporary accepts only. */
  expirationTimestamp: number | undefined;
  /** `user_action`, `automatic`, or whatever Meta sends. */
  responseSource: string | undefined;
  /** `context.id`: the permission request's `wamid.` or, for callback permission, a `wacid.`. */
  contextId: string | undefined;
  /** `context.id` when it is a call id (automatic permission after a user-initiated call). */
  callId: string | undefined;
}

export interface OtherWebhookEvent extends WebhookEventBase {
  kind: 'other';
  /** Why this was not a call event, e.g. `field "messages"`, `call event "call_created"`. */
  reason: string;
  /** The change's `value`, untouched. */
  value: unknown;
}

export type WhatsAppWebhookEvent =
  | CallConnectEvent
  | CallTerminateEvent
  | CallStatusEvent
  | CallPermissionReplyEvent
  | OtherWebhookEvent;

export interface WebhookParseProblem {
  /** JSON path of the offending part, e.g. `entry[0].changes[1].value.calls[0].session`. */
  path: string;
  message: string;
}

export interface WebhookParseResult {
  events: WhatsAppWebhookEvent[];
  problems: WebhookParseProblem[];
}

type Json = Record<string, unknown>;

function isRecord(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

function unixSeconds(v: unknown): number | undefined {
  if (typeof v === 'number' && Number.isFinite(v) && v >= 0) return Math.floor(v);
  if (typeof v === 'string' && /^\d+$/.test(v.trim())) return Number(v.trim());
  return undefined;
}

function array(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}

function stableHash(value: unknown): string {
  let text: string;
  try {
    text = JSON.stringify(value) ?? 'undefined';
  } catch {
    text = String(value);
  }
  return createHash('sha256').update(text).digest('hex').slice(0, 32);
}

/**
 * Parses the raw bytes of a webhook POST. Invalid JSON gives no events and one problem.
 * Signature checking is separate (see `webhook-signature.ts`) and must happen first.
 */
export function parseWebhookRawBody(raw: Buffer | string): WebhookParseResult {
  let body: unknown;
  try {
    body = JSON.parse(typeof raw === 'string' ? raw : raw.toString('utf8'));
  } catch {
    return { events: [], problems: [{ path: '$', message: 'body is not valid JSON' }] };
  }
  return parseWebhookBody(body);
}

/** Parses an already JSON-decoded webhook body. Never throws. */
export function parseWebhookBody(body: unknown): WebhookParseResult {
  const events: WhatsAppWebhookEvent[] = [];
  const problems: WebhookParseProblem[] = [];
  if (!isRecord(body)) {
    return { events, problems: [{ path: '$', message: 'body is not a JSON object' }] };
  }
  if (body.object !== 'whatsapp_business_account') {
    problems.push({
      path: '$.object',
      message: `object is ${JSON.stringify(body.object) ?? 'missing'}, not "whatsapp_business_account"`,
    });
    return { events, problems };
  }
  if (!Array.isArray(body.entry)) {
    problems.push({ path: '$.entry', message: 'entry is not an array' });
    return { events, problems };
  }
  body.entry.forEach((entry, e) => {
    const entryPath = `entry[${e}]`;
    if (!isRecord(entry)) {
      problems.push({ path: entryPath, message: 'entry is not an object' });
      return;
    }
    if (!Array.isArray(entry.changes)) {
      problems.push({ path: `${entryPath}.changes`, message: 'changes is not an array' });
      return;
    }
    const wabaId = str(entry.id);
    entry.changes.forEach((change, c) => {
      const path = `${entryPath}.changes[${c}]`;
      try {
        parseChange(change, path, wabaId, events, problems);
      } catch (err) {
        // Defensive: the parsers below do not throw, but one bad change must never lose the others.
        problems.push({ path, message: `unexpected parse failure: ${String(err)}` });
      }
    });
  });
  return { events, problems };
}

interface ChangeContext {
  field: string;
  wabaId: string | undefined;
  phoneNumberId: string | undefined;
  displayPhoneNumber: string | undefined;
  contacts: WebhookContactInfo[];
  valueErrors: CallErrorInfo[];
}

function parseChange(
  change: unknown,
  path: string,
  wabaId: string | undefined,
  events: WhatsAppWebhookEvent[],
  problems: WebhookParseProblem[],
): void {
  if (!isRecord(change)) {
    problems.push({ path, message: 'change is not an object' });
    return;
  }
  const field = str(change.field);
  if (field === undefined) {
    problems.push({ path: `${path}.field`, message: 'field is missing' });
    return;
  }
  const value = change.value;
  const v = isRecord(value) ? value : {};
  if (!isRecord(value)) problems.push({ path: `${path}.value`, message: 'value is not an object' });
  const metadata = isRecord(v.metadata) ? v.metadata : {};
  const ctx: ChangeContext = {
    field,
    wabaId,
    phoneNumberId: str(metadata.phone_number_id),
    displayPhoneNumber: str(metadata.display_phone_number),
    contacts: array(v.contacts).filter(isRecord).map(parseContact),
    valueErrors: array(v.errors).filter(isRecord).map(parseError),
  };
  const base = (timestamp: number | undefined): Omit<WebhookEventBase, 'kind' | 'dedupeKey'> => ({
    field,
    wabaId: ctx.wabaId,
    phoneNumberId: ctx.phoneNumberId,
    displayPhoneNumber: ctx.displayPhoneNumber,
    timestamp,
  });
  const other = (reason: string, otherValue: unknown, timestamp?: number): OtherWebhookEvent => ({
    kind: 'other',
    dedupeKey: `other:${field}:${stableHash(otherValue)}`,
    ...base(timestamp),
    reason,
    value: otherValue,
  });

  if (field === 'calls') {
    let handled = 0;
    array(v.calls).forEach((call, i) => {
      const event = parseCall(call, `${path}.value.calls[${i}]`, ctx, base, problems);
      if (event) {
        events.push(event);
        handled++;
      } else if (isRecord(call)) {
        events.push(
          other(
            `call event ${JSON.stringify(call.event) ?? 'without event'}`,
            call,
            unixSeconds(call.timestamp),
          ),
        );
        handled++;
      }
    });
    array(v.statuses).forEach((status, i) => {
      const event = parseCallStatus(status, `${path}.value.statuses[${i}]`, ctx, base, problems);
      if (event) events.push(event);
      else if (isRecord(status)) {
        events.push(
          other('status that is not a call status', status, unixSeconds(status.timestamp)),
        );
      }
      handled++;
    });
    if (handled === 0) events.push(other('calls change without calls or statuses', value));
    return;
  }

  if (field === 'messages') {
    const messages = array(v.messages);
    const rest: unknown[] = [];
    messages.forEach((message, i) => {
      const event = parsePermissionReply(
        message,
        `${path}.value.messages[${i}]`,
        ctx,
        base,
        problems,
      );
      if (event) events.push(event);
      else rest.push(message);
    });
    // Anything else in the change (other messages, message statuses, errors) is passed on whole,
    // once, so consumers that forward or log it see the change as Meta sent it.
    const hasOther = rest.length > 0 || v.statuses !== undefined || v.errors !== undefined;
    if (hasOther || messages.length === 0) events.push(other('field "messages"', value));
    return;
  }

  events.push(other(`field "${field}"`, value));
}

function parseContact(c: Json): WebhookContactInfo {
  const profile = isRecord(c.profile) ? c.profile : {};
  return {
    name: str(profile.name),
    username: str(profile.username),
    waId: str(c.wa_id),
    userId: str(c.user_id),
    parentUserId: str(c.parent_user_id),
  };
}

/**
 * One user from the fields of a call, status or message (`from`/`from_user_id`/…) completed by
 * the matching `contacts[]` entry. Only fields Meta sent are set.
 */
function whatsAppUser(
  fields: { phoneNumber?: unknown; userId?: unknown; parentUserId?: unknown },
  contact: WebhookContactInfo | undefined,
  businessNumber?: string,
): WhatsAppUser {
  const user: WhatsAppUser = {};
  // Meta's reference business-initiated samples swap `from` and `to`: a "user" number equal to
  // the business's own is the business, so the contact's `wa_id` names the user instead.
  const fieldNumber = str(fields.phoneNumber);
  const phoneNumber =
    (fieldNumber !== undefined && fieldNumber !== businessNumber ? fieldNumber : undefined) ??
    contact?.waId;
  const userId = str(fields.userId) ?? contact?.userId;
  const parentUserId = str(fields.parentUserId) ?? contact?.parentUserId;
  if (phoneNumber !== undefined) user.phoneNumber = phoneNumber;
  if (userId !== undefined) user.userId = userId;
  if (parentUserId !== undefined) user.parentUserId = parentUserId;
  if (contact?.username !== undefined) user.username = contact.username;
  return user;
}

function parseError(e: Json): CallErrorInfo {
  const data = isRecord(e.error_data) ? e.error_data : {};
  const code =
    typeof e.code === 'number' && Number.isInteger(e.code)
      ? e.code
      : typeof e.code === 'string' && /^\d+$/.test(e.code)
        ? Number(e.code)
        : undefined;
  return {
    code,
    title: str(e.title),
    message: str(e.message),
    details: str(data.details),
    href: str(e.href),
  };
}

function parseDirection(v: unknown): CallDirection | undefined {
  return v === 'USER_INITIATED' || v === 'BUSINESS_INITIATED' ? v : undefined;
}

/**
 * The contact describing the WhatsApp user: matched by number or by BSUID, else the only/first
 * one (a username-only user's contact has no `wa_id`).
 */
function contactFor(
  ctx: ChangeContext,
  userNumber: string | undefined,
  userId?: string,
): WebhookContactInfo | undefined {
  if (userNumber !== undefined) {
    const match = ctx.contacts.find((c) => c.waId === userNumber);
    if (match) return match;
  }
  if (userId !== undefined) {
    const match = ctx.contacts.find((c) => c.userId === userId);
    if (match) return match;
  }
  return ctx.contacts[0];
}

/** The user's side of a call's `from`/`to` fields. */
function callUserFields(
  call: Json,
  direction: CallDirection | undefined,
): { phoneNumber?: unknown; userId?: unknown; parentUserId?: unknown } {
  if (direction === 'USER_INITIATED') {
    return {
      phoneNumber: call.from,
      userId: call.from_user_id,
      parentUserId: call.from_parent_user_id,
    };
  }
  if (direction === 'BUSINESS_INITIATED') {
    return { phoneNumber: call.to, userId: call.to_user_id, parentUserId: call.to_parent_user_id };
  }
  // No direction (some terminates): the side that carries a BSUID is the user's.
  if (str(call.from_user_id) !== undefined) {
    return { userId: call.from_user_id, parentUserId: call.from_parent_user_id };
  }
  if (str(call.to_user_id) !== undefined) {
    return { userId: call.to_user_id, parentUserId: call.to_parent_user_id };
  }
  return {};
}

/** Reads `session`, falling back to the legacy `connection.webrtc.sdp` JSON string. */
function parseSession(
  call: Json,
  path: string,
  problems: WebhookParseProblem[],
): { sdpType: 'offer' | 'answer'; sdp: string } | undefined {
  const session = call.session;
  if (isRecord(session)) {
    const sdpType = session.sdp_type;
    const sdp = str(session.sdp);
    if ((sdpType === 'offer' || sdpType === 'answer') && sdp !== undefined) return { sdpType, sdp };
    problems.push({
      path: `${path}.session`,
      message: 'session needs sdp_type "offer"|"answer" and a non-empty sdp',
    });
  }
  const connection = isRecord(call.connection) ? call.connection : {};
  const webrtc = isRecord(connection.webrtc) ? connection.webrtc : {};
  const legacy = str(webrtc.sdp);
  if (legacy !== undefined) {
    try {
      const parsed: unknown = JSON.parse(legacy);
      if (isRecord(parsed) && (parsed.type === 'offer' || parsed.type === 'answer')) {
        const sdp = str(parsed.sdp);
        if (sdp !== undefined) return { sdpType: parsed.type, sdp };
      }
    } catch {
      // fall through to the problem below
    }
    problems.push({
      path: `${path}.connection.webrtc.sdp`,
      message: 'legacy SDP is not a JSON {sdp, type} string',
    });
  }
  return undefined;
}

function parseCall(
  call: unknown,
  path: string,
  ctx: ChangeContext,
  base: (timestamp: number | undefined) => Omit<WebhookEventBase, 'kind' | 'dedupeKey'>,
  problems: WebhookParseProblem[],
): CallConnectEvent | CallTerminateEvent | undefined {
  if (!isRecord(call)) {
    problems.push({ path, message: 'call is not an object' });
    return undefined;
  }
  const event = call.event;
  if (event !== 'connect' && event !== 'terminate') return undefined;
  const callId = str(call.id);
  if (callId === undefined) {
    problems.push({ path: `${path}.id`, message: `${event} call without id` });
    return undefined;
  }
  const timestamp = unixSeconds(call.timestamp);
  if (timestamp === undefined) {
    problems.push({ path: `${path}.timestamp`, message: 'timestamp missing or not Unix seconds' });
  }
  const from = str(call.from);
  const to = str(call.to);
  let direction = parseDirection(call.direction);
  const common = {
    ...base(timestamp),
    callId,
    from,
    to,
    bizOpaqueCallbackData: str(call.biz_opaque_callback_data),
  };

  if (event === 'connect') {
    const session = parseSession(call, path, problems);
    if (!session) {
      problems.push({ path, message: 'connect call without a usable SDP' });
      return undefined;
    }
    // Meta's 2025 samples omit direction on some connects; the SDP type says it unambiguously.
    direction ??= session.sdpType === 'offer' ? 'USER_INITIATED' : 'BUSINESS_INITIATED';
    const fields = callUserFields(call, direction);
    const contact = contactFor(ctx, str(fields.phoneNumber), str(fields.userId));
    return {
      kind: 'call_connect',
      dedupeKey: `call_connect:${callId}`,
      ...common,
      direction,
      contact,
      user: whatsAppUser(fields, contact, ctx.displayPhoneNumber),
      session,
      deeplinkPayload: str(call.deeplink_payload),
      ctaPayload: str(call.cta_payload),
    };
  }

  const callErrors = array(call.errors).filter(isRecord).map(parseError);
  const duration = call.duration;
  const durationSeconds =
    typeof duration === 'number' && Number.isFinite(duration) && duration >= 0
      ? duration
      : unixSeconds(duration);
  const fields = callUserFields(call, direction);
  const contact = contactFor(ctx, str(fields.phoneNumber), str(fields.userId));
  const status = str(call.status)?.toUpperCase();
  return {
    kind: 'call_terminate',
    dedupeKey: `call_terminate:${callId}`,
    ...common,
    direction,
    contact,
    user: whatsAppUser(fields, contact, ctx.displayPhoneNumber),
    status,
    startTime: unixSeconds(call.start_time),
    endTime: unixSeconds(call.end_time),
    durationSeconds,
    errors: callErrors.length > 0 ? callErrors : ctx.valueErrors,
  };
}

function parseCallStatus(
  status: unknown,
  path: string,
  ctx: ChangeContext,
  base: (timestamp: number | undefined) => Omit<WebhookEventBase, 'kind' | 'dedupeKey'>,
  problems: WebhookParseProblem[],
): CallStatusEvent | undefined {
  if (!isRecord(status)) {
    problems.push({ path, message: 'status is not an object' });
    return undefined;
  }
  if (status.type !== 'call') return undefined;
  const callId = str(status.id);
  const value = str(status.status)?.toUpperCase();
  if (callId === undefined) {
    problems.push({ path: `${path}.id`, message: 'call status without id' });
    return undefined;
  }
  if (value !== 'RINGING' && value !== 'ACCEPTED' && value !== 'REJECTED') {
    problems.push({
      path: `${path}.status`,
      message: `unknown call status ${JSON.stringify(status.status) ?? 'missing'}`,
    });
    return undefined;
  }
  return {
    kind: 'call_status',
    dedupeKey: `call_status:${callId}:${value}`,
    ...base(unixSeconds(status.timestamp)),
    callId,
    status: value,
    recipientId: str(status.recipient_id),
    recipientUserId: str(status.recipient_user_id),
    user: whatsAppUser(
      {
        phoneNumber: status.recipient_id,
        userId: status.recipient_user_id,
        parentUserId: status.recipient_parent_user_id,
      },
      contactFor(ctx, str(status.recipient_id), str(status.recipient_user_id)),
      ctx.displayPhoneNumber,
    ),
    bizOpaqueCallbackData: str(status.biz_opaque_callback_data),
  };
}

function parsePermissionReply(
  message: unknown,
  path: string,
  ctx: ChangeContext,
  base: (timestamp: number | undefined) => Omit<WebhookEventBase, 'kind' | 'dedupeKey'>,
  problems: WebhookParseProblem[],
): CallPermissionReplyEvent | undefined {
  if (!isRecord(message)) return undefined;
  const interactive = isRecord(message.interactive) ? message.interactive : undefined;
  if (!interactive || interactive.type !== 'call_permission_reply') return undefined;
  const reply = isRecord(interactive.call_permission_reply)
    ? interactive.call_permission_reply
    : undefined;
  const messageId = str(message.id);
  const response = reply?.response;
  if (!reply || messageId === undefined || (response !== 'accept' && response !== 'reject')) {
    problems.push({
      path,
      message: 'call_permission_reply needs a message id and response "accept"|"reject"',
    });
    return undefined;
  }
  const context = isRecord(message.context) ? message.context : {};
  const contextId = str(context.id);
  return {
    kind: 'call_permission_reply',
    dedupeKey: `call_permission_reply:${messageId}`,
    ...base(unixSeconds(message.timestamp)),
    messageId,
    from: str(message.from),
    fromUserId: str(message.from_user_id),
    user: whatsAppUser(
      {
        phoneNumber: message.from,
        userId: message.from_user_id,
        parentUserId: message.from_parent_user_id,
      },
      contactFor(ctx, str(message.from), str(message.from_user_id)),
      ctx.displayPhoneNumber,
    ),
    response,
    isPermanent: reply.is_permanent === true,
    expirationTimestamp: unixSeconds(reply.expiration_timestamp),
    responseSource: str(reply.response_source),
    contextId,
    callId: contextId?.startsWith('wacid.') ? contextId : undefined,
  };
}

/**
 * Phase of a call event, for ordering out-of-order deliveries of the same call: connect (0) <
 * RINGING (1) < ACCEPTED/REJECTED (2) < terminate (3). A consumer that already saw a higher phase
 * can treat a lower one as stale (e.g. a connect arriving after its terminate).
 */
export function callEventPhase(
  event: CallConnectEvent | CallTerminateEvent | CallStatusEvent,
): number {
  if (event.kind === 'call_connect') return 0;
  if (event.kind === 'call_terminate') return 3;
  return event.status === 'RINGING' ? 1 : 2;
}
