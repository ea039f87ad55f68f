import { test } from 'node:test';
import assert from 'node:assert/strict';
import { verifyWebhookSubscription } from '../../../src/whatsapp/webhook-verification.js';

const TOKEN = 'iNextLabsCloud';

test("Meta's real verification request is answered 200 with the challenge", () => {
  // Query string from a real capture ([CAP-1]).
  const result = verifyWebhookSubscription(
    '?hub.mode=subscribe&hub.challenge=1158863600&hub.verify_token=iNextLabsCloud',
    TOKEN,
  );
  assert.deepEqual(result, {
    ok: true,
    status: 200,
    contentType: 'text/plain',
    body: '1158863600',
  });
});

test('URLSearchParams and plain maps are accepted as the query', () => {
  const params = new URLSearchParams({
    'hub.mode': 'subscribe',
    'hub.challenge': '42',
    'hub.verify_token': TOKEN,
  });
  assert.equal(verifyWebhookSubscription(params, TOKEN).ok, true);
  const map = { 'hub.mode': 'subscribe', 'hub.challenge': ['7', '8'], 'hub.verify_token': TOKEN };
  const result = verifyWebhookSubscription(map, TOKEN);
  assert.equal(result.ok && result.body, '7');
});

test('a wrong verify token is refused with 403', () => {
  const result = verifyWebhookSubscription(
    'hub.mode=subscribe&hub.challenge=1&hub.verify_token=wrong',
    TOKEN,
  );
  assert.equal(result.ok, false);
  assert.equal(result.status, 403);
  assert.equal(!result.ok && result.reason, 'token_mismatch');
  assert.notEqual(result.body, '1');
});

test('a mode other than subscribe is refused with 403', () => {
  const result = verifyWebhookSubscription(
    `hub.mode=unsubscribe&hub.challenge=1&hub.verify_token=${TOKEN}`,
    TOKEN,
  );
  assert.equal(!result.ok && result.reason, 'wrong_mode');
  assert.equal(result.status, 403);
});

test('missing parameters are refused with 400', () => {
  for (const query of [
    '',
    `hub.mode=subscribe&hub.verify_token=${TOKEN}`,
    'hub.mode=subscribe&hub.challenge=1',
    `hub.challenge=1&hub.verify_token=${TOKEN}`,
  ]) {
    const result = verifyWebhookSubscription(query, TOKEN);
    assert.equal(!result.ok && result.reason, 'missing_parameters', query);
    assert.equal(result.status, 400, query);
  }
});

test('a challenge with markup or control characters is never echoed', () => {
  for (const challenge of ['<script>alert(1)</script>', 'a b', 'x\ny', '']) {
    const params = new URLSearchParams({
      'hub.mode': 'subscribe',
      'hub.challenge': challenge,
      'hub.verify_token': TOKEN,
    });
    const result = verifyWebhookSubscription(params, TOKEN);
    assert.equal(result.ok, false, challenge);
    assert.equal(result.status, 400, challenge);
  }
});

test('without a configured verify token every request is refused', () => {
  const query = 'hub.mode=subscribe&hub.challenge=1&hub.verify_token=';
  assert.equal(verifyWebhookSubscription(query, undefined).ok, false);
  const result = verifyWebhookSubscription(query, '');
  assert.equal(!result.ok && result.reason, 'not_configured');
  assert.equal(result.status, 403);
});
