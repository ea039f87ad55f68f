/**
 * Live quality of one call's media leg to Meta, per direction, for operators (the console's
 * live-calls page): packets and loss, interarrival jitter (RFC 3550 A.8) and the audio level.
 * The received direction is measured here; the sent direction's loss and jitter are what Meta's
 * relay reports about our stream in its RTCP receiver reports. Cheap enough to run on every
 * packet and frame: a few arithmetic operations, no allocation.
 */

/** Quality of one direction of a call's audio. */
export interface DirectionQuality {
  /** RTP audio packets in this direction so far (received: Opus from Meta; sent: ours). */
  packets: number;
  /**
   * Packets lost so far: received, sequence gaps played as lost; sent, the cumulative count in
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
   * Level of the audio over roughly the last 100 ms, dBFS (0 = full scale); `-Infinity` for
   * digital silence or before any audio.
   */
  levelDbfs: number;
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

/** A running audio level over 16-bit PCM frames. */
class LevelMeter {
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

  get dbfs(): number {
    // Below one LSB of RMS the result would be noise of the smoothing, not audio.
    if (this.meanSquare < 1) return Number.NEGATIVE_INFINITY;
    return 10 * Math.log10(this.meanSquare / FULL_SCALE_SQUARED);
  }
}

/**
 * Counts and levels of one media leg. The leg calls the `on…` methods from its receive path, its
 * playout clock, its send clock and its RTCP handler; anything may read {@link snapshot}.
 */
export class MediaQualityMeter {
  private readonly receivedLevel = new LevelMeter();
  private readonly sentLevel = new LevelMeter();
  private receivedPackets = 0;
  private receivedLost = 0;
  private sentPackets = 0;
  /** Interarrival jitter estimate, RTP timestamp units (RFC 3550 6.4.1: J += (|D| − J) / 16). */
  private jitter = 0;
  private lastTransit: number | undefined;
  private report: ReceiverReportBlock | undefined;

  constructor(
    /** RTP clock rate of the audio, Hz (Opus: 48000). */
    private readonly clockRate: number,
  ) {}

  /** An audio packet from Meta arrived: its RTP timestamp and the arrival time, ms (monotonic). */
  onPacketReceived(rtpTimestamp: number, arrivalMs: number): void {
    this.receivedPackets++;
    const transit = (arrivalMs * this.clockRate) / 1000 - rtpTimestamp;
    if (this.lastTransit !== undefined) {
      let d = Math.abs(transit - this.lastTransit);
      // A timestamp wrap (2^32) or a new stream is not jitter.
      if (d > this.clockRate) d = 0;
      this.jitter += (d - this.jitter) / 16;
    }
    this.lastTransit = transit;
  }

  /** The playout concealed a packet that never came. */
  onPacketLost(): void {
    this.receivedLost++;
  }

  /** A frame of the user's audio was played out (decoded or concealed). */
  onFrameReceived(pcm: Int16Array): void {
    this.receivedLevel.push(pcm);
  }

  /** A frame went out towards Meta (silence included): one audio packet. */
  onFrameSent(pcm: Int16Array): void {
    this.sentPackets++;
    this.sentLevel.push(pcm);
  }

  /** Meta's relay reported on our stream (a receiver report block for our SSRC). */
  onReceiverReport(block: ReceiverReportBlock): void {
    this.report = block;
  }

  snapshot(): MediaQuality {
    const report = this.report;
    return {
      received: {
        packets: this.receivedPackets,
        packetsLost: this.receivedLost,
        reportedLossFraction: undefined,
        jitterMs:
          this.lastTransit === undefined ? undefined : (this.jitter / this.clockRate) * 1000,
        levelDbfs: this.receivedLevel.dbfs,
      },
      sent: {
        packets: this.sentPackets,
        packetsLost: report?.packetsLost ?? 0,
        reportedLossFraction: report ? report.fractionLost / 256 : undefined,
        jitterMs: report ? (report.jitter / this.clockRate) * 1000 : undefined,
        levelDbfs: this.sentLevel.dbfs,
      },
    };
  }
}
