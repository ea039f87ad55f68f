/**
 * Meta's webhook subscription handshake: `GET <callback>?hub.mode=subscribe&hub.challenge=…&
 * hub.verify_token=…`. A valid request is answered 200 with the challenge as the raw body; anything
 * else with a 4xx. This module decides; the HTTP layer (server or simulator) only writes the
 * result out.
 */
import { createHash, timingSafeEqual } from 'node:crypto';

export type WebhookVerificationFailure =
  /** No verify token is configured, so no subscription can be confirmed. */
  | 'not_configured'
  /** `hub.mode`, `hub.verify_token` or `hub.challenge` is missing or unusable. */
  | 'missing_parameters'
  /** `hub.mode` is not `subscribe`. */
  | 'wrong_mode'
  /** `hub.verify_token` differs from ours. */
  | 'token_mismatch';

export type WebhookVerificationResult =
  | { ok: true; status: 200; contentType: 'text/plain'; body: string }
  | {
      ok: false;
      status: 400 | 403;
      contentType: 'text/plain';
      body: string;
      reason: WebhookVerificationFailure;
    };

/** Query parameters as URLSearchParams, a query string (with or without "?") or a plain map. */
export type WebhookVerificationQuery =
  URLSearchParams | string | Record<string, string | string[] | undefined>;

/**
 * Meta's challenges are numeric; URL-safe token characters up to this length are echoed. Anything
 * else is refused, so the endpoint can never reflect markup or control characters.
 */
const CHALLENGE_PATTERN = /^[A-Za-z0-9._~-]{1,256}$/;

function param(query: WebhookVerificationQuery, name: string): string | undefined {
  if (typeof query === 'string') {
    return (
      new URLSearchParams(query.startsWith('?') ? query.slice(1) : query).get(name) ?? undefined
    );
  }
  if (query instanceof URLSearchParams) return query.get(name) ?? undefined;
  const value = query[name];
  return Array.isArray(value) ? value[0] : value;
}

/** Compares secrets without leaking their length or common prefix through timing. */
function sameSecret(a: string, b: string): boolean {
  const da = createHash('sha256').update(a).digest();
  const db = createHash('sha256').update(b).digest();
  return timingSafeEqual(da, db);
}

function fail(status: 400 | 403, reason: WebhookVerificationFailure): WebhookVerificationResult {
  return { ok: false, status, contentType: 'text/plain', body: 'Forbidden', reason };
}

/**
 * Decides a subscription verification request.
 * @param query - the request's query parameters
 * @param expectedVerifyToken - our configured verify token; undefined or empty refuses every request
 */
export function verifyWebhookSubscription(
  query: WebhookVerificationQuery,
  expectedVerifyToken: string | undefined,
): WebhookVerificationResult {
  if (expectedVerifyToken === undefined || expectedVerifyToken === '') {
    return fail(403, 'not_configured');
  }
  const mode = param(query, 'hub.mode');
  const token = param(query, 'hub.verify_token');
  const challenge = param(query, 'hub.challenge');
  if (mode === undefined || token === undefined || challenge === undefined) {
    return fail(400, 'missing_parameters');
  }
  if (!CHALLENGE_PATTERN.test(challenge)) return fail(400, 'missing_parameters');
  if (mode !== 'subscribe') return fail(403, 'wrong_mode');
  if (!sameSecret(token, expectedVerifyToken)) return fail(403, 'token_mismatch');
  return { ok: true, status: 200, contentType: 'text/plain', body: challenge };
}
