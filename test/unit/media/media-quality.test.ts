import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AudioLevelMeter, mediaQuality } from '../../../src/media/media-quality.js';

function tone(amplitude: number, samples = 320): Int16Array {
  const pcm = new Int16Array(samples);
  for (let i = 0; i < samples; i++)
    pcm[i] = Math.round(amplitude * Math.sin((2 * Math.PI * i) / 16));
  return pcm;
}

test('a half-scale tone reads about −9 dBFS; silence falls within 200 ms; nothing is −Infinity', () => {
  const meter = new AudioLevelMeter();
  assert.equal(meter.dbfs, Number.NEGATIVE_INFINITY);
  for (let i = 0; i < 50; i++) meter.push(tone(16_384));
  // A sine of amplitude A has RMS A/√2: 20·log10(0.5/√2) ≈ −9.0 dBFS.
  assert.ok(Math.abs(meter.dbfs + 9) < 0.5, `level ${meter.dbfs}`);
  for (let i = 0; i < 10; i++) meter.push(new Int16Array(320));
  assert.ok(meter.dbfs < -15, `after 200 ms of silence: ${meter.dbfs}`);
  for (let i = 0; i < 200; i++) meter.push(new Int16Array(320));
  assert.equal(meter.dbfs, Number.NEGATIVE_INFINITY);
});

const inputs = {
  received: { packetsReceived: 500, sequenceGaps: 7, jitterMs: 3.5 },
  sent: { packetsSent: 480 },
  receivedLevelDbfs: -20,
  sentLevelDbfs: -30,
  report: undefined,
  clockRate: 48_000,
};

test('the received direction is what our receiver measured', () => {
  const q = mediaQuality(inputs);
  assert.deepEqual(q.received, {
    packets: 500,
    packetsLost: 7,
    reportedLossFraction: undefined,
    jitterMs: 3.5,
    levelDbfs: -20,
  });
});

test("the sent direction's loss and jitter are Meta's receiver report, converted to a fraction and ms", () => {
  const q = mediaQuality({
    ...inputs,
    report: { fractionLost: 64, packetsLost: 12, jitter: 480 },
  });
  assert.deepEqual(q.sent, {
    packets: 480,
    packetsLost: 12,
    reportedLossFraction: 0.25,
    jitterMs: 10,
    levelDbfs: -30,
  });
});

test('what is not known yet is undefined: jitter before packets, the sent side before a report', () => {
  const q = mediaQuality({
    ...inputs,
    received: { packetsReceived: 0, sequenceGaps: 0, jitterMs: 0 },
    sentLevelDbfs: undefined,
  });
  assert.equal(q.received.jitterMs, undefined);
  assert.equal(q.sent.jitterMs, undefined);
  assert.equal(q.sent.reportedLossFraction, undefined);
  assert.equal(q.sent.levelDbfs, undefined);
});
