/**
 * Live quality of one call's media leg to Meta, per direction, for operators (the console's
 * live-calls page): packets and loss, interarrival jitter and the audio level. The received
 * direction is what the {@link RtpReceiver} measures; the sent direction's loss and jitter are what
 * Meta's relay says about our stream in its RTCP receiver reports. Levels are measured on the PCM
 * the leg plays out and is given to send.
 */
import type { RtpReceiverStats } from './rtp-receiver.js';
import type { RtpSenderStats } from './rtp-sender.js';

/** Quality of one direction of a call's audio. */
export interface DirectionQuality {
  /** RTP packets in this direction so far (received: from Meta, all payload types; sent: ours). */
  packets: number;
  /**
   * Packets lost so far: received, gaps in Meta's Opus sequence; sent, the cumulative count in
   * Meta's latest receiver report (0 until one arrived).
   */
  packetsLost: number;
  /**
   * Loss fraction 0..1 Meta reported for its last report interval (sent direction only);
   * undefined until a report arrived, and for the received direction (derive it from the counts).
   */
  reportedLossFraction: number | undefined;
  /** Interarrival jitter, ms; undefined until measured (received) or reported by Meta (sent). */
  jitterMs: number | undefined;
  /**
   * Level of the audio over roughly the last 100 ms, dBFS (0 = full scale), `-Infinity` for
   * digital silence; undefined while this direction carries no PCM here (Opus passthrough).
   */
  levelDbfs: number | undefined;
}

/** Quality of a call's media in both directions, as seen by the connector. */
export interface MediaQuality {
  /** From the WhatsApp user (Meta's relay) to the connector. */
  received: DirectionQuality;
  /** From the connector to the WhatsApp user. */
  sent: DirectionQuality;
}

/** What a receiver report block says about one of our streams (RFC 3550 6.4.1). */
export interface ReceiverReportBlock {
  /** Fraction lost since the previous report, in 1/256 units (0..255). */
  fractionLost: number;
  /** Cumulative packets lost. */
  packetsLost: number;
  /** Interarrival jitter in RTP timestamp units. */
  jitter: number;
}

/** Weight of the newest 20 ms frame in the level's running mean square (≈100 ms window). */
const LEVEL_SMOOTHING = 0.2;
const FULL_SCALE_SQUARED = 32768 * 32768;

/** A running audio level over 16-bit PCM frames; a few operations per sample, no allocation. */
export class AudioLevelMeter {
  private meanSquare = 0;

  push(pcm: Int16Array): void {
    if (pcm.length === 0) return;
    let sum = 0;
    for (let i = 0; i < pcm.length; i++) {
      const s = pcm[i]!;
      sum += s * s;
    }
    this.meanSquare += LEVEL_SMOOTHING * (sum / pcm.length - this.meanSquare);
  }

  /** dBFS; `-Infinity` below one LSB of RMS (silence, or nothing measured yet). */
  get dbfs(): number {
    if (this.meanSquare < 1) return Number.NEGATIVE_INFINITY;
    return 10 * Math.log10(this.meanSquare / FULL_SCALE_SQUARED);
  }
}

/** What {@link mediaQuality} is computed from. */
export interface MediaQualityInputs {
  received: Pick<RtpReceiverStats, 'packetsReceived' | 'sequenceGaps' | 'jitterMs'>;
  sent: Pick<RtpSenderStats, 'packetsSent'>;
  /** Level of the PCM played out; undefined while PCM output is off. */
  receivedLevelDbfs: number | undefined;
  /** Level of the PCM given to send; undefined while forwarded Opus is the source. */
  sentLevelDbfs: number | undefined;
  /** Meta's latest report on our stream, if any. */
  report: ReceiverReportBlock | undefined;
  /** RTP clock rate of the audio, Hz (Opus: 48000). */
  clockRate: number;
}

export function mediaQuality(inputs: MediaQualityInputs): MediaQuality {
  const { received, sent, report, clockRate } = inputs;
  return {
    received: {
      packets: received.packetsReceived,
      packetsLost: received.sequenceGaps,
      reportedLossFraction: undefined,
      jitterMs: received.packetsReceived > 0 ? received.jitterMs : undefined,
      levelDbfs: inputs.receivedLevelDbfs,
    },
    sent: {
      packets: sent.packetsSent,
      packetsLost: report?.packetsLost ?? 0,
      reportedLossFraction: report ? report.fractionLost / 256 : undefined,
      jitterMs: report ? (report.jitter / clockRate) * 1000 : undefined,
      levelDbfs: inputs.sentLevelDbfs,
    },
  };
}
