import { test } from 'node:test';
import assert from 'node:assert/strict';
import { WebhookForwarder } from '../../../src/gateway/webhook-forwarder.js';
import { silentLogger } from '../../../src/log/index.js';
import { verifyWebhookSignature } from '../../../src/whatsapp/webhook-signature.js';

function forwarderAnswering(statuses: (number | Error)[]) {
  const calls: { body: Buffer; signature: string | undefined }[] = [];
  const fetch = (async (_url: string, init: RequestInit) => {
    const headers = init.headers as Record<string, string>;
    calls.push({ body: init.body as Buffer, signature: headers['X-Hub-Signature-256'] });
    const next = statuses.shift() ?? 200;
    if (next instanceof Error) throw next;
    return new Response(null, { status: next });
  }) as typeof globalThis.fetch;
  const forwarder = new WebhookForwarder({
    url: 'http://business.invalid/hook',
    maxAttempts: 3,
    timeoutMs: 1000,
    initialBackoffMs: 1,
    logger: silentLogger,
    fetch,
  });
  return { forwarder, calls };
}

test('server errors and network failures are retried up to the attempt limit', async () => {
  const { forwarder, calls } = forwarderAnswering([503, new TypeError('fetch failed'), 503]);
  const outcome = await forwarder.forward(Buffer.from('{}'), 'secret');
  assert.deepEqual(outcome, { delivered: false, attempts: 3, status: 503 });
  assert.equal(calls.length, 3);
});

test('a client error (other than 408/429) is final', async () => {
  const { forwarder, calls } = forwarderAnswering([400]);
  const outcome = await forwarder.forward(Buffer.from('{}'), 'secret');
  assert.deepEqual(outcome, { delivered: false, attempts: 1, status: 400 });
  assert.equal(calls.length, 1);
});

test('every attempt carries the same body, signed with the given secret', async () => {
  const { forwarder, calls } = forwarderAnswering([429, 200]);
  const body = Buffer.from('{"object":"whatsapp_business_account"}');
  const outcome = await forwarder.forward(body, 'app-secret');
  assert.equal(outcome.delivered, true);
  assert.equal(outcome.attempts, 2);
  for (const c of calls) {
    assert.equal(c.body, body);
    assert.ok(verifyWebhookSignature(c.body, c.signature, 'app-secret'));
  }
});

test('after close nothing more is sent', async () => {
  const { forwarder, calls } = forwarderAnswering([]);
  forwarder.close();
  const outcome = await forwarder.forward(Buffer.from('{}'), 'secret');
  assert.equal(outcome.delivered, false);
  assert.equal(calls.length, 0);
});
