/**
 * Test-signal helpers used by the simulator's "speaking" user, the demo participant, tests and
 * benchmarks: a phase-continuous sine generator and a Goertzel-based tone/level analyser.
 */

/** Generates a continuous sine tone as 16-bit PCM, frame after frame, without phase jumps. */
export class ToneGenerator {
  private phase = 0;

  /**
   * @param frequencyHz tone frequency in Hz
   * @param sampleRate samples per second
   * @param amplitude peak amplitude as a fraction of full scale (0..1). Default 0.3.
   */
  constructor(
    readonly frequencyHz: number,
    readonly sampleRate: number,
    readonly amplitude = 0.3,
  ) {}

  /** Next `samples` samples of the tone. */
  next(samples: number): Int16Array {
    const out = new Int16Array(samples);
    const step = (2 * Math.PI * this.frequencyHz) / this.sampleRate;
    const peak = this.amplitude * 32767;
    for (let i = 0; i < samples; i++) {
      out[i] = Math.round(Math.sin(this.phase) * peak);
      this.phase += step;
    }
    this.phase %= 2 * Math.PI;
    return out;
  }
}

/** RMS level of 16-bit PCM in dBFS (a full-scale sine is −3 dBFS). −Infinity for silence. */
export function rmsDbfs(samples: Int16Array): number {
  if (samples.length === 0) return -Infinity;
  let sum = 0;
  for (let i = 0; i < samples.length; i++) {
    const v = (samples[i] ?? 0) / 32768;
    sum += v * v;
  }
  const rms = Math.sqrt(sum / samples.length);
  return rms === 0 ? -Infinity : 20 * Math.log10(rms);
}

/** Power of one frequency in the signal (Goertzel), normalised to the signal's total power (0..1). */
export function toneEnergyShare(
  samples: Int16Array,
  sampleRate: number,
  frequencyHz: number,
): number {
  const n = samples.length;
  if (n === 0) return 0;
  const k = Math.round((n * frequencyHz) / sampleRate);
  const w = (2 * Math.PI * k) / n;
  const coeff = 2 * Math.cos(w);
  let s1 = 0;
  let s2 = 0;
  let total = 0;
  for (let i = 0; i < n; i++) {
    const x = (samples[i] ?? 0) / 32768;
    total += x * x;
    const s0 = x + coeff * s1 - s2;
    s2 = s1;
    s1 = s0;
  }
  const power = s1 * s1 + s2 * s2 - coeff * s1 * s2;
  if (total === 0) return 0;
  // Goertzel power of a pure bin equals (n/2)^2 * A^2 / ... ; normalise so a pure tone gives ~1.
  return Math.min(1, (2 * power) / (n * total));
}

/** Dominant frequency estimated from zero crossings (good enough for a clean test tone). */
export function zeroCrossingFrequency(samples: Int16Array, sampleRate: number): number {
  let crossings = 0;
  for (let i = 1; i < samples.length; i++) {
    const a = samples[i - 1] ?? 0;
    const b = samples[i] ?? 0;
    if ((a < 0 && b >= 0) || (a >= 0 && b < 0)) crossings++;
  }
  return (crossings / 2) * (sampleRate / samples.length);
}

export interface ToneAnalysis {
  /** RMS level, dBFS. */
  levelDbfs: number;
  /** Share of the signal's energy at the expected frequency, in 100 ms windows (0..1). */
  toneShare: number;
  /** Dominant frequency (Goertzel scan in 5 Hz steps), Hz. */
  frequencyHz: number;
}

/**
 * Level, tonality and dominant frequency of a test tone. Both frequency and share are measured
 * over short windows so that one concealed or late frame (a phase jump) does not make a clean
 * tone look like noise; holes still show as a lower level and share.
 */
export function analyseTone(
  samples: Int16Array,
  sampleRate: number,
  expectedHz: number,
): ToneAnalysis {
  return {
    levelDbfs: rmsDbfs(samples),
    toneShare: windowedToneShare(samples, sampleRate, expectedHz),
    frequencyHz: dominantFrequency(samples, sampleRate, 50, Math.min(4000, sampleRate / 2 - 1), 5),
  };
}

/** Concatenate PCM chunks. */
export function concatPcm(chunks: Int16Array[]): Int16Array {
  const total = chunks.reduce((n, c) => n + c.length, 0);
  const out = new Int16Array(total);
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.length;
  }
  return out;
}

/**
 * Mean tone share over consecutive windows of `windowMs`. A long single Goertzel window loses
 * coherence at any phase discontinuity (a concealed or dropped frame); short windows measure how
 * tonal the signal is without demanding phase continuity over the whole span.
 */
export function windowedToneShare(
  samples: Int16Array,
  sampleRate: number,
  frequencyHz: number,
  windowMs = 100,
): number {
  const size = Math.round((sampleRate * windowMs) / 1000);
  let sum = 0;
  let count = 0;
  for (let off = 0; off + size <= samples.length; off += size) {
    sum += toneEnergyShare(samples.subarray(off, off + size), sampleRate, frequencyHz);
    count++;
  }
  return count === 0 ? 0 : sum / count;
}

/**
 * Frequency (Hz) with the most energy between `minHz` and `maxHz`, found by a Goertzel scan
 * averaged over 100 ms windows (resolution `stepHz`). Unlike zero crossings it is not thrown
 * off by short gaps or noise, so tests can check "which tone" apart from "how continuous".
 */
export function dominantFrequency(
  samples: Int16Array,
  sampleRate: number,
  minHz = 100,
  maxHz = 4000,
  stepHz = 10,
): number {
  const size = Math.round(sampleRate / 10);
  let best = 0;
  let bestPower = -1;
  for (let f = minHz; f <= maxHz && f < sampleRate / 2; f += stepHz) {
    let power = 0;
    const coeff = 2 * Math.cos((2 * Math.PI * f) / sampleRate);
    for (let off = 0; off + size <= samples.length; off += size) {
      let s1 = 0;
      let s2 = 0;
      for (let i = off; i < off + size; i++) {
        const s0 = (samples[i] ?? 0) + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
      }
      power += s1 * s1 + s2 * s2 - coeff * s1 * s2;
    }
    if (power > bestPower) {
      bestPower = power;
      best = f;
    }
  }
  return best;
}
