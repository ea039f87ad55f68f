/**
 * Integer-ratio resampling between the telephone rate (8 kHz) and the room leg's rate (16 or
 * 48 kHz), frame by frame, with the filter state carried across frames so there are no clicks at
 * frame boundaries.
 *
 * One windowed-sinc low-pass FIR (Kaiser window) serves both directions: it removes the images
 * above 4 kHz when going up, and the content above 4 kHz before dropping samples when going down
 * (which would otherwise alias into the telephone band). Written here rather than taken from a
 * package: the native/WASM resamplers on npm are either tied to rtc-node (which the room leg is
 * moving away from) or have no JavaScript API; a fixed-ratio FIR is a few dozen lines.
 */

/** Taps of the low-pass filter per output phase; 32 gives > 60 dB stop-band attenuation. */
const TAPS_PER_PHASE = 32;
/** Kaiser window shape: β = 7 is about 70 dB side-lobe suppression. */
const KAISER_BETA = 7;
/**
 * Cut-off as a fraction of the 8 kHz side's Nyquist (4 kHz): 0.92 → 3.68 kHz, above the
 * telephone band (300-3400 Hz) and far enough below 4 kHz for the transition band.
 */
const CUTOFF = 0.92;

/** Zeroth-order modified Bessel function of the first kind (for the Kaiser window). */
function besselI0(x: number): number {
  let sum = 1;
  let term = 1;
  for (let k = 1; k < 50; k++) {
    term *= (x / (2 * k)) ** 2;
    sum += term;
    if (term < 1e-12 * sum) break;
  }
  return sum;
}

/**
 * Low-pass prototype at the high rate: `factor × TAPS_PER_PHASE` taps, cut-off `CUTOFF × 4 kHz`,
 * DC gain `gain`.
 */
function lowPass(factor: number, gain: number): Float64Array {
  const n = factor * TAPS_PER_PHASE;
  const taps = new Float64Array(n);
  const fc = CUTOFF / (2 * factor); // cycles per sample at the high rate
  const mid = (n - 1) / 2;
  const norm = besselI0(KAISER_BETA);
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const t = i - mid;
    const sinc = t === 0 ? 2 * fc : Math.sin(2 * Math.PI * fc * t) / (Math.PI * t);
    const r = (2 * i) / (n - 1) - 1;
    const w = besselI0(KAISER_BETA * Math.sqrt(Math.max(0, 1 - r * r))) / norm;
    taps[i] = sinc * w;
    sum += taps[i]!;
  }
  for (let i = 0; i < n; i++) taps[i] = (taps[i]! / sum) * gain;
  return taps;
}

function clip16(v: number): number {
  const r = Math.round(v);
  return r > 32767 ? 32767 : r < -32768 ? -32768 : r;
}

/** 8 kHz → `factor × 8 kHz`: zero-stuffing and the low-pass, computed per polyphase branch. */
export class PcmUpsampler {
  readonly #factor: number;
  /** Branch p holds taps p, p + factor, p + 2·factor, … */
  readonly #phases: Float64Array[];
  /** The last TAPS_PER_PHASE input samples, newest last. */
  readonly #history = new Float64Array(TAPS_PER_PHASE);

  /** @param factor output rate / 8 kHz: 2 (16 kHz) or 6 (48 kHz) */
  constructor(readonly factor: number) {
    if (!Number.isInteger(factor) || factor < 2) throw new RangeError('factor must be >= 2');
    this.#factor = factor;
    // Gain `factor` makes up for the zeros stuffed between samples.
    const taps = lowPass(factor, factor);
    this.#phases = Array.from({ length: factor }, (_, p) => {
      const branch = new Float64Array(TAPS_PER_PHASE);
      for (let k = 0; k < TAPS_PER_PHASE; k++) branch[k] = taps[p + k * factor]!;
      return branch;
    });
  }

  /** Resample one block; the output has `factor` times as many samples. */
  process(input: Int16Array): Int16Array {
    const out = new Int16Array(input.length * this.#factor);
    const h = this.#history;
    for (let i = 0; i < input.length; i++) {
      h.copyWithin(0, 1);
      h[TAPS_PER_PHASE - 1] = input[i]!;
      for (let p = 0; p < this.#factor; p++) {
        const branch = this.#phases[p]!;
        let acc = 0;
        for (let k = 0; k < TAPS_PER_PHASE; k++) acc += branch[k]! * h[TAPS_PER_PHASE - 1 - k]!;
        out[i * this.#factor + p] = clip16(acc);
      }
    }
    return out;
  }
}

/** `factor × 8 kHz` → 8 kHz: the low-pass, evaluated only at the kept samples. */
export class PcmDownsampler {
  readonly #factor: number;
  readonly #taps: Float64Array;
  /** The last `taps.length` input samples, newest last. */
  readonly #history: Float64Array;
  /** Input samples seen modulo `factor`, so frames need not be multiples of it. */
  #phase = 0;

  /** @param factor input rate / 8 kHz: 2 (16 kHz) or 6 (48 kHz) */
  constructor(readonly factor: number) {
    if (!Number.isInteger(factor) || factor < 2) throw new RangeError('factor must be >= 2');
    this.#factor = factor;
    this.#taps = lowPass(factor, 1);
    this.#history = new Float64Array(this.#taps.length);
  }

  /** Resample one block; the output has 1/`factor` as many samples (rounded by phase). */
  process(input: Int16Array): Int16Array {
    const n = this.#taps.length;
    const out = new Int16Array(Math.floor((input.length + this.#phase) / this.#factor));
    const h = this.#history;
    let o = 0;
    for (let i = 0; i < input.length; i++) {
      h.copyWithin(0, 1);
      h[n - 1] = input[i]!;
      this.#phase = (this.#phase + 1) % this.#factor;
      if (this.#phase !== 0) continue;
      let acc = 0;
      for (let k = 0; k < n; k++) acc += this.#taps[k]! * h[n - 1 - k]!;
      out[o++] = clip16(acc);
    }
    return out;
  }
}
