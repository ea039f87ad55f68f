import { test } from 'node:test';
import assert from 'node:assert/strict';
import { WebhookReceiptLog } from '../../../src/gateway/webhook-receipts.js';

test('receipts are kept newest first, up to the capacity', () => {
  const log = new WebhookReceiptLog(3);
  for (let i = 0; i < 5; i++) log.accepted(100 + i, false);
  const recent = log.recent();
  assert.deepEqual(
    recent.map((r) => r.seq),
    [5, 4, 3],
  );
  assert.deepEqual(
    log.recent(2).map((r) => r.bytes),
    [104, 103],
  );
});

test('a processed webhook records its events, numbers, outcomes and latency', () => {
  let now = 1000;
  const log = new WebhookReceiptLog(10, () => now);
  const handle = log.accepted(512, false);
  handle.parsed([
    { kind: 'call_connect', phoneNumberId: '111' },
    { kind: 'call_status', phoneNumberId: '111' },
  ]);
  assert.equal(log.recent()[0]!.processingMs, undefined, 'still processing');
  now = 1250;
  handle.processed(['accepted', 'status_applied']);
  const [r] = log.recent();
  assert.deepEqual(r!.types, ['call_connect', 'call_status']);
  assert.deepEqual(r!.phoneNumberIds, ['111']);
  assert.deepEqual(r!.outcomes, ['accepted', 'status_applied']);
  assert.equal(r!.processingMs, 250);
  assert.equal(r!.signature, 'ok');
  assert.equal(r!.httpStatus, 200);
  assert.equal(r!.forward, 'off');
});

test('refused signatures are recorded with the status answered', () => {
  const log = new WebhookReceiptLog();
  log.refused(42, 'missing', 401);
  log.refused(42, 'mismatch', 403);
  assert.deepEqual(
    log.recent().map((r) => [r.signature, r.httpStatus]),
    [
      ['mismatch', 403],
      ['missing', 401],
    ],
  );
});

test('forward counts follow each forward once, also after its receipt left the ring', () => {
  const log = new WebhookReceiptLog(1);
  const first = log.accepted(1, true);
  const second = log.accepted(1, true);
  assert.deepEqual(log.forwardCounts(), { delivered: 0, failed: 0, inFlight: 2 });
  first.forwarded(true, 1);
  first.forwarded(false, 5); // a second report of the same forward is ignored
  second.forwarded(false, 5);
  assert.deepEqual(log.forwardCounts(), { delivered: 1, failed: 1, inFlight: 0 });
  assert.equal(log.recent()[0]!.forward, 'failed');
  assert.equal(log.recent()[0]!.forwardAttempts, 5);
});

test('copies are returned: a reader cannot change the log', () => {
  const log = new WebhookReceiptLog();
  log.accepted(1, false).parsed([{ kind: 'other', phoneNumberId: undefined }]);
  (log.recent()[0]!.types as string[]).push('forged');
  assert.deepEqual(log.recent()[0]!.types, ['other']);
});
