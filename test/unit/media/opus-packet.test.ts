import assert from 'node:assert/strict';
import { test } from 'node:test';

import { Decoder, Encoder } from '@evan/opus';

import { OPUS_SILENCE_FRAME, readOpusPacketInfo } from '../../../src/media/opus-packet.js';
import { ToneGenerator } from '../../../src/media/tone.js';

test('the TOC of real encoder output gives its duration, bandwidth and channels', () => {
  const cases: [rate: 16000 | 48000, ms: 20 | 40 | 60, bandwidth: string][] = [
    [16000, 20, 'wideband'],
    [48000, 20, 'fullband'],
    [16000, 40, 'wideband'],
    [48000, 60, 'fullband'],
  ];
  for (const [rate, ms, bandwidth] of cases) {
    const encoder = new Encoder({ channels: 1, sample_rate: rate, application: 'audio' });
    encoder.bitrate = 64_000;
    encoder.expert_frame_duration = ms;
    const tone = new ToneGenerator(440, rate, 0.3);
    let info;
    for (let i = 0; i < 5; i++)
      info = readOpusPacketInfo(encoder.encode(tone.next((rate * ms) / 1000)));
    assert.equal(info?.durationMs, ms, `${rate} Hz ${ms} ms`);
    assert.equal(info?.stereo, false);
    assert.equal(info?.bandwidth, bandwidth, `${rate} Hz ${ms} ms`);
  }
});

test('hand-built TOCs: SILK, hybrid and CELT configs, code 1-3 frame counts, invalid packets', () => {
  assert.deepEqual(readOpusPacketInfo(Uint8Array.of(0x08)), {
    frameMs: 20,
    frames: 1,
    durationMs: 20,
    bandwidth: 'narrowband',
    stereo: false,
  });
  assert.equal(readOpusPacketInfo(Uint8Array.of((13 << 3) | 1))?.durationMs, 40); // hybrid SWB 20 ms ×2
  assert.equal(readOpusPacketInfo(Uint8Array.of((31 << 3) | 4))?.stereo, true);
  assert.equal(readOpusPacketInfo(Uint8Array.of((16 << 3) | 3, 8))?.durationMs, 20); // 8 × 2.5 ms
  assert.equal(readOpusPacketInfo(Uint8Array.of((3 << 3) | 3, 3)), undefined, '3 × 60 ms > 120');
  assert.equal(readOpusPacketInfo(Uint8Array.of((1 << 3) | 3, 0)), undefined, 'zero frames');
  assert.equal(readOpusPacketInfo(Uint8Array.of((1 << 3) | 3)), undefined, 'missing count byte');
  assert.equal(readOpusPacketInfo(new Uint8Array(0)), undefined);
});

test('the keep-alive frame is 20 ms of digital silence for any decoder rate', () => {
  assert.equal(readOpusPacketInfo(OPUS_SILENCE_FRAME)?.durationMs, 20);
  for (const rate of [16000, 48000] as const) {
    const bytes = new Decoder({ channels: 1, sample_rate: rate }).decode(OPUS_SILENCE_FRAME);
    const pcm = new Int16Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 2);
    assert.equal(pcm.length, rate / 50);
    assert.ok(pcm.every((s) => s === 0));
  }
});
