import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { ConnectorError } from '../../../src/errors/connector-error.js';
import { OpusFrameDecoder, OpusFrameEncoder } from '../../../src/media/opus-codec.js';
import { analyseTone, concatPcm, rmsDbfs, ToneGenerator } from '../../../src/media/tone.js';

describe('Opus frame codec', () => {
  it('round-trips a 1 kHz tone from 48 kHz to a 16 kHz decoder without resampling', () => {
    const encoder = new OpusFrameEncoder({ sampleRate: 48000, bitrate: 32000 });
    const decoder = new OpusFrameDecoder({ sampleRate: 16000 });
    const tone = new ToneGenerator(1000, 48000, 0.3);
    const out: Int16Array[] = [];
    for (let i = 0; i < 50; i++) {
      const pcm = decoder.decode(encoder.encode(tone.next(960)));
      assert.ok(pcm);
      assert.equal(pcm.length, 320);
      out.push(pcm);
    }
    const a = analyseTone(concatPcm(out.slice(10)), 16000, 1000);
    assert.ok(Math.abs(a.frequencyHz - 1000) < 20, `frequency ${a.frequencyHz}`);
    assert.ok(a.levelDbfs > -20, `level ${a.levelDbfs}`);
    assert.ok(a.toneShare > 0.8, `share ${a.toneShare}`);
  });

  it('conceals a lost frame with continuing signal that fades to silence', () => {
    const encoder = new OpusFrameEncoder({ sampleRate: 16000 });
    const decoder = new OpusFrameDecoder({ sampleRate: 16000 });
    assert.equal(rmsDbfs(decoder.conceal()), -Infinity, 'nothing decoded yet: silence');
    const tone = new ToneGenerator(1000, 16000, 0.3);
    for (let i = 0; i < 20; i++) decoder.decode(encoder.encode(tone.next(320)));
    const first = decoder.conceal();
    assert.equal(first.length, 320);
    assert.ok(rmsDbfs(first) > -30, `first concealed frame carries signal: ${rmsDbfs(first)}`);
    let last = first;
    for (let i = 0; i < 10; i++) last = decoder.conceal();
    assert.ok(rmsDbfs(last) < rmsDbfs(first) - 20, 'concealment fades out');
  });

  it('rejects wrong frame lengths and rates, and returns undefined for garbage packets', () => {
    const encoder = new OpusFrameEncoder({ sampleRate: 16000 });
    assert.throws(() => encoder.encode(new Int16Array(100)), ConnectorError);
    assert.throws(() => new OpusFrameEncoder({ sampleRate: 44100 as 16000 }), ConnectorError);
    assert.throws(
      () => new OpusFrameEncoder({ sampleRate: 16000, complexity: 11 }),
      ConnectorError,
    );
    const decoder = new OpusFrameDecoder({ sampleRate: 16000 });
    assert.equal(decoder.decode(new Uint8Array(0)), undefined);
    assert.equal(decoder.decode(Uint8Array.of(0xff, 0xff, 0xff)), undefined);
  });
});
