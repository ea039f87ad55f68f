/**
 * Access tokens an API client passed (rather than the ones in the configuration) must survive a
 * restart to terminate their calls at Meta, but must not sit in the store in clear. They are
 * sealed with AES-256-GCM under a key derived (HKDF-SHA256) from the LiveKit API secret, which
 * every instance of a cluster shares and which never reaches the store; the call id is the
 * associated data, so a sealed token only opens for the call it was sealed for. Rotating the API
 * secret makes old seals unopenable: those calls can then only be ended by their own process.
 */
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import type { TokenReference } from './call-record.js';
import { TokenSealError } from './store-errors.js';

const VERSION = 'v1';
const IV_BYTES = 12;
const TAG_BYTES = 16;
const SALT = 'whatsapp-connector';
const INFO = 'call-record-token/v1';

export class TokenSealer {
  readonly #key: Buffer;

  /** @param secret - the LiveKit API secret (`LIVEKIT_API_SECRET`). */
  constructor(secret: string) {
    this.#key = Buffer.from(hkdfSync('sha256', secret, SALT, INFO, 32));
  }

  /** `v1.<base64url(iv | tag | ciphertext)>`, bound to `callId`. */
  seal(token: string, callId: string): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.#key, iv);
    cipher.setAAD(Buffer.from(callId, 'utf8'));
    const body = Buffer.concat([cipher.update(token, 'utf8'), cipher.final()]);
    return `${VERSION}.${Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64url')}`;
  }

  /** @throws TokenSealError when the seal is malformed, altered, for another call or key. */
  open(sealed: string, callId: string): string {
    const [version, data] = sealed.split('.', 2);
    if (version !== VERSION || !data) throw new TokenSealError('not a sealed token');
    const raw = Buffer.from(data, 'base64url');
    if (raw.length < IV_BYTES + TAG_BYTES) throw new TokenSealError('sealed token is truncated');
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.#key, raw.subarray(0, IV_BYTES));
      decipher.setAAD(Buffer.from(callId, 'utf8'));
      decipher.setAuthTag(raw.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
      const out = Buffer.concat([
        decipher.update(raw.subarray(IV_BYTES + TAG_BYTES)),
        decipher.final(),
      ]);
      return out.toString('utf8');
    } catch (err) {
      throw new TokenSealError(
        'sealed token does not open (API secret changed, or record altered)',
        { cause: err },
      );
    }
  }

  /**
   * The reference to store for a call running with `token`: the configured number's token by
   * reference, any other token sealed.
   */
  reference(
    callId: string,
    phoneNumberId: string,
    token: string,
    configuredToken: string | undefined,
  ): TokenReference {
    if (configuredToken !== undefined && token === configuredToken) {
      return { kind: 'configured', phoneNumberId };
    }
    return { kind: 'sealed', sealed: this.seal(token, callId) };
  }

  /**
   * The token a reference stands for: the number's configured token (undefined when the
   * configuration no longer has it), or the opened seal.
   * @throws TokenSealError for a seal that does not open.
   */
  resolve(
    callId: string,
    reference: TokenReference,
    configuredToken: (phoneNumberId: string) => string | undefined,
  ): string | undefined {
    return reference.kind === 'configured'
      ? configuredToken(reference.phoneNumberId)
      : this.open(reference.sealed, callId);
  }
}
