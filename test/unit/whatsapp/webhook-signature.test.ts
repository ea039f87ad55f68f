import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import {
  encodeWebhookBody,
  signWebhookBody,
  verifyWebhookSignature,
} from '../../../src/whatsapp/webhook-signature.js';

const secret = 'app-secret-123';
const body = Buffer.from('{"object":"whatsapp_business_account","entry":[]}');

test('signature is sha256= followed by the lowercase hex HMAC of the raw bytes', () => {
  const expected = createHmac('sha256', secret).update(body).digest('hex');
  assert.equal(signWebhookBody(body, secret), `sha256=${expected}`);
  assert.match(signWebhookBody(body, secret), /^sha256=[0-9a-f]{64}$/);
});

test('a string body is signed as its UTF-8 bytes', () => {
  const text = '{"name":"Jörg"}';
  assert.equal(signWebhookBody(text, secret), signWebhookBody(Buffer.from(text, 'utf8'), secret));
});

test('a body signed with the app secret verifies', () => {
  assert.equal(verifyWebhookSignature(body, signWebhookBody(body, secret), secret), true);
});

test('uppercase hex in the header still verifies', () => {
  const hex = signWebhookBody(body, secret).slice('sha256='.length);
  assert.equal(verifyWebhookSignature(body, `sha256=${hex.toUpperCase()}`, secret), true);
});

test('a missing header does not verify', () => {
  assert.equal(verifyWebhookSignature(body, undefined, secret), false);
  assert.equal(verifyWebhookSignature(body, '', secret), false);
});

test('a signature made with another secret does not verify', () => {
  assert.equal(verifyWebhookSignature(body, signWebhookBody(body, 'other'), secret), false);
});

test('a tampered body does not verify', () => {
  const header = signWebhookBody(body, secret);
  const tampered = Buffer.from(body.toString().replace('entry', 'entrx'));
  assert.equal(verifyWebhookSignature(tampered, header, secret), false);
});

test('malformed headers do not verify and do not throw', () => {
  const hex = signWebhookBody(body, secret).slice('sha256='.length);
  for (const header of [
    hex,
    `sha1=${hex}`,
    `sha256=${hex.slice(2)}`,
    `sha256=${hex}00`,
    `sha256=${'zz'.repeat(32)}`,
    'sha256=',
    'garbage',
  ]) {
    assert.equal(verifyWebhookSignature(body, header, secret), false, header);
  }
});

test('an empty app secret never verifies', () => {
  assert.equal(verifyWebhookSignature(body, signWebhookBody(body, ''), ''), false);
});

test('webhook bodies escape non-ASCII as lowercase \\u sequences, as Meta signs them', () => {
  const payload = { name: 'äöå', emoji: '😀', plain: 'abc' };
  const encoded = encodeWebhookBody(payload);
  assert.equal(encoded, '{"name":"\\u00e4\\u00f6\\u00e5","emoji":"\\ud83d\\ude00","plain":"abc"}');
  assert.match(encoded, /^[\x20-\x7e]*$/);
  assert.deepEqual(JSON.parse(encoded), payload);
  assert.equal(verifyWebhookSignature(encoded, signWebhookBody(encoded, secret), secret), true);
});
