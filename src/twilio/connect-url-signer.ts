import { createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Path under which Twilio connects its media streams. The token is a path segment, not a query
 * parameter: Twilio drops query strings from `<Stream url>`.
 */
export const MEDIA_STREAM_PATH = '/twilio/stream/';

/** Token format version; a new format gets a new prefix so old URLs fail as malformed. */
const VERSION = 'v1';
/** 16 random bytes, base64url. */
const SESSION_ID_PATTERN = /^[A-Za-z0-9_-]{22}$/;
/** HMAC-SHA256, base64url without padding. */
const SIGNATURE_PATTERN = /^[A-Za-z0-9_-]{43}$/;
/** Context of the key derivation, so the derived key serves this purpose only. */
const KEY_INFO = 'whatsapp-connector twilio connect-url v1';

/** A connect URL's decoded token. */
export interface ConnectUrlClaims {
  /** The call the URL belongs to (22 characters of base64url). */
  sessionId: string;
  /** When the URL stops being usable, Unix time in milliseconds (whole seconds). */
  expiresAtMs: number;
}

/** Why a presented token was refused. */
export type ConnectUrlRejection =
  /** Not a token of this service (wrong shape or version). */
  | 'malformed'
  /** Shaped right, but the signature does not match: forged or altered. */
  | 'bad_signature'
  /** Genuine, but past its expiry. */
  | 'expired';

export type ConnectUrlVerification =
  | ({ ok: true } & ConnectUrlClaims)
  | { ok: false; reason: ConnectUrlRejection; claims?: ConnectUrlClaims };

/** A new random session id: 128 bits from the CSPRNG, base64url. */
export function newSessionId(): string {
  return randomBytes(16).toString('base64url');
}

/**
 * Issues and checks the signed tokens of Twilio connect URLs:
 * `v1.<session id>.<expiry, Unix seconds>.<HMAC-SHA256(key, "v1.<session id>.<expiry>")>`.
 *
 * Verification needs no state: anyone holding the key can tell a genuine, unexpired URL from a
 * guessed or altered one. (Single use is the registry's job: it needs a record.) The key is
 * derived from a server secret with HKDF, so every instance sharing the secret (the LiveKit API
 * secret) accepts the others' URLs, and rotating the secret invalidates outstanding URLs.
 */
export class ConnectUrlSigner {
  readonly #key: Buffer;

  /** @param secret server secret the signing key is derived from (at least 16 characters) */
  constructor(secret: string) {
    if (secret.length < 16) throw new RangeError('connect URL secret must be >= 16 characters');
    this.#key = Buffer.from(hkdfSync('sha256', secret, '', KEY_INFO, 32));
  }

  /** The token for one session, valid until `expiresAtMs` (rounded up to a whole second). */
  sign(sessionId: string, expiresAtMs: number): string {
    if (!SESSION_ID_PATTERN.test(sessionId)) throw new RangeError('malformed session id');
    const expiry = Math.ceil(expiresAtMs / 1000);
    const body = `${VERSION}.${sessionId}.${expiry}`;
    return `${body}.${this.#mac(body)}`;
  }

  /**
   * Check a token. The signature is checked before the expiry, so "expired" is only ever said of
   * genuine tokens (an altered expiry is a bad signature).
   */
  verify(token: string, nowMs: number = Date.now()): ConnectUrlVerification {
    const parts = token.split('.');
    if (parts.length !== 4) return { ok: false, reason: 'malformed' };
    const [version, sessionId, expiry, signature] = parts as [string, string, string, string];
    if (
      version !== VERSION ||
      !SESSION_ID_PATTERN.test(sessionId) ||
      !/^\d{1,12}$/.test(expiry) ||
      !SIGNATURE_PATTERN.test(signature)
    ) {
      return { ok: false, reason: 'malformed' };
    }
    const expected = Buffer.from(this.#mac(`${version}.${sessionId}.${expiry}`), 'base64url');
    const presented = Buffer.from(signature, 'base64url');
    if (presented.length !== expected.length || !timingSafeEqual(presented, expected)) {
      return { ok: false, reason: 'bad_signature' };
    }
    const claims = { sessionId, expiresAtMs: Number(expiry) * 1000 };
    if (nowMs >= claims.expiresAtMs) return { ok: false, reason: 'expired', claims };
    return { ok: true, ...claims };
  }

  #mac(body: string): string {
    return createHmac('sha256', this.#key).update(body).digest('base64url');
  }
}

/**
 * The WebSocket base URL Twilio is pointed at: `publicUrl` with http(s) turned into ws(s), or,
 * without one, the origin the API client addressed (Host, and X-Forwarded-Proto when a TLS proxy
 * is in front). A path prefix of `publicUrl` is kept: a reverse proxy may mount the service under
 * one (and strip it before forwarding; the service itself listens at {@link MEDIA_STREAM_PATH}).
 */
export function mediaStreamBaseUrl(publicUrl: string | undefined, requestOrigin: string): string {
  const base = new URL(publicUrl ?? requestOrigin);
  if (base.protocol === 'http:') base.protocol = 'ws:';
  else if (base.protocol === 'https:') base.protocol = 'wss:';
  return `${base.protocol}//${base.host}${base.pathname.replace(/\/+$/, '')}`;
}

/** The full connect URL of a token. */
export function connectUrl(baseUrl: string, token: string): string {
  return `${baseUrl}${MEDIA_STREAM_PATH}${token}`;
}

/** The token of a request path under {@link MEDIA_STREAM_PATH}, or undefined. */
export function tokenOfPath(pathname: string): string | undefined {
  if (!pathname.startsWith(MEDIA_STREAM_PATH)) return undefined;
  const token = pathname.slice(MEDIA_STREAM_PATH.length);
  return token.length > 0 && token.length <= 256 && !token.includes('/') ? token : undefined;
}
