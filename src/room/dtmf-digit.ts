import { ConnectorError } from '../errors/connector-error.js';

/**
 * DTMF digits in RFC 4733 event-code order: code 0–9 are the digits, 10 is `*`, 11 is `#`,
 * 12–15 are A–D. LiveKit SIP puts the same pair (code, digit) in its SipDTMF data packet.
 */
const DTMF_DIGITS = '0123456789*#ABCD';

/** RFC 4733 event code of a DTMF digit; throws `invalid_argument` for anything else. */
export function dtmfCodeOfDigit(digit: string): number {
  const normalised = digit.toUpperCase();
  const code = normalised.length === 1 ? DTMF_DIGITS.indexOf(normalised) : -1;
  if (code < 0) {
    throw new ConnectorError('invalid_argument', 'DTMF digit must be one of 0-9, *, #, A-D');
  }
  return code;
}

/** DTMF digit of an RFC 4733 event code, or undefined when the code is not a DTMF digit. */
export function dtmfDigitOfCode(code: number): string | undefined {
  return Number.isInteger(code) && code >= 0 && code < DTMF_DIGITS.length
    ? DTMF_DIGITS[code]
    : undefined;
}
