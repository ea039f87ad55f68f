import { decodeJwt, decodeProtectedHeader, errors as joseErrors, jwtVerify } from 'jose';
import { ConnectorError } from '../errors/index.js';

/**
 * Access-token checks for the Connector API, matching livekit-server (`auth/verifier.go`,
 * `pkg/service/auth.go`): `Authorization: Bearer <JWT>`, HS256 only, the secret looked up by the
 * `iss` claim (the API key), `exp` required, `nbf`/`iat` checked only when present, 60 s clock
 * leeway, and the `video.roomCreate` grant required by every Connector method. Claims the official
 * SDKs add (`sub:""`, `sip`, `roomConfig:null`, …) are ignored.
 *
 * Every failure is a 401 `unauthenticated` ConnectorError; the messages never echo the token.
 */

/** Clock leeway in seconds, as livekit-server's verifier allows. */
export const TOKEN_CLOCK_LEEWAY_SECONDS = 60;

const unauthenticated = (msg: string): ConnectorError => new ConnectorError('unauthenticated', msg);

export interface AuthenticatedCaller {
  /** The API key the token was issued for (its `iss`). */
  apiKeyId: string;
}

/**
 * Verify an `Authorization` header value against the configured API keys (key → secret).
 * @throws ConnectorError `unauthenticated` for every kind of failure.
 */
export async function authenticateConnectorRequest(
  authorization: string | undefined,
  apiKeys: Readonly<Record<string, string>>,
): Promise<AuthenticatedCaller> {
  if (!authorization) throw unauthenticated('missing authorization header');
  const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
  if (!match?.[1]) throw unauthenticated('authorization header must be "Bearer <token>"');
  const token = match[1];

  let iss: unknown;
  try {
    if (decodeProtectedHeader(token).alg !== 'HS256') {
      throw unauthenticated('invalid authorization token: only HS256 is accepted');
    }
    iss = decodeJwt(token).iss;
  } catch (err) {
    if (err instanceof ConnectorError) throw err;
    throw unauthenticated('invalid authorization token: not a JWT');
  }
  if (typeof iss !== 'string' || iss === '') {
    throw unauthenticated('invalid authorization token: missing issuer (API key)');
  }
  const secret = Object.hasOwn(apiKeys, iss) ? apiKeys[iss] : undefined;
  if (!secret) throw unauthenticated('invalid API key');

  let payload: Record<string, unknown>;
  try {
    const verified = await jwtVerify(token, new TextEncoder().encode(secret), {
      algorithms: ['HS256'],
      issuer: iss,
      clockTolerance: TOKEN_CLOCK_LEEWAY_SECONDS,
      requiredClaims: ['exp'],
    });
    payload = verified.payload as Record<string, unknown>;
  } catch (err) {
    throw unauthenticated(`invalid authorization token: ${describeJoseError(err)}`);
  }

  const video = payload.video;
  const roomCreate =
    video !== null && typeof video === 'object'
      ? (video as Record<string, unknown>).roomCreate
      : undefined;
  if (roomCreate !== true) throw unauthenticated('permissions denied');
  return { apiKeyId: iss };
}

/** A short reason that never contains the token or the secret. */
function describeJoseError(err: unknown): string {
  if (err instanceof joseErrors.JWTExpired) return 'token is expired';
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) return 'signature is invalid';
  if (err instanceof joseErrors.JWTClaimValidationFailed) {
    return `claim "${err.claim}" is invalid (${err.reason})`;
  }
  return 'malformed token';
}
