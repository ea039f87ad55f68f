/**
 * Who may use the console: the holders of an API key the Connector API accepts. An operator signs
 * in with an API key and its secret, or with a LiveKit access token carrying the `roomCreate`
 * grant; both go through the Connector API's own token check (`connector-auth.ts`), so the console
 * accepts exactly who `/api/calls` and the Twirp API accept.
 */
import { SignJWT } from 'jose';
import { authenticateConnectorRequest } from '../connector/connector-auth.js';
import { ConnectorError } from '../errors/index.js';

/** What the sign-in form sends. */
export type SignInCredentials =
  { kind: 'api_key'; apiKey: string; apiSecret: string } | { kind: 'token'; token: string };

/** A refused sign-in; `message` is what the form shows (it never repeats a secret or a token). */
export class SignInRefusedError extends Error {
  override readonly name = 'SignInRefusedError';
}

/** Lifetime of the token built from a key and secret to run the check, s. */
const CHECK_TOKEN_TTL_SECONDS = 30;

/**
 * The API key the credentials prove.
 * @throws SignInRefusedError with a message for the operator.
 */
export async function checkSignIn(
  credentials: SignInCredentials,
  apiKeys: Readonly<Record<string, string>>,
): Promise<{ apiKeyId: string }> {
  if (credentials.kind === 'api_key') {
    const { apiKey, apiSecret } = credentials;
    if (!apiKey || !apiSecret) {
      throw new SignInRefusedError('Enter an API key and its secret, or an access token.');
    }
    // The secret signs a token as an SDK would, and the token goes through the API's check.
    const now = Math.floor(Date.now() / 1000);
    const token = await new SignJWT({ video: { roomCreate: true } })
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuer(apiKey)
      .setNotBefore(now)
      .setExpirationTime(now + CHECK_TOKEN_TTL_SECONDS)
      .sign(new TextEncoder().encode(apiSecret));
    try {
      return await authenticateConnectorRequest(`Bearer ${token}`, apiKeys);
    } catch (err) {
      if (err instanceof ConnectorError) {
        throw new SignInRefusedError(
          'Sign-in refused: the API key is not one this connector accepts, or the secret is wrong.',
        );
      }
      throw err;
    }
  }
  const token = credentials.token.trim();
  if (!token) throw new SignInRefusedError('Enter an API key and its secret, or an access token.');
  try {
    return await authenticateConnectorRequest(`Bearer ${token}`, apiKeys);
  } catch (err) {
    // The API's messages name the problem (expired, signature, missing roomCreate grant, ...)
    // and never echo the token.
    if (err instanceof ConnectorError) {
      throw new SignInRefusedError(`Sign-in refused: ${err.message}.`);
    }
    throw err;
  }
}

/** Failed sign-ins an address may make per window before it must wait. */
const MAX_FAILURES = 10;
/** The window, ms. */
const FAILURE_WINDOW_MS = 5 * 60_000;

/**
 * Slows down guessing: after {@link MAX_FAILURES} refused sign-ins from one address within
 * {@link FAILURE_WINDOW_MS}, that address is refused until the window has passed.
 */
export class SignInThrottle {
  private readonly failures = new Map<string, { count: number; since: number }>();

  constructor(private readonly now: () => number = Date.now) {}

  /** Seconds `address` must wait before trying again; 0 when it may try now. */
  waitSeconds(address: string): number {
    const entry = this.failures.get(address);
    if (!entry) return 0;
    const elapsed = this.now() - entry.since;
    if (elapsed >= FAILURE_WINDOW_MS) {
      this.failures.delete(address);
      return 0;
    }
    return entry.count >= MAX_FAILURES ? Math.ceil((FAILURE_WINDOW_MS - elapsed) / 1000) : 0;
  }

  failed(address: string): void {
    if (this.failures.size > 10_000) this.failures.clear();
    const entry = this.failures.get(address);
    if (entry && this.now() - entry.since < FAILURE_WINDOW_MS) entry.count++;
    else this.failures.set(address, { count: 1, since: this.now() });
  }

  succeeded(address: string): void {
    this.failures.delete(address);
  }
}
