import { randomBytes } from 'node:crypto';

/**
 * A call id in Meta's format: `wacid.` + base64 of a small Thrift-style record holding the user's
 * number, a 128-bit hex token and the business number — the layout decoded from the real ids in
 * the captures (reference §4.2), padding included.
 */
export function newCallId(userWaId: string, businessNumber: string): string {
  const str = (s: string) => [0x18, s.length, ...Buffer.from(s, 'latin1')];
  const token = randomBytes(16).toString('hex').toUpperCase();
  const bytes = [
    0x1c,
    ...str(userWaId),
    0x15,
    0x02,
    0x00,
    0x12,
    ...str(token),
    0x1c,
    ...str(businessNumber),
    0x15,
    0x02,
    0x00,
    0x15,
    0x0a,
    0x00,
  ];
  return `wacid.${Buffer.from(bytes).toString('base64')}`;
}

/** A message id in Meta's format (`wamid.` + base64). */
export function newMessageId(): string {
  return `wamid.${randomBytes(24).toString('base64url')}`;
}
