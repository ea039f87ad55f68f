/**
 * Why a call ended, in one typed set shared by the call objects, the room attribute
 * `whatsapp.endReason`, call summaries and (later) the LiveKit DisconnectReason of the connector
 * participant. Reasons are derived where Meta tells us (terminate webhook status and error codes,
 * call status REJECTED, Graph errors on connect) and where our side decides (timers, API, room).
 */

export const CALL_END_REASONS = [
  /** The WhatsApp user hung up (terminate webhook, Disconnect USER_INITIATED, Meta closed media). */
  'user_hangup',
  /** The business ended it: Disconnect BUSINESS_INITIATED. */
  'business_hangup',
  /** The user declined a business-initiated call (call status REJECTED). */
  'rejected',
  /** Nobody answered within the ringing timeout (ours or Meta's). */
  'no_answer',
  /** The user was already in a call (Meta code 138003 on connect). */
  'busy',
  /** The user cannot be called (not on WhatsApp, unsupported client: Meta code 138001). */
  'unavailable',
  /** No media from Meta for `CALL_MEDIA_TIMEOUT_SECONDS`, or Meta's own media timeouts (13802x). */
  'media_timeout',
  /** Setting up or running the call failed on one of the legs or at Meta. */
  'failed',
  /** The LiveKit room was deleted or closed. */
  'room_closed',
  /** The connector participant was removed from the room. */
  'participant_removed',
  /** The call reached `CALL_MAX_DURATION_SECONDS`. */
  'max_duration',
  /** The service is shutting down. */
  'shutdown',
  /** The call moved to another room (the call itself goes on there). */
  'transferred',
] as const;

export type CallEndReason = (typeof CALL_END_REASONS)[number];

export function isCallEndReason(value: unknown): value is CallEndReason {
  return typeof value === 'string' && (CALL_END_REASONS as readonly string[]).includes(value);
}

/** Meta error codes of a terminate webhook that mean the media path failed (reference §3.2). */
const MEDIA_TIMEOUT_CODES = new Set([
  138021, // media receive timeout
  138022, // media transmit timeout
  138023, // accepted but terminated with no media signals
]);

/** What Meta's terminate webhook says about a call (see `CallTerminateEvent`). */
export interface TerminateReport {
  /** `COMPLETED`, `FAILED` (upper case), or whatever Meta sends; undefined when absent. */
  status?: string | undefined;
  /** `errors[].code` of the webhook, in order. */
  errorCodes?: readonly number[] | undefined;
}

/**
 * The end reason Meta's terminate webhook implies for a call of `direction` that was (or was not)
 * answered. Error codes win: 13802x are media timeouts, any other code a failure. Without errors,
 * a call that never got answered is a `no_answer` when we dialled it and a `user_hangup` (the
 * caller gave up) when the user called; an answered call was hung up by the user.
 */
export function endReasonOfTerminate(
  report: TerminateReport,
  call: { direction: 'inbound' | 'outbound'; answered: boolean },
): CallEndReason {
  const codes = report.errorCodes ?? [];
  if (codes.some((c) => MEDIA_TIMEOUT_CODES.has(c))) return 'media_timeout';
  if (codes.length > 0) return 'failed';
  const status = report.status?.toUpperCase();
  if (status === 'REJECTED') return 'rejected';
  if (!call.answered && call.direction === 'outbound') return 'no_answer';
  return 'user_hangup';
}

/** Meta's `connect` refusals that say something about the user rather than about us. */
const DIAL_REFUSAL_REASONS: ReadonlyMap<number, CallEndReason> = new Map([
  [138003, 'busy'], // a call with this user is already ongoing
  [138001, 'unavailable'], // not a WhatsApp user, or a client that cannot take calls
]);

/** The end reason of a dial that Meta refused with Graph error `code` (`failed` if unknown). */
export function endReasonOfDialRefusal(code: number | undefined): CallEndReason {
  return (code !== undefined && DIAL_REFUSAL_REASONS.get(code)) || 'failed';
}
