/**
 * Timestamped tone bursts: the signal every bench participant speaks and listens for. A burst is
 * `onMs` of a sine every `periodMs`, aligned to frame starts; the speaker records the wall-clock
 * time its first sample was handed to the sender, the listener the wall-clock time its first
 * sample arrived. All processes read the same machine clock (`Date.now()`), so one-way delay is
 * the difference.
 */
import { rmsDbfs, toneEnergyShare } from '../../src/media/tone.js';

export interface BurstPattern {
  /** Tone frequency, Hz. */
  hz: number;
  /** Burst repetition, ms. Equal to `onMs` for a continuous tone. */
  periodMs: number;
  /** Tone duration per period, ms (a multiple of 20). */
  onMs: number;
  /** 0..1 of full scale. Default 0.3 (−13.5 dBFS RMS). */
  amplitude?: number;
}

/** A chunk of received PCM and the wall-clock time it arrived, ms. */
export interface TimedChunk {
  atMs: number;
  samples: Int16Array;
}

/** Produces the burst signal and remembers when each burst started. */
export class BurstGenerator {
  /** Wall-clock ms at which each burst's first sample was produced. */
  readonly onsets: number[] = [];
  private n = 0;
  private readonly period: number;
  private readonly on: number;
  private readonly amp: number;
  private readonly step: number;

  constructor(
    readonly pattern: BurstPattern,
    readonly sampleRate: number,
  ) {
    this.period = Math.round((pattern.periodMs * sampleRate) / 1000);
    this.on = Math.round((pattern.onMs * sampleRate) / 1000);
    this.amp = (pattern.amplitude ?? 0.3) * 32767;
    this.step = (2 * Math.PI * pattern.hz) / sampleRate;
  }

  get continuous(): boolean {
    return this.on >= this.period;
  }

  /** The next `samples` samples; `nowMs` is when they are handed to the sender. */
  next(samples: number, nowMs = Date.now()): Int16Array {
    const out = new Int16Array(samples);
    for (let i = 0; i < samples; i++) {
      const pos = this.n % this.period;
      if (pos === 0 && !(this.continuous && this.n > 0)) {
        this.onsets.push(nowMs + (i * 1000) / this.sampleRate);
      }
      out[i] =
        pos < this.on ? Math.round(this.amp * Math.sin(this.step * (this.n % this.sampleRate))) : 0;
      this.n++;
    }
    return out;
  }

  /** Burst onsets in [fromMs, toMs). */
  onsetsBetween(fromMs: number, toMs: number): number[] {
    return this.onsets.filter((t) => t >= fromMs && t < toMs);
  }

  /** Forget onsets before `ms` (long runs). */
  prune(ms: number): void {
    let k = 0;
    while (k < this.onsets.length && (this.onsets[k] ?? 0) < ms) k++;
    this.onsets.splice(0, k);
  }
}

/** One received burst: when its first sample arrived and how many of its 20 ms frames carried the tone. */
export interface ReceivedBurst {
  atMs: number;
  goodFrames: number;
}

/** Below this a 2.5 ms block counts as silence, dBFS. */
const SILENCE_DBFS = -40;
/** Above this a 2.5 ms block starts a burst, dBFS. */
const ONSET_DBFS = -30;
/** A 20 ms frame carries the tone if louder than this (source −13.5 dBFS) ... */
const FRAME_MIN_DBFS = -25;
/** ... and this share of its energy is at the tone frequency. */
const FRAME_MIN_SHARE = 0.5;

/**
 * Finds burst onsets in received audio (energy rising above −30 dBFS after at least `minSilenceMs`
 * below −40 dBFS) and counts tone-carrying 20 ms frames after each, up to the next onset.
 * Only chunks that arrived in [fromMs, toMs) are analysed.
 */
export function analyseBursts(
  chunks: readonly TimedChunk[],
  sampleRate: number,
  pattern: BurstPattern,
  fromMs: number,
  toMs: number,
): ReceivedBurst[] {
  const picked = chunks.filter((c) => c.atMs >= fromMs && c.atMs < toMs);
  const total = picked.reduce((n, c) => n + c.samples.length, 0);
  const pcm = new Int16Array(total);
  const starts: number[] = [];
  let off = 0;
  for (const c of picked) {
    starts.push(off);
    pcm.set(c.samples, off);
    off += c.samples.length;
  }
  const timeOf = (sample: number): number => {
    let lo = 0;
    let hi = starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if ((starts[mid] ?? 0) <= sample) lo = mid;
      else hi = mid - 1;
    }
    return (picked[lo]?.atMs ?? 0) + ((sample - (starts[lo] ?? 0)) * 1000) / sampleRate;
  };
  const block = Math.round(sampleRate / 400);
  const minSilenceBlocks = Math.max(
    4,
    Math.floor(((pattern.periodMs - pattern.onMs) / 2) * (sampleRate / 1000 / block)),
  );
  const frame = Math.round(sampleRate / 50);
  const expected = Math.round(pattern.onMs / 20);
  const onsets: number[] = [];
  let silentBlocks = 0;
  let armed = false;
  /** First non-silent block after an armed silence: where the burst starts. */
  let candidate = -1;
  for (let b = 0; b + block <= pcm.length; b += block) {
    const level = rmsDbfs(pcm.subarray(b, b + block));
    if (level < SILENCE_DBFS) {
      silentBlocks++;
      if (silentBlocks >= minSilenceBlocks) armed = true;
      candidate = -1;
      continue;
    }
    silentBlocks = 0;
    if (!armed) continue;
    if (candidate < 0) candidate = b;
    if (level > ONSET_DBFS) {
      // Refine to the first sample above −40 dBFS peak from where the rise began.
      let s = candidate;
      while (s < b + block && Math.abs(pcm[s] ?? 0) < 330) s++;
      onsets.push(s);
      armed = false;
      candidate = -1;
    }
  }
  const out: ReceivedBurst[] = [];
  for (let i = 0; i < onsets.length; i++) {
    const start = onsets[i] ?? 0;
    const end = Math.min(
      onsets[i + 1] ?? pcm.length,
      start + Math.round((pattern.periodMs * sampleRate) / 1000),
      pcm.length,
    );
    let good = 0;
    for (let f = start; f + frame <= end && good < expected; f += frame) {
      const fr = pcm.subarray(f, f + frame);
      if (
        rmsDbfs(fr) > FRAME_MIN_DBFS &&
        toneEnergyShare(fr, sampleRate, pattern.hz) > FRAME_MIN_SHARE
      )
        good++;
    }
    out.push({ atMs: timeOf(start), goodFrames: good });
  }
  return out;
}

/** Wall-clock time of the first chunk at or after `fromMs` that carries the tone, or undefined. */
export function firstToneAt(
  chunks: readonly TimedChunk[],
  sampleRate: number,
  hz: number,
  fromMs: number,
): number | undefined {
  for (const c of chunks) {
    if (c.atMs < fromMs || c.samples.length < sampleRate / 200) continue;
    if (
      rmsDbfs(c.samples) > ONSET_DBFS &&
      toneEnergyShare(c.samples, sampleRate, hz) > FRAME_MIN_SHARE
    )
      return c.atMs;
  }
  return undefined;
}

/**
 * Signal-to-noise ratio of a continuous tone, dB: tone energy share s in 100 ms windows (mean),
 * SNR = s / (1 − s). Gaps, concealment artefacts and codec noise all count as noise. Capped at 60 dB.
 */
export function toneSnrDb(
  chunks: readonly TimedChunk[],
  sampleRate: number,
  hz: number,
  fromMs: number,
  toMs: number,
): number {
  const picked = chunks.filter((c) => c.atMs >= fromMs && c.atMs < toMs);
  const total = picked.reduce((n, c) => n + c.samples.length, 0);
  const pcm = new Int16Array(total);
  let off = 0;
  for (const c of picked) {
    pcm.set(c.samples, off);
    off += c.samples.length;
  }
  const size = Math.round(sampleRate / 10);
  let signal = 0;
  let noise = 0;
  for (let o = 0; o + size <= pcm.length; o += size) {
    const w = pcm.subarray(o, o + size);
    const share = toneEnergyShare(w, sampleRate, hz);
    let energy = 0;
    for (let i = 0; i < w.length; i++) energy += ((w[i] ?? 0) / 32768) ** 2;
    signal += share * energy;
    noise += (1 - share) * energy;
  }
  if (signal === 0) return -Infinity;
  if (noise <= signal * 1e-6) return 60;
  return Math.min(60, 10 * Math.log10(signal / noise));
}

/** Keeps only chunks that arrived at or after `ms`. */
export function pruneChunks(chunks: TimedChunk[], ms: number): void {
  let k = 0;
  while (k < chunks.length && (chunks[k]?.atMs ?? 0) < ms) k++;
  chunks.splice(0, k);
}
