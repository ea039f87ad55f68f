import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AudioFrame, AudioSource } from '@livekit/rtc-node';
import { CallerAudioPublisher } from '../../../src/room/caller-audio-publisher.js';

/** Stands in for the native AudioSource: captures resolve when the test releases them. */
class ManualSource {
  readonly sampleRate = 16_000;
  queuedDuration = 0;
  readonly captured: Int16Array[] = [];
  readonly waiting: (() => void)[] = [];
  inFlight = 0;
  maxInFlight = 0;
  captureFrame(frame: AudioFrame): Promise<void> {
    // Like rtc-node: the queue estimate grows as soon as a frame is submitted.
    this.queuedDuration += (frame.samplesPerChannel / frame.sampleRate) * 1000;
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    return new Promise((resolve) => {
      this.waiting.push(() => {
        this.inFlight--;
        this.captured.push(frame.data);
        resolve();
      });
    });
  }
  releaseOne() {
    this.waiting.shift()?.();
  }
}

const frameOf = (v: number) => new Int16Array(320).fill(v);
const tick = () => new Promise((r) => setImmediate(r));

test('captures frames one at a time, in order', async () => {
  const source = new ManualSource();
  const publisher = new CallerAudioPublisher(source as unknown as AudioSource, {
    maxQueuedMs: 100,
  });
  publisher.push(frameOf(1));
  publisher.push(frameOf(2));
  publisher.push(frameOf(3));
  for (let i = 0; i < 3; i++) {
    await tick();
    source.releaseOne();
  }
  await tick();
  assert.deepEqual(
    source.captured.map((f) => f[0]),
    [1, 2, 3],
  );
  assert.equal(source.maxInFlight, 1);
  assert.equal(publisher.capturedFrames, 3);
});

test('drops frames instead of queueing beyond maxQueuedMs', async () => {
  const source = new ManualSource();
  const publisher = new CallerAudioPublisher(source as unknown as AudioSource, {
    maxQueuedMs: 60,
  });
  source.queuedDuration = 40; // native queue already holds two frames
  publisher.push(frameOf(1)); // 40 + 20 = 60: accepted
  publisher.push(frameOf(2)); // would be 80: dropped
  assert.equal(publisher.droppedFrames, 1);
  assert.ok(Math.abs(publisher.queuedMs - 60) < 1e-9);
  await tick();
  source.releaseOne();
  await tick();
  assert.deepEqual(
    source.captured.map((f) => f[0]),
    [1],
  );
});

test('after close() nothing more is captured', async () => {
  const source = new ManualSource();
  const publisher = new CallerAudioPublisher(source as unknown as AudioSource);
  publisher.push(frameOf(1));
  publisher.push(frameOf(2));
  publisher.close();
  publisher.close();
  publisher.push(frameOf(3));
  await tick();
  source.releaseOne();
  await tick();
  assert.equal(source.waiting.length, 0);
  assert.deepEqual(
    source.captured.map((f) => f[0]),
    [1],
  );
});
