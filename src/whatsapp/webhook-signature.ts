/**
 * Meta's webhook body signature (`X-Hub-Signature-256`): lowercase-hex HMAC-SHA256 of the raw
 * request bytes keyed with the app secret, prefixed with `sha256=`. Shared by the webhook
 * gateway (verifying) and the simulator (signing) so both sides agree byte for byte.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

/** Name of the header Meta puts the signature in (Node lower-cases incoming header names). */
export const WEBHOOK_SIGNATURE_HEADER = 'x-hub-signature-256';

const SIGNATURE_PATTERN = /^sha256=([0-9a-fA-F]{64})$/;

/** Returns `sha256=<lowercase hex HMAC-SHA256(appSecret, rawBody)>`. Strings are hashed as UTF-8. */
export function signWebhookBody(rawBody: Buffer | string, appSecret: string): string {
  return `sha256=${createHmac('sha256', appSecret).update(rawBody).digest('hex')}`;
}

/**
 * Checks a received signature header against the exact received body bytes. Returns false (never
 * throws) for a missing, malformed or wrong signature; the digest comparison is constant-time so
 * the check cannot be used as an oracle. Hex case of the header is not significant.
 */
export function verifyWebhookSignature(
  rawBody: Buffer | string,
  signatureHeader: string | undefined,
  appSecret: string,
): boolean {
  if (typeof signatureHeader !== 'string' || appSecret.length === 0) return false;
  const match = SIGNATURE_PATTERN.exec(signatureHeader.trim());
  const receivedHex = match?.[1];
  if (receivedHex === undefined) return false;
  const received = Buffer.from(receivedHex, 'hex');
  const expected = createHmac('sha256', appSecret).update(rawBody).digest();
  return received.length === expected.length && timingSafeEqual(received, expected);
}

/**
 * Serialises a webhook payload the way Meta does before signing: JSON with every non-ASCII UTF-16
 * code unit escaped as lowercase `\uXXXX` (Meta's webhook docs: "äöå" is sent as
 * "\u00e4\u00f6\u00e5"). Sign and send exactly these bytes; parsing them gives back the payload.
 */
export function encodeWebhookBody(payload: unknown): string {
  const json = JSON.stringify(payload);
  if (json === undefined) throw new TypeError('webhook payload is not JSON-serialisable');
  return json.replace(
    /[\u0080-\uffff]/g,
    (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}
