import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MediaQualityMeter } from '../../../src/media/media-quality-meter.js';

const CLOCK = 48_000;
const FRAME_TICKS = 960; // 20 ms at 48 kHz

function tone(amplitude: number, samples = 320): Int16Array {
  const pcm = new Int16Array(samples);
  for (let i = 0; i < samples; i++)
    pcm[i] = Math.round(amplitude * Math.sin((2 * Math.PI * i) / 16));
  return pcm;
}

test('packets that arrive exactly on their timestamps have no jitter', () => {
  const meter = new MediaQualityMeter(CLOCK);
  for (let i = 0; i < 100; i++) meter.onPacketReceived(1000 + i * FRAME_TICKS, i * 20);
  const q = meter.snapshot().received;
  assert.equal(q.packets, 100);
  assert.equal(q.jitterMs, 0);
});

test('alternating ±5 ms arrival offsets converge to the RFC 3550 estimate of about 10 ms', () => {
  const meter = new MediaQualityMeter(CLOCK);
  // Transit differences alternate between +10 ms and −10 ms: J → |D| = 10 ms (1/16 smoothing).
  for (let i = 0; i < 400; i++) meter.onPacketReceived(i * FRAME_TICKS, i * 20 + (i % 2 ? 5 : -5));
  const jitter = meter.snapshot().received.jitterMs!;
  assert.ok(Math.abs(jitter - 10) < 0.5, `jitter ${jitter} ms`);
});

test('a timestamp jump of a new stream is not counted as jitter', () => {
  const meter = new MediaQualityMeter(CLOCK);
  for (let i = 0; i < 10; i++) meter.onPacketReceived(i * FRAME_TICKS, i * 20);
  meter.onPacketReceived(4_000_000_000, 200);
  assert.equal(meter.snapshot().received.jitterMs, 0);
});

test('jitter and loss are unknown until packets or reports arrive', () => {
  const q = new MediaQualityMeter(CLOCK).snapshot();
  assert.equal(q.received.jitterMs, undefined);
  assert.equal(q.sent.jitterMs, undefined);
  assert.equal(q.sent.reportedLossFraction, undefined);
  assert.equal(q.received.levelDbfs, Number.NEGATIVE_INFINITY);
});

test('levels follow the audio of each direction: a half-scale tone reads about −9 dBFS, silence decays', () => {
  const meter = new MediaQualityMeter(CLOCK);
  for (let i = 0; i < 50; i++) {
    meter.onFrameReceived(tone(16_384));
    meter.onFrameSent(new Int16Array(320));
  }
  const q = meter.snapshot();
  // A sine of amplitude A has RMS A/√2: 20·log10(0.5/√2) ≈ −9.0 dBFS.
  assert.ok(Math.abs(q.received.levelDbfs + 9) < 0.5, `received ${q.received.levelDbfs}`);
  assert.equal(q.sent.levelDbfs, Number.NEGATIVE_INFINITY);
  assert.equal(q.sent.packets, 50);
  for (let i = 0; i < 10; i++) meter.onFrameReceived(new Int16Array(320));
  assert.ok(meter.snapshot().received.levelDbfs < -15, 'falls within 200 ms of silence');
});

test("the sent direction's loss and jitter are Meta's receiver report, converted", () => {
  const meter = new MediaQualityMeter(CLOCK);
  meter.onReceiverReport({ fractionLost: 64, packetsLost: 12, jitter: 480 });
  const sent = meter.snapshot().sent;
  assert.equal(sent.reportedLossFraction, 0.25);
  assert.equal(sent.packetsLost, 12);
  assert.equal(sent.jitterMs, 10);
});

test('concealed packets count as received-direction loss', () => {
  const meter = new MediaQualityMeter(CLOCK);
  meter.onPacketReceived(0, 0);
  meter.onPacketLost();
  meter.onPacketLost();
  assert.equal(meter.snapshot().received.packetsLost, 2);
});
