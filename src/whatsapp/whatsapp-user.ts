/**
 * How Meta names a WhatsApp user, now that usernames roll out (2026): by phone number, by
 * business-scoped user id (BSUID), or both. Facts and sources: docs/whatsapp-usernames-bsuid.md.
 *
 * - A phone number is digits (Meta's `wa_id`), written with or without `+` and separators.
 * - A BSUID is the user's ISO 3166 alpha-2 country code, a period, and up to 128 alphanumeric
 *   characters: `US.13491208655302741918`. It is opaque: store and send it back exactly as
 *   received (never strip it to digits — it would read as a phone number).
 * - A parent BSUID (linked business portfolios) has `ENT` between the country code and the id:
 *   `US.ENT.11815799212886844830`. Meta accepts it wherever a BSUID is accepted.
 *
 * Graph requests name a phone number in `to` (calls, messages) or `user_wa_id`
 * (call_permissions), and a BSUID or parent BSUID in `recipient`; when both are sent, `to` wins.
 */

/** The WhatsApp user of a call or message, as far as Meta told us. */
export interface WhatsAppUser {
  /** Phone number as digits, as Meta sent it; absent when the user hides it behind a username. */
  phoneNumber?: string;
  /** Business-scoped user id, e.g. `US.13491208655302741918`. */
  userId?: string;
  /** Parent BSUID shared across linked business portfolios, e.g. `US.ENT.11815799212886844830`. */
  parentUserId?: string;
  /** The user's WhatsApp username, when they adopted one. */
  username?: string;
}

/** What a string that names a user is. */
export type WhatsAppUserIdKind = 'phone_number' | 'bsuid' | 'parent_bsuid';

/** Longest BSUID body Meta announces ("up to 128 alphanumeric characters"). */
export const BSUID_MAX_BODY_LENGTH = 128;

const BSUID = /^[A-Za-z]{2}\.[A-Za-z0-9]{1,128}$/;
const PARENT_BSUID = /^[A-Za-z]{2}\.ENT\.[A-Za-z0-9]{1,128}$/;
/** Digits with an optional `+` and the separators people write (`+1 (408) 555-1234`). */
const PHONE_NUMBER = /^\+?[0-9][0-9 ().-]*$/;
/** E.164 numbers have at most 15 digits; WhatsApp numbers in practice at least 6. */
const PHONE_DIGITS = { min: 6, max: 15 };

/**
 * Tells a phone number from a BSUID or parent BSUID; undefined for anything else.
 * `US.ENT.1` is a parent BSUID, `US.1` a BSUID, `+1 408-555-1234` a phone number.
 */
export function whatsAppUserIdKind(value: string): WhatsAppUserIdKind | undefined {
  const v = value.trim();
  if (PARENT_BSUID.test(v)) return 'parent_bsuid';
  if (BSUID.test(v)) return 'bsuid';
  if (PHONE_NUMBER.test(v)) {
    const digits = v.replace(/\D/g, '').length;
    if (digits >= PHONE_DIGITS.min && digits <= PHONE_DIGITS.max) return 'phone_number';
  }
  return undefined;
}

/** Whether `value` is a BSUID or a parent BSUID (what Meta takes in `recipient`). */
export function isBusinessScopedUserId(value: string): boolean {
  const kind = whatsAppUserIdKind(value);
  return kind === 'bsuid' || kind === 'parent_bsuid';
}

/** Whether `value` is a phone number (what Meta takes in `to` and `user_wa_id`). */
export function isWhatsAppPhoneNumber(value: string): boolean {
  return whatsAppUserIdKind(value) === 'phone_number';
}

/** Digits of a phone number: `+1 (408) 555-1234` → `14085551234`. */
export function phoneNumberDigits(value: string): string {
  return value.replace(/\D/g, '');
}

/**
 * The Graph request field that names this user: `to` for a phone number, `recipient` for a
 * BSUID or parent BSUID (passed through untouched). Undefined when `value` is neither.
 */
export function graphUserField(
  value: string,
): { field: 'to'; value: string } | { field: 'recipient'; value: string } | undefined {
  const kind = whatsAppUserIdKind(value);
  if (kind === undefined) return undefined;
  return kind === 'phone_number'
    ? { field: 'to', value: value.trim() }
    : { field: 'recipient', value: value.trim() };
}

/** The most specific single name of a user: phone number, else BSUID, else parent BSUID. */
export function whatsAppUserKey(user: WhatsAppUser): string | undefined {
  return user.phoneNumber ?? user.userId ?? user.parentUserId;
}
