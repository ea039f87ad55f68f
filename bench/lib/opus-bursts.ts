/**
 * The load side's cheap media: the burst signal encoded to Opus once per process and replayed as
 * packets (no encoder per call), and received packets kept as they arrived and decoded only when
 * the bench analyses them (outside the measurement window). A simulated user or room agent then
 * costs its RTP/SRTP path only, so the 2-core machine can drive 40+ calls.
 */
import { Decoder } from '@evan/opus';
import { FrameClock } from '../../src/media/frame-clock.js';
import { OpusFrameEncoder, type OpusPcmRate } from '../../src/media/opus-codec.js';
import { BurstGenerator, pruneChunks, type BurstPattern, type TimedChunk } from './burst-signal.js';

/** Opus RTP clock ticks per 20 ms frame. */
export const TICKS_PER_FRAME = 960;

/** One loop of a pattern as Opus packets, and which packets start a burst. */
export interface EncodedBursts {
  pattern: BurstPattern;
  packets: Uint8Array[];
  /** onset[i]: packet i carries the first sample of a burst. */
  onset: boolean[];
}

const cache = new Map<string, EncodedBursts>();

/**
 * `pattern` encoded at `sampleRate` (WhatsApp users capture at 16 kHz, room agents at 48 kHz).
 * One loop is one second (50 frames: a whole number of burst periods and of tone cycles, so the
 * loop is seamless); it is taken after one second of encoder warm-up.
 */
export function encodedBursts(pattern: BurstPattern, sampleRate: OpusPcmRate): EncodedBursts {
  const key = `${JSON.stringify(pattern)}@${sampleRate}`;
  const hit = cache.get(key);
  if (hit) return hit;
  if (1000 % pattern.periodMs !== 0) throw new Error('burst period must divide 1000 ms');
  const encoder = new OpusFrameEncoder({ sampleRate, bitrate: 24_000 });
  const generator = new BurstGenerator(pattern, sampleRate);
  const frame = sampleRate / 50;
  const packets: Uint8Array[] = [];
  const onset: boolean[] = [];
  const periodFrames = pattern.periodMs / 20;
  for (let i = 0; i < 100; i++) {
    const payload = encoder.encode(generator.next(frame, 0)).slice();
    if (i < 50) continue;
    packets.push(payload);
    // A continuous tone has one onset only (its first packet), as BurstGenerator records it.
    onset.push(!generator.continuous && (i - 50) % periodFrames === 0);
  }
  const out = { pattern, packets, onset };
  cache.set(key, out);
  return out;
}

/** Plays an {@link EncodedBursts} loop: the next packet per 20 ms tick, recording burst onsets. */
export class BurstReplay {
  /** Wall-clock ms at which each burst's first packet was handed to the sender. */
  readonly onsets: number[] = [];
  private index = 0;
  private started = false;
  timestamp = Math.floor(Math.random() * 2 ** 31);

  constructor(readonly bursts: EncodedBursts) {}

  get pattern(): BurstPattern {
    return this.bursts.pattern;
  }

  /** The next packet; `nowMs` is when it is handed to the sender. */
  next(nowMs = Date.now()): { payload: Uint8Array; timestamp: number } {
    const i = this.index;
    this.index = (i + 1) % this.bursts.packets.length;
    const continuousStart = !this.started && this.bursts.onset.every((o) => !o);
    if (this.bursts.onset[i] || continuousStart) this.onsets.push(nowMs);
    this.started = true;
    const timestamp = this.timestamp;
    this.timestamp = (this.timestamp + TICKS_PER_FRAME) >>> 0;
    return { payload: this.bursts.packets[i]!, timestamp };
  }

  onsetsBetween(fromMs: number, toMs: number): number[] {
    return this.onsets.filter((t) => t >= fromMs && t < toMs);
  }

  prune(ms: number): void {
    let k = 0;
    while (k < this.onsets.length && (this.onsets[k] ?? 0) < ms) k++;
    this.onsets.splice(0, k);
  }
}

/**
 * One 20 ms clock for every sender in a process (one timer instead of one per call); senders
 * that throw are dropped from the tick, not the clock.
 */
export class SharedPacer {
  private readonly senders = new Set<() => void>();
  private readonly clock = new FrameClock({
    onTick: () => {
      for (const send of this.senders) send();
    },
  });

  add(send: () => void): () => void {
    this.senders.add(send);
    this.clock.start();
    return () => {
      this.senders.delete(send);
      if (this.senders.size === 0) this.clock.stop();
    };
  }

  get resyncs(): number {
    return this.clock.resyncs;
  }
}

/**
 * Received Opus packets with their arrival time (ms), decoded to PCM only when read. Keeps at
 * most `keepMs` of history so a long soak does not grow the load side.
 */
export class PacketRecorder {
  private readonly pending: { atMs: number; payload: Uint8Array }[] = [];
  private readonly decoded: TimedChunk[] = [];
  private readonly decoder: Decoder;
  packets = 0;

  constructor(
    readonly sampleRate: OpusPcmRate,
    private readonly keepMs = 120_000,
  ) {
    this.decoder = new Decoder({ channels: 1, sample_rate: sampleRate });
  }

  /** Copies the payload (the transport may reuse its buffer). */
  push(payload: Uint8Array, atMs = Date.now()): void {
    this.packets++;
    this.pending.push({ atMs, payload: Uint8Array.prototype.slice.call(payload) });
    const oldest = this.pending[0];
    // Unread for a long time (a soak call): drop the oldest undecoded audio.
    if (oldest && atMs - oldest.atMs > this.keepMs) this.pending.splice(0, 500);
  }

  /** Everything received so far as PCM chunks stamped with arrival time. */
  chunks(): TimedChunk[] {
    for (const p of this.pending.splice(0)) {
      let bytes: Uint8Array;
      try {
        bytes = this.decoder.decode(p.payload);
      } catch {
        continue;
      }
      const samples = new Int16Array(bytes.byteLength >> 1);
      new Uint8Array(samples.buffer).set(bytes.subarray(0, samples.length * 2));
      this.decoded.push({ atMs: p.atMs, samples });
    }
    const last = this.decoded[this.decoded.length - 1];
    if (last) pruneChunks(this.decoded, last.atMs - this.keepMs);
    return this.decoded;
  }

  /** Forget decoded audio that arrived before `ms`. */
  prune(ms: number): void {
    pruneChunks(this.decoded, ms);
  }
}
