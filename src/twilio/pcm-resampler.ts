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

/**
 * A block's input preceded by the last `keep` input samples of the previous block, so each output
 * is one dot product over a contiguous window (no per-sample shifting of a history buffer).
 */
class FilterWindow {
  #buf: Float64Array;
  readonly #keep: number;

  constructor(keep: number) {
    this.#keep = keep;
    this.#buf = new Float64Array(keep);
  }

  /** The working buffer for `input`: `keep` samples of history, then `input`. */
  load(input: Int16Array): Float64Array {
    const need = this.#keep + input.length;
    if (this.#buf.length < need) {
      const grown = new Float64Array(need);
      grown.set(this.#buf.subarray(0, this.#keep));
      this.#buf = grown;
    }
    const buf = this.#buf;
    for (let i = 0; i < input.length; i++) buf[this.#keep + i] = input[i]!;
    return buf;
  }

  /** Keep the last `keep` samples of the block just processed as the next block's history. */
  advance(inputLength: number): void {
    this.#buf.copyWithin(0, inputLength, inputLength + this.#keep);
  }
}

/** 8 kHz → `factor × 8 kHz`: zero-stuffing and the low-pass, computed per polyphase branch. */
export class PcmUpsampler {
  readonly #factor: number;
  /** Branch p holds taps p, p + factor, p + 2·factor, … */
  readonly #phases: Float64Array[];
  readonly #window = new FilterWindow(TAPS_PER_PHASE - 1);

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
    const factor = this.#factor;
    const out = new Int16Array(input.length * factor);
    const buf = this.#window.load(input);
    for (let i = 0; i < input.length; i++) {
      // The newest sample is buf[newest]; tap k weighs the sample k steps older.
      const newest = TAPS_PER_PHASE - 1 + i;
      for (let p = 0; p < factor; p++) {
        const branch = this.#phases[p]!;
        let acc = 0;
        for (let k = 0; k < TAPS_PER_PHASE; k++) acc += branch[k]! * buf[newest - k]!;
        out[i * factor + p] = clip16(acc);
      }
    }
    this.#window.advance(input.length);
    return out;
  }
}

/** `factor × 8 kHz` → 8 kHz: the low-pass, evaluated only at the kept samples. */
export class PcmDownsampler {
  readonly #factor: number;
  readonly #taps: Float64Array;
  readonly #window: FilterWindow;
  /** Input samples seen modulo `factor`, so blocks need not be multiples of it. */
  #phase = 0;

  /** @param factor input rate / 8 kHz: 2 (16 kHz) or 6 (48 kHz) */
  constructor(readonly factor: number) {
    if (!Number.isInteger(factor) || factor < 2) throw new RangeError('factor must be >= 2');
    this.#factor = factor;
    this.#taps = lowPass(factor, 1);
    this.#window = new FilterWindow(this.#taps.length - 1);
  }

  /** Resample one block; the output has 1/`factor` as many samples (rounded by phase). */
  process(input: Int16Array): Int16Array {
    const taps = this.#taps;
    const n = taps.length;
    const out = new Int16Array(Math.floor((input.length + this.#phase) / this.#factor));
    const buf = this.#window.load(input);
    // The first input sample that completes a group of `factor`.
    let o = 0;
    for (
      let i = (this.#factor - 1 - this.#phase) % this.#factor;
      i < input.length;
      i += this.#factor
    ) {
      const newest = n - 1 + i;
      let acc = 0;
      for (let k = 0; k < n; k++) acc += taps[k]! * buf[newest - k]!;
      out[o++] = clip16(acc);
    }
    this.#phase = (this.#phase + input.length) % this.#factor;
    this.#window.advance(input.length);
    return out;
  }
}
