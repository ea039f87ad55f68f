import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TokenSealError, TokenSealer } from '../../../src/store/index.js';

const SECRET = 'the-livekit-api-secret-of-the-cluster-0123';
const TOKEN = 'EAAG-a-meta-access-token-passed-by-an-api-client';

test('a sealed token opens for its call with the same API secret, and is not stored in clear', () => {
  const sealed = new TokenSealer(SECRET).seal(TOKEN, 'wacid.1');
  assert.match(sealed, /^v1\./);
  assert.ok(!sealed.includes(TOKEN));
  assert.ok(!Buffer.from(sealed.slice(3), 'base64url').toString('latin1').includes('EAAG'));
  // Another instance of the cluster (same secret) opens it.
  assert.equal(new TokenSealer(SECRET).open(sealed, 'wacid.1'), TOKEN);
  // Sealing twice gives different ciphertexts (random IV).
  assert.notEqual(new TokenSealer(SECRET).seal(TOKEN, 'wacid.1'), sealed);
});

test('a seal does not open for another call, with another secret, or once altered', () => {
  const sealer = new TokenSealer(SECRET);
  const sealed = sealer.seal(TOKEN, 'wacid.1');
  assert.throws(() => sealer.open(sealed, 'wacid.2'), TokenSealError);
  assert.throws(() => new TokenSealer(`${SECRET}-rotated`).open(sealed, 'wacid.1'), TokenSealError);
  const raw = Buffer.from(sealed.slice(3), 'base64url');
  raw[raw.length - 1] = raw[raw.length - 1]! ^ 1;
  assert.throws(() => sealer.open(`v1.${raw.toString('base64url')}`, 'wacid.1'), TokenSealError);
  assert.throws(() => sealer.open('v2.abc', 'wacid.1'), TokenSealError);
  assert.throws(() => sealer.open('v1.abc', 'wacid.1'), /truncated/);
  // A bad seal is not worth retrying.
  assert.equal(new TokenSealError('x').retryable, false);
});

test('the configured token is referenced by number, any other token is sealed', () => {
  const sealer = new TokenSealer(SECRET);
  const configured = sealer.reference('wacid.1', '1065', 'EAAG-configured', 'EAAG-configured');
  assert.deepEqual(configured, { kind: 'configured', phoneNumberId: '1065' });
  const passed = sealer.reference('wacid.2', '1065', TOKEN, 'EAAG-configured');
  assert.equal(passed.kind, 'sealed');
  const tokens = (id: string) => (id === '1065' ? 'EAAG-configured' : undefined);
  assert.equal(sealer.resolve('wacid.1', configured, tokens), 'EAAG-configured');
  assert.equal(sealer.resolve('wacid.2', passed, tokens), TOKEN);
  // A number no longer configured: nothing to terminate with.
  assert.equal(
    sealer.resolve('wacid.1', configured, () => undefined),
    undefined,
  );
});
