import { createHash } from 'node:crypto';
import { SignJWT, decodeProtectedHeader, jwtVerify } from 'jose';
import { ConnectorError } from '../errors/index.js';

/** `aud` of internal tokens: keeps LiveKit access tokens (same key) from being accepted here. */
export const CLUSTER_TOKEN_AUDIENCE = 'whatsapp-connector:cluster';
/** Lifetime of an internal token, s: one forwarded request, with room for clock skew. */
export const CLUSTER_TOKEN_TTL_SECONDS = 30;
const CLOCK_TOLERANCE_SECONDS = 10;

/** The LiveKit key pair every instance of a cluster shares. */
export interface ClusterCredentials {
  apiKey: string;
  apiSecret: string;
}

/** Hex SHA-256 of a request body; the token binds it, so a captured token cannot carry another. */
export function bodyDigest(body: Uint8Array): string {
  return createHash('sha256').update(body).digest('hex');
}

/**
 * Sign a token for one internal request: HS256 with the LiveKit API secret, `iss` the API key,
 * `sub` the sending instance, and the body's digest.
 */
export async function signClusterToken(
  credentials: ClusterCredentials,
  fromInstance: string,
  body: Uint8Array,
): Promise<string> {
  return new SignJWT({ bodySha256: bodyDigest(body) })
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuer(credentials.apiKey)
    .setSubject(fromInstance)
    .setAudience(CLUSTER_TOKEN_AUDIENCE)
    .setIssuedAt()
    .setExpirationTime(`${CLUSTER_TOKEN_TTL_SECONDS}s`)
    .sign(new TextEncoder().encode(credentials.apiSecret));
}

const unauthenticated = (msg: string) => new ConnectorError('unauthenticated', msg);

/**
 * Check the `Authorization` header of an internal request before its body is trusted. Resolves
 * with the sending instance id and the body digest the token allows.
 * @throws ConnectorError `unauthenticated`; messages never echo the token.
 */
export async function verifyClusterToken(
  credentials: ClusterCredentials,
  authorization: string | undefined,
): Promise<{ fromInstance: string; bodySha256: string }> {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
  const token = match?.[1];
  if (!token) throw unauthenticated('internal cluster endpoint: missing bearer token');
  try {
    if (decodeProtectedHeader(token).alg !== 'HS256') throw new Error('alg');
    const { payload } = await jwtVerify(token, new TextEncoder().encode(credentials.apiSecret), {
      algorithms: ['HS256'],
      issuer: credentials.apiKey,
      audience: CLUSTER_TOKEN_AUDIENCE,
      clockTolerance: CLOCK_TOLERANCE_SECONDS,
      requiredClaims: ['exp', 'sub'],
    });
    const digest = payload.bodySha256;
    if (typeof digest !== 'string' || typeof payload.sub !== 'string') throw new Error('claims');
    return { fromInstance: payload.sub, bodySha256: digest };
  } catch {
    throw unauthenticated('internal cluster endpoint: invalid token');
  }
}
