/**
 * What never reaches a log line: secrets are censored and phone numbers masked in structured
 * fields at any depth. pino's own `redact` takes explicit paths (`a.b`, `*.b`), which reach only
 * as deep as someone thought to write; this walks the whole object instead, by field name.
 */

/** Shown instead of a secret. */
export const CENSORED = '[REDACTED]';

/** Nesting deeper than this is not logged (shown as `[Object]`), so nothing escapes the walk. */
export const MAX_LOG_DEPTH = 10;

/**
 * Field names that carry secrets, compared case-insensitively with `_` and `-` removed and by
 * suffix: `accessToken`, `verify_token`, `whatsappApiKey`, `appSecret`, `Authorization`, … A
 * field that only refers to a secret says so in a suffix of its own (`tokenRef`, `apiKeyId`).
 */
const SECRET_SUFFIXES = [
  'secret',
  'token',
  'password',
  'passwd',
  'apikey',
  'authorization',
  'cookie',
  'credential',
  'privatekey',
];

/** Field names (exact) whose whole value is a phone number. */
export const PHONE_FIELDS = [
  'phone',
  'phoneNumber',
  'from',
  'to',
  'caller',
  'callee',
  'waId',
  'wa_id',
  'user',
  'displayPhoneNumber',
  'display_phone_number',
  'businessNumber',
  'whatsappToPhoneNumber',
];

/**
 * Field names (exact) whose values are built from templates that may embed a phone number, such
 * as a room `support-{caller}` or an identity `whatsapp_{caller}`: digit runs inside are masked.
 */
export const PHONE_BEARING_FIELDS = [
  'room',
  'roomName',
  'room_name',
  'identity',
  'participantIdentity',
  'participant_identity',
];

const phoneFields = new Set(PHONE_FIELDS);
const phoneBearingFields = new Set(PHONE_BEARING_FIELDS);

/** A run of 8 to 15 digits (E.164 numbers have at most 15), not part of a longer run. */
const EMBEDDED_PHONE = /(?<!\d)\d{8,15}(?!\d)/g;

function isSecretField(key: string): boolean {
  const k = key.replace(/[-_]/g, '').toLowerCase();
  const singular = k.endsWith('s') ? k.slice(0, -1) : k;
  return SECRET_SUFFIXES.some((suffix) => k.endsWith(suffix) || singular.endsWith(suffix));
}

/**
 * Mask a run of digits: the country and network prefix (up to 5 digits) and the last 2 stay, so
 * one caller's calls can still be told apart; at least 5 digits are always hidden.
 * `4915112345678` → `49151******78`.
 */
export function maskDigits(digits: string): string {
  const n = digits.length;
  if (n <= 4) return '*'.repeat(n);
  const keepEnd = 2;
  const keepStart = Math.max(0, Math.min(5, n - 7));
  return digits.slice(0, keepStart) + '*'.repeat(n - keepStart - keepEnd) + digits.slice(n - 2);
}

/**
 * Mask a value that is a phone number, however formatted: `+1 (555) 123-4567` → `+1555*****67`.
 * A value without digits (a field named `to` can hold a state) is returned unchanged.
 */
export function redactPhone(value: unknown): string {
  const text = String(value ?? '');
  const digits = text.replace(/\D/g, '');
  if (digits === '') return text;
  return (text.trimStart().startsWith('+') ? '+' : '') + maskDigits(digits);
}

/** Mask phone numbers embedded in text: `support-4915112345678` → `support-49151******78`. */
export function maskEmbeddedPhoneNumbers(text: string): string {
  return text.replace(EMBEDDED_PHONE, maskDigits);
}

/** Hide the password of a URL (`redis://:pw@host` → `redis://:***@host`); other text unchanged. */
function hideUrlPassword(text: string): string {
  return text.replace(/(\b[a-z][a-z0-9+.-]*:\/\/[^/\s:@]*:)[^@\s/]*@/gi, '$1***@');
}

export interface RedactionOptions {
  /** Mask phone numbers (whole-number fields and numbers inside room names and identities). */
  maskPhoneNumbers: boolean;
}

/**
 * A copy of `value` fit for a log line: secret fields censored, URL passwords hidden, phone
 * numbers masked (when asked), at any depth up to {@link MAX_LOG_DEPTH}. The input is not changed.
 */
export function redactLogValue(value: unknown, options: RedactionOptions): unknown {
  return walk(value, undefined, 0, new WeakSet(), options);
}

function walk(
  value: unknown,
  key: string | undefined,
  depth: number,
  ancestors: WeakSet<object>,
  options: RedactionOptions,
): unknown {
  if (key !== undefined && isSecretField(key)) {
    return value === undefined || value === null || value === '' ? value : CENSORED;
  }
  if (typeof value === 'string') {
    if (key !== undefined && options.maskPhoneNumbers) {
      if (phoneFields.has(key)) return redactPhone(value);
      if (phoneBearingFields.has(key)) return maskEmbeddedPhoneNumbers(value);
    }
    return value.includes('://') ? hideUrlPassword(value) : value;
  }
  if (typeof value === 'number' || typeof value === 'bigint') {
    if (key !== undefined && options.maskPhoneNumbers && phoneFields.has(key)) {
      return redactPhone(value);
    }
    return value;
  }
  if (typeof value !== 'object' || value === null) return value;
  if (depth >= MAX_LOG_DEPTH) return '[Object]';
  if (ancestors.has(value)) return '[Circular]';
  let source: object = value;
  if (value instanceof Error) {
    // Nested errors lose their prototype in JSON anyway; keep what a reader needs.
    source = Object.assign({ type: value.name, message: value.message }, value);
  } else if (typeof (value as { toJSON?: unknown }).toJSON === 'function') {
    const json: unknown = (value as { toJSON: () => unknown }).toJSON();
    if (typeof json !== 'object' || json === null)
      return walk(json, key, depth, ancestors, options);
    source = json;
  }
  ancestors.add(value);
  try {
    if (Array.isArray(source)) {
      // An array's items are judged by the array's field name (e.g. `to: [n1, n2]`).
      return source.map((item: unknown) => walk(item, key, depth + 1, ancestors, options));
    }
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(source)) out[k] = walk(v, k, depth + 1, ancestors, options);
    return out;
  } finally {
    ancestors.delete(value);
  }
}
