import type { DirectionQuality, MediaQuality } from '../media/media-quality.js';

/** One direction of a call at one sampling instant. */
export interface DirectionSample {
  /**
   * Packets lost in the last interval, % of those expected: measured here for the received
   * direction, as Meta's latest receiver report says for the sent one. Undefined when unknown.
   */
  lossPercent: number | undefined;
  /** Interarrival jitter, ms; undefined when unknown. */
  jitterMs: number | undefined;
  /** Audio level, dBFS; `-Infinity` for silence; undefined when not measured (Opus passthrough). */
  levelDbfs: number | undefined;
}

/** A call's quality at one sampling instant. */
export interface QualitySample {
  /** Epoch ms. */
  at: number;
  /** From the WhatsApp user to the connector. */
  received: DirectionSample;
  /** From the connector to the WhatsApp user. */
  sent: DirectionSample;
}

/** Default sampling period, ms. */
export const QUALITY_SAMPLE_PERIOD_MS = 1000;
/** Samples kept per call (one minute at the default period). */
export const QUALITY_SAMPLES_KEPT = 60;

interface Track {
  last: MediaQuality;
  samples: QualitySample[];
}

/**
 * The recent quality of each live call, for the console's numbers and sparklines: every period,
 * each call's cumulative counters are turned into per-interval loss. Calls that are no longer
 * sampled are forgotten.
 */
export class CallQualityHistory {
  private readonly tracks = new Map<string, Track>();

  constructor(private readonly kept = QUALITY_SAMPLES_KEPT) {}

  /**
   * Take one sample of every call in `calls` (id → its quality now, undefined when unknown); calls
   * not listed are dropped.
   */
  sample(calls: ReadonlyMap<string, MediaQuality | undefined>, at: number): void {
    for (const id of this.tracks.keys()) if (!calls.has(id)) this.tracks.delete(id);
    for (const [id, quality] of calls) {
      if (!quality) continue;
      const track = this.tracks.get(id);
      if (!track) {
        // The first reading has no interval yet: loss over the call so far.
        this.tracks.set(id, { last: quality, samples: [sampleOf(undefined, quality, at)] });
        continue;
      }
      track.samples.push(sampleOf(track.last, quality, at));
      if (track.samples.length > this.kept) track.samples.shift();
      track.last = quality;
    }
  }

  /** Samples of a call, oldest first. */
  samples(callId: string): readonly QualitySample[] {
    return this.tracks.get(callId)?.samples ?? [];
  }

  /** The newest sample of a call. */
  latest(callId: string): QualitySample | undefined {
    return this.tracks.get(callId)?.samples.at(-1);
  }
}

function sampleOf(
  previous: MediaQuality | undefined,
  now: MediaQuality,
  at: number,
): QualitySample {
  return {
    at,
    received: {
      lossPercent: intervalLoss(previous?.received, now.received),
      jitterMs: now.received.jitterMs,
      levelDbfs: now.received.levelDbfs,
    },
    sent: {
      lossPercent:
        now.sent.reportedLossFraction !== undefined
          ? now.sent.reportedLossFraction * 100
          : undefined,
      jitterMs: now.sent.jitterMs,
      levelDbfs: now.sent.levelDbfs,
    },
  };
}

/** Lost packets of the interval as % of the expected ones; undefined when none were expected. */
function intervalLoss(
  previous: DirectionQuality | undefined,
  now: DirectionQuality,
): number | undefined {
  const lost = now.packetsLost - (previous?.packetsLost ?? 0);
  const received = now.packets - (previous?.packets ?? 0);
  const expected = lost + received;
  return expected > 0 ? (Math.max(0, lost) / expected) * 100 : undefined;
}
