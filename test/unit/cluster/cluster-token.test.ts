import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SignJWT } from 'jose';
import {
  CLUSTER_TOKEN_AUDIENCE,
  bodyDigest,
  signClusterToken,
  verifyClusterToken,
} from '../../../src/cluster/internal-auth.js';
import { ConnectorError } from '../../../src/errors/index.js';

const credentials = { apiKey: 'APIkey', apiSecret: 'a-secret-of-at-least-thirty-two-chars!' };
const body = Buffer.from('{"callId":"wacid.1"}');

function refused(err: unknown): boolean {
  assert.ok(err instanceof ConnectorError);
  assert.equal(err.code, 'unauthenticated');
  return true;
}

test('a token signed by one instance is accepted by another and names the sender and body', async () => {
  const token = await signClusterToken(credentials, 'node-a', body);
  const claims = await verifyClusterToken(credentials, `Bearer ${token}`);
  assert.equal(claims.fromInstance, 'node-a');
  assert.equal(claims.bodySha256, bodyDigest(body));
});

test('missing, malformed, foreign-secret and foreign-key tokens are refused without echoing them', async () => {
  const token = await signClusterToken(credentials, 'node-a', body);
  await assert.rejects(verifyClusterToken(credentials, undefined), refused);
  await assert.rejects(verifyClusterToken(credentials, 'Basic abc'), refused);
  await assert.rejects(verifyClusterToken(credentials, 'Bearer not.a.jwt'), refused);
  await assert.rejects(
    verifyClusterToken(
      { ...credentials, apiSecret: 'another-secret-of-thirty-two-chars!!' },
      `Bearer ${token}`,
    ),
    refused,
  );
  await assert.rejects(
    verifyClusterToken({ ...credentials, apiKey: 'OtherKey' }, `Bearer ${token}`),
    (err: Error) => refused(err) && !err.message.includes(token),
  );
});

test('a token for another audience (e.g. a LiveKit access token with the same key) is refused', async () => {
  const token = await new SignJWT({ bodySha256: bodyDigest(body), video: { roomCreate: true } })
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuer(credentials.apiKey)
    .setSubject('someone')
    .setExpirationTime('1m')
    .sign(new TextEncoder().encode(credentials.apiSecret));
  await assert.rejects(verifyClusterToken(credentials, `Bearer ${token}`), refused);
  assert.equal(CLUSTER_TOKEN_AUDIENCE, 'whatsapp-connector:cluster');
});

test('an expired token is refused', async () => {
  const token = await new SignJWT({ bodySha256: bodyDigest(body) })
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuer(credentials.apiKey)
    .setSubject('node-a')
    .setAudience(CLUSTER_TOKEN_AUDIENCE)
    .setIssuedAt(Math.floor(Date.now() / 1000) - 120)
    .setExpirationTime(Math.floor(Date.now() / 1000) - 60)
    .sign(new TextEncoder().encode(credentials.apiSecret));
  await assert.rejects(verifyClusterToken(credentials, `Bearer ${token}`), refused);
});
