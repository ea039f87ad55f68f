import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ToneGenerator, concatPcm, dominantFrequency, rmsDbfs } from '../../../src/media/tone.js';
import { MulawTranscoder } from '../../../src/twilio/mulaw-transcoder.js';
import { PcmDownsampler, PcmUpsampler } from '../../../src/twilio/pcm-resampler.js';

/** Run `frames` 20 ms frames of a tone through `process`, return the concatenated output. */
function throughFrames(
  process: (pcm: Int16Array) => Int16Array,
  frequencyHz: number,
  rate: number,
  frames: number,
  amplitude = 0.3,
): Int16Array {
  const tone = new ToneGenerator(frequencyHz, rate, amplitude);
  const out: Int16Array[] = [];
  for (let i = 0; i < frames; i++) out.push(process(tone.next((rate * 20) / 1000)));
  return concatPcm(out);
}

/** The settled part (the filter's start-up transient dropped). */
function settled(pcm: Int16Array, rate: number): Int16Array {
  return pcm.subarray(Math.round(rate * 0.1));
}

describe('PcmUpsampler / PcmDownsampler', () => {
  for (const factor of [2, 6]) {
    const high = 8000 * factor;
    it(`carries a 1 kHz tone 8 kHz → ${high} Hz at its frequency and level (±0.5 dB)`, () => {
      const up = new PcmUpsampler(factor);
      const out = settled(
        throughFrames((p) => up.process(p), 1000, 8000, 25),
        high,
      );
      assert.equal(out.length, 25 * 160 * factor - high * 0.1);
      assert.equal(dominantFrequency(out, high), 1000);
      assert.ok(Math.abs(rmsDbfs(out) - -13.47) < 0.5, `${rmsDbfs(out)} dBFS`);
    });

    it(`carries a 1 kHz tone ${high} Hz → 8 kHz at its frequency and level (±0.5 dB)`, () => {
      const down = new PcmDownsampler(factor);
      const out = settled(
        throughFrames((p) => down.process(p), 1000, high, 25),
        8000,
      );
      assert.equal(dominantFrequency(out, 8000), 1000);
      assert.ok(Math.abs(rmsDbfs(out) - -13.47) < 0.5, `${rmsDbfs(out)} dBFS`);
    });
  }

  it('keeps content above 4 kHz out of the 8 kHz signal (no aliasing): > 50 dB down', () => {
    const down = new PcmDownsampler(2);
    // 5 kHz would fold to 3 kHz, squarely in the telephone band.
    const out = settled(
      throughFrames((p) => down.process(p), 5000, 16000, 25),
      8000,
    );
    assert.ok(rmsDbfs(out) < -13.47 - 50, `${rmsDbfs(out)} dBFS`);
  });

  it('leaves no images above 4 kHz when going up: > 50 dB down', () => {
    const up = new PcmUpsampler(2);
    // A 3 kHz tone at 8 kHz has its first image at 5 kHz at 16 kHz.
    const out = settled(
      throughFrames((p) => up.process(p), 3000, 8000, 25),
      16000,
    );
    const n = out.length;
    let image = 0;
    let tone = 0;
    for (const [f, acc] of [
      [5000, 'image'],
      [3000, 'tone'],
    ] as const) {
      let re = 0;
      let im = 0;
      for (let i = 0; i < n; i++) {
        re += out[i]! * Math.cos((2 * Math.PI * f * i) / 16000);
        im += out[i]! * Math.sin((2 * Math.PI * f * i) / 16000);
      }
      const power = re * re + im * im;
      if (acc === 'image') image = power;
      else tone = power;
    }
    assert.ok(10 * Math.log10(tone / image) > 50, `${10 * Math.log10(tone / image)} dB`);
  });

  it('gives the same samples frame by frame as in one block (state carries across frames)', () => {
    const input = new ToneGenerator(440, 16000, 0.5).next(16000 / 5);
    const whole = new PcmDownsampler(2).process(input);
    const framed = new PcmDownsampler(2);
    // Odd-sized pieces: the decimation phase must carry over too.
    const pieces = [input.subarray(0, 333), input.subarray(333, 1001), input.subarray(1001)];
    assert.deepEqual(concatPcm(pieces.map((p) => framed.process(p))), whole);
    const upWhole = new PcmUpsampler(6).process(input.subarray(0, 800));
    const upFramed = new PcmUpsampler(6);
    assert.deepEqual(
      concatPcm([
        upFramed.process(input.subarray(0, 160)),
        upFramed.process(input.subarray(160, 800)),
      ]),
      upWhole,
    );
  });

  it('clips instead of wrapping around at full scale', () => {
    // A full-scale step rings above full scale after the edge: it must saturate, not flip sign.
    const step = new Int16Array(800).map((_, i) => (i < 400 ? -32768 : 32767));
    const out = new PcmUpsampler(2).process(step);
    const crossing = out.findIndex((v, i) => i > 600 && v > 0);
    assert.ok(crossing > 0);
    assert.ok(
      out.subarray(crossing).every((v) => v > 0),
      'no sample wraps to negative',
    );
    assert.equal(Math.max(...out), 32767);
  });

  it('refuses factors that are not integers of at least 2', () => {
    assert.throws(() => new PcmUpsampler(1), RangeError);
    assert.throws(() => new PcmDownsampler(1.5), RangeError);
  });
});

describe('MulawTranscoder', () => {
  it('encodes G.711 μ-law reference code words', () => {
    const t = new MulawTranscoder(16000);
    // Silence is 0xFF; the loudest positive and negative codes are 0x80 and 0x00 (ITU-T G.711).
    const decoded = t.decode(new Uint8Array(160).fill(0xff));
    assert.ok(decoded.every((s) => s === 0));
    const loud = t.encode(new Int16Array(320).fill(32767)).subarray(80);
    assert.ok(
      loud.every((b) => b === 0x80),
      `${[...loud.subarray(0, 4)]}`,
    );
    const loudNeg = new MulawTranscoder(16000)
      .encode(new Int16Array(320).fill(-32768))
      .subarray(80);
    assert.ok(
      loudNeg.every((b) => b === 0x00),
      `${[...loudNeg.subarray(0, 4)]}`,
    );
  });

  it('turns 20 ms of μ-law into one 20 ms leg frame and back', () => {
    for (const rate of [16000, 48000]) {
      const t = new MulawTranscoder(rate);
      assert.equal(t.pcmFrameSamples, (rate * 20) / 1000);
      assert.equal(t.decode(new Uint8Array(160)).length, t.pcmFrameSamples);
      assert.equal(t.encode(new Int16Array(t.pcmFrameSamples)).length, 160);
    }
  });

  it('round-trips a voice-band tone within the μ-law quantisation (SNR > 30 dB)', () => {
    const t = new MulawTranscoder(16000);
    const tone = new ToneGenerator(700, 16000, 0.3);
    const sent: Int16Array[] = [];
    const back: Int16Array[] = [];
    for (let i = 0; i < 50; i++) {
      const pcm = tone.next(320);
      sent.push(pcm);
      back.push(t.decode(t.encode(pcm)));
    }
    const a = concatPcm(sent);
    const b = concatPcm(back);
    // Both filters delay the signal by the same whole number of samples; find it, then compare.
    let best = { lag: 0, err: Infinity };
    for (let lag = 0; lag < 200; lag++) {
      let err = 0;
      for (let i = 4000; i < 12000; i++) err += (a[i]! - b[i + lag]!) ** 2;
      if (err < best.err) best = { lag, err };
    }
    let signal = 0;
    for (let i = 4000; i < 12000; i++) signal += a[i]! ** 2;
    const snr = 10 * Math.log10(signal / best.err);
    assert.ok(snr > 30, `SNR ${snr.toFixed(1)} dB at lag ${best.lag}`);
  });

  it('refuses leg rates that are not multiples of 8 kHz', () => {
    assert.throws(() => new MulawTranscoder(44100), RangeError);
    assert.throws(() => new MulawTranscoder(8000), RangeError);
  });
});
