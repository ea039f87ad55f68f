import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import {
  AUDIO_FRAME_KIND,
  RoomWorkerAudioChannel,
} from '../../../src/room/room-worker-audio-channel.js';

interface Received {
  kind: number;
  legId: number;
  pcm: Int16Array;
}

/** A channel whose stream loops back to itself: every frame sent is received by it. */
function loopback() {
  const stream = new PassThrough();
  const received: Received[] = [];
  const corrupt: string[] = [];
  const channel = new RoomWorkerAudioChannel(
    stream,
    (kind, legId, pcm) => received.push({ kind, legId, pcm }),
    (reason) => corrupt.push(reason),
  );
  return { stream, channel, received, corrupt };
}

function frame(seed: number, samples = 320): Int16Array {
  return Int16Array.from({ length: samples }, (_, i) => ((seed * 1000 + i * 37) % 65536) - 32768);
}

const tick = () => new Promise((r) => setImmediate(r));

test('frames arrive whole, in order, with kind, leg id and samples intact', async () => {
  const { channel, received } = loopback();
  const frames = [frame(1), frame(2), frame(3, 960)];
  channel.send(AUDIO_FRAME_KIND.callerAudio, 7, frames[0]!);
  channel.send(AUDIO_FRAME_KIND.roomMix, 4_000_000_000, frames[1]!);
  channel.send(AUDIO_FRAME_KIND.roomMix, 1, frames[2]!);
  await tick();
  assert.deepEqual(
    received.map((r) => [r.kind, r.legId]),
    [
      [AUDIO_FRAME_KIND.callerAudio, 7],
      [AUDIO_FRAME_KIND.roomMix, 4_000_000_000],
      [AUDIO_FRAME_KIND.roomMix, 1],
    ],
  );
  received.forEach((r, i) => assert.deepEqual(r.pcm, frames[i]));
  channel.close();
});

test('a subarray of a larger buffer is sent as just its own samples', async () => {
  const { channel, received } = loopback();
  const big = frame(9, 1000);
  channel.send(AUDIO_FRAME_KIND.roomMix, 2, big.subarray(101, 421));
  await tick();
  assert.deepEqual(received[0]!.pcm, big.slice(101, 421));
  channel.close();
});

test('frames split across reads at any byte, or packed several to a read, are reassembled', async () => {
  // Capture the bytes of three frames, then feed them to another channel in odd pieces.
  const sink = new PassThrough();
  const bytes: Buffer[] = [];
  const capture = new PassThrough();
  capture.on('data', (b: Buffer) => bytes.push(b));
  const sender = new RoomWorkerAudioChannel(capture, () => undefined);
  const frames = [frame(4), frame(5), frame(6)];
  frames.forEach((f, i) => sender.send(AUDIO_FRAME_KIND.roomMix, i, f));
  await tick();
  const all = Buffer.concat(bytes);
  const received: Int16Array[] = [];
  new RoomWorkerAudioChannel(sink, (_k, _l, pcm) => received.push(pcm));
  for (const size of [1, 3, 650, 7, 2000]) {
    let off = 0;
    received.length = 0;
    while (off < all.length) {
      sink.write(all.subarray(off, off + size));
      off += size;
      await tick();
    }
    assert.equal(received.length, 3, `piece size ${size}`);
    received.forEach((pcm, i) => assert.deepEqual(pcm, frames[i]));
  }
  sender.close();
});

test('a corrupt length is reported once and the channel stops reading', async () => {
  const { stream, received, corrupt } = loopback();
  const bad = Buffer.alloc(16);
  bad.writeUInt32LE(0xffffff, 0);
  stream.write(bad);
  await tick();
  assert.equal(corrupt.length, 1);
  assert.match(corrupt[0]!, /bad audio frame length/);
  assert.equal(received.length, 0);
  assert.equal(stream.destroyed, true);
});

test('frames are dropped and counted, never queued without bound, when the peer stops reading', () => {
  // Nobody reads `stalled`: its buffer fills up like a socket to a stuck worker.
  const stalled = new PassThrough({ highWaterMark: 1024 });
  const channel = new RoomWorkerAudioChannel(stalled, () => undefined);
  stalled.removeAllListeners('data');
  stalled.pause();
  for (let i = 0; i < 500; i++) channel.send(AUDIO_FRAME_KIND.callerAudio, 1, frame(i));
  assert.ok(channel.framesDropped > 300, `dropped ${channel.framesDropped}`);
  assert.ok(stalled.writableLength < 70 * 1024, `queued ${stalled.writableLength} bytes`);
  channel.close();
  channel.send(AUDIO_FRAME_KIND.callerAudio, 1, frame(1));
  assert.ok(channel.framesDropped > 300);
});
