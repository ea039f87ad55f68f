import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CallQualityHistory } from '../../../src/console/call-quality-history.js';
import type { MediaQuality } from '../../../src/media/media-quality.js';

function quality(received: { packets: number; lost: number }, sentFraction?: number): MediaQuality {
  return {
    received: {
      packets: received.packets,
      packetsLost: received.lost,
      reportedLossFraction: undefined,
      jitterMs: 4,
      levelDbfs: -20,
    },
    sent: {
      packets: 0,
      packetsLost: 0,
      reportedLossFraction: sentFraction,
      jitterMs: sentFraction === undefined ? undefined : 6,
      levelDbfs: Number.NEGATIVE_INFINITY,
    },
  };
}

test('received loss is per interval, from the counters’ growth', () => {
  const history = new CallQualityHistory();
  history.sample(new Map([['c', quality({ packets: 100, lost: 0 })]]), 1);
  history.sample(new Map([['c', quality({ packets: 145, lost: 5 })]]), 2);
  history.sample(new Map([['c', quality({ packets: 195, lost: 5 })]]), 3);
  const loss = history.samples('c').map((s) => s.received.lossPercent);
  assert.deepEqual(loss, [0, 10, 0]);
});

test("sent loss is Meta's reported fraction; unknown before a report", () => {
  const history = new CallQualityHistory();
  history.sample(new Map([['c', quality({ packets: 1, lost: 0 })]]), 1);
  history.sample(new Map([['c', quality({ packets: 2, lost: 0 }, 0.125)]]), 2);
  const sent = history.samples('c').map((s) => [s.sent.lossPercent, s.sent.jitterMs]);
  assert.deepEqual(sent, [
    [undefined, undefined],
    [12.5, 6],
  ]);
});

test('an interval without packets has unknown loss, not zero', () => {
  const history = new CallQualityHistory();
  history.sample(new Map([['c', quality({ packets: 10, lost: 0 })]]), 1);
  history.sample(new Map([['c', quality({ packets: 10, lost: 0 })]]), 2);
  assert.equal(history.latest('c')?.received.lossPercent, undefined);
});

test('history is bounded, and calls no longer sampled are forgotten', () => {
  const history = new CallQualityHistory(3);
  for (let i = 0; i < 5; i++) {
    history.sample(new Map([['c', quality({ packets: i * 50, lost: 0 })]]), i);
  }
  assert.deepEqual(
    history.samples('c').map((s) => s.at),
    [2, 3, 4],
  );
  history.sample(new Map([['d', quality({ packets: 1, lost: 0 })]]), 5);
  assert.deepEqual(history.samples('c'), []);
  assert.equal(history.samples('d').length, 1);
});

test('a call whose quality is unknown keeps no samples', () => {
  const history = new CallQualityHistory();
  history.sample(new Map([['c', undefined]]), 1);
  assert.deepEqual(history.samples('c'), []);
});
