import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AccessToken } from 'livekit-server-sdk';
import {
  checkSignIn,
  SignInRefusedError,
  SignInThrottle,
} from '../../../src/console/console-sign-in.js';

const SECRET = 'an-api-secret-of-at-least-32-characters';
const KEYS = { APIkey: SECRET, other: 'another-secret-of-at-least-32-characters' };

async function token(grant: Record<string, unknown>, secret = SECRET): Promise<string> {
  const t = new AccessToken('APIkey', secret, { ttl: 60, identity: 'operator' });
  t.addGrant(grant);
  return t.toJwt();
}

test('a configured key with its secret signs in as that key', async () => {
  assert.deepEqual(
    await checkSignIn({ kind: 'api_key', apiKey: 'APIkey', apiSecret: SECRET }, KEYS),
    { apiKeyId: 'APIkey' },
  );
});

test('an unknown key, a wrong secret and empty fields are refused with one message each', async () => {
  for (const [apiKey, apiSecret] of [
    ['APIkey', 'not-the-secret-but-long-enough-for-a-secret'],
    ['nobody', SECRET],
    ['other', SECRET],
  ] as const) {
    await assert.rejects(checkSignIn({ kind: 'api_key', apiKey, apiSecret }, KEYS), {
      name: 'SignInRefusedError',
      message: /the API key is not one this connector accepts, or the secret is wrong/,
    });
  }
  await assert.rejects(checkSignIn({ kind: 'api_key', apiKey: '', apiSecret: '' }, KEYS), {
    message: /Enter an API key and its secret, or an access token/,
  });
  await assert.rejects(checkSignIn({ kind: 'token', token: '  ' }, KEYS), SignInRefusedError);
});

test('a token needs the roomCreate grant, as the Connector API requires', async () => {
  assert.deepEqual(
    await checkSignIn({ kind: 'token', token: await token({ roomCreate: true }) }, KEYS),
    { apiKeyId: 'APIkey' },
  );
  await assert.rejects(
    checkSignIn({ kind: 'token', token: await token({ roomJoin: true, room: 'r' }) }, KEYS),
    { message: 'Sign-in refused: permissions denied.' },
  );
  const forged = await token({ roomCreate: true }, 'a-different-secret-of-32-characters-x');
  await assert.rejects(checkSignIn({ kind: 'token', token: forged }, KEYS), {
    message: /signature is invalid/,
  });
  await assert.rejects(checkSignIn({ kind: 'token', token: 'not-a-jwt' }, KEYS), {
    message: /not a JWT/,
  });
});

test('the refusal never repeats the secret or the token', async () => {
  const secret = 'the-secret-someone-typed-into-the-form';
  const err = await checkSignIn(
    { kind: 'api_key', apiKey: 'APIkey', apiSecret: secret },
    KEYS,
  ).catch((e: Error) => e);
  assert.ok(err instanceof SignInRefusedError);
  assert.ok(!err.message.includes(secret));
  const jwt = await token({ roomJoin: true });
  const tokenErr = await checkSignIn({ kind: 'token', token: jwt }, KEYS).catch((e: Error) => e);
  assert.ok(tokenErr instanceof Error && !tokenErr.message.includes(jwt));
});

test('ten refusals from one address make it wait out the window; others are not affected', () => {
  let now = 0;
  const throttle = new SignInThrottle(() => now);
  for (let i = 0; i < 9; i++) throttle.failed('10.0.0.1');
  assert.equal(throttle.waitSeconds('10.0.0.1'), 0);
  throttle.failed('10.0.0.1');
  assert.equal(throttle.waitSeconds('10.0.0.1'), 300);
  assert.equal(throttle.waitSeconds('10.0.0.2'), 0);
  now = 299_000;
  assert.equal(throttle.waitSeconds('10.0.0.1'), 1);
  now = 300_000;
  assert.equal(throttle.waitSeconds('10.0.0.1'), 0);
});

test('a successful sign-in clears the address’s refusals', () => {
  const throttle = new SignInThrottle(() => 0);
  for (let i = 0; i < 9; i++) throttle.failed('a');
  throttle.succeeded('a');
  throttle.failed('a');
  assert.equal(throttle.waitSeconds('a'), 0);
});
