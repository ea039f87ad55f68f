/**
 * Keeps a forwarded RTP stream continuous. Packets are forwarded as they arrive, each with its
 * header rewritten onto one outgoing stream: one SSRC, sequence numbers and timestamps that carry
 * on from the last packet forwarded when the incoming stream changes (a new SSRC, or a restart
 * that jumps the sequence), while a gap from loss stays a gap (the receiver's jitter buffer then
 * conceals it, or uses the next packet's in-band FEC) and a reordered packet keeps its place.
 * Duplicates and packets too old to be useful are dropped.
 *
 * Used both ways on the passthrough path: Meta's Opus → the LiveKit track (Meta's relay may restart
 * its stream), and an agent's Opus → Meta (the agent may republish, changing SSRC).
 */

/** The fields of an incoming packet the rewriter reads. */
export interface RewriterInput {
  ssrc: number;
  sequenceNumber: number;
  /** RTP timestamp in the stream's clock. */
  timestamp: number;
  marker: boolean;
  payload: Uint8Array;
}

/** A packet with its header rewritten onto the outgoing stream. */
export interface RewrittenPacket {
  ssrc: number;
  sequenceNumber: number;
  timestamp: number;
  marker: boolean;
  payload: Uint8Array;
}

export interface RtpStreamRewriterOptions {
  /** Optional - SSRC of the outgoing stream. Default random. */
  ssrc?: number;
  /** Optional - RTP clock rate, Hz. Default 48000 (Opus). */
  clockRate?: number;
  /** Optional - RTP timestamp step of one packet, used across a switch. Default 960 (20 ms). */
  frameTicks?: number;
  /**
   * Optional - how far behind the newest forwarded packet a late one may be and still be
   * forwarded, packets. Default 50 (1 s of 20 ms packets).
   */
  maxReorder?: number;
  /**
   * Optional - a sequence jump beyond this (either way) within one SSRC is read as a restart of the
   * incoming stream, packets. Default 1000 (20 s).
   */
  restartThreshold?: number;
  /** Optional - first outgoing sequence number. Default random. */
  initialSequenceNumber?: number;
  /** Optional - first outgoing timestamp. Default random. */
  initialTimestamp?: number;
  /** Optional - monotonic time, ms (bridges the timestamp over a switch). Default performance.now. */
  now?: () => number;
}

/** Counters of an {@link RtpStreamRewriter}. */
export interface RtpStreamRewriterStats {
  forwarded: number;
  duplicates: number;
  /** Dropped: older than `maxReorder` behind the newest forwarded packet. */
  tooLate: number;
  /** Incoming stream switches (SSRC changes and restarts), the first packet excluded. */
  switches: number;
  /** Sequence numbers skipped on the incoming stream (loss, or reordering not yet healed). */
  gaps: number;
}

const SEQ_MOD = 0x10000;
const WINDOW = 128;

export class RtpStreamRewriter {
  readonly ssrc: number;
  private readonly clockRate: number;
  private readonly frameTicks: number;
  private readonly maxReorder: number;
  private readonly restartThreshold: number;
  private readonly now: () => number;
  /** Incoming SSRC being forwarded; undefined before the first packet. */
  private inSsrc: number | undefined;
  /** Highest extended incoming sequence number of the current source. */
  private inHighest = 0;
  private seqOffset = 0;
  private tsOffset = 0;
  /** Newest outgoing sequence number / timestamp, and when it was sent. */
  private outSeq: number;
  private outTs: number;
  private outAt = 0;
  private started = false;
  /** Extended incoming sequence numbers recently forwarded, for duplicate detection. */
  private readonly seen = new Float64Array(WINDOW).fill(-1);
  private readonly counters: RtpStreamRewriterStats = {
    forwarded: 0,
    duplicates: 0,
    tooLate: 0,
    switches: 0,
    gaps: 0,
  };

  constructor(options: RtpStreamRewriterOptions = {}) {
    this.ssrc = (options.ssrc ?? Math.floor(Math.random() * 2 ** 32)) >>> 0;
    this.clockRate = options.clockRate ?? 48000;
    this.frameTicks = options.frameTicks ?? 960;
    this.maxReorder = Math.max(0, Math.floor(options.maxReorder ?? 50));
    this.restartThreshold = Math.max(this.maxReorder + 1, options.restartThreshold ?? 1000);
    this.now = options.now ?? (() => performance.now());
    // The "previous" packet, so the first one forwarded lands on the initial values.
    this.outSeq =
      ((options.initialSequenceNumber ?? Math.floor(Math.random() * SEQ_MOD)) - 1) & 0xffff;
    this.outTs =
      ((options.initialTimestamp ?? Math.floor(Math.random() * 2 ** 32)) - this.frameTicks) >>> 0;
  }

  /** Counters since creation. */
  stats(): RtpStreamRewriterStats {
    return { ...this.counters };
  }

  /**
   * Rewrites one incoming packet; `undefined` when it is dropped (duplicate or too late). The
   * marker bit is set on the first packet after a switch (a new talkspurt for the receiver).
   */
  rewrite(packet: RewriterInput): RewrittenPacket | undefined {
    const seq = packet.sequenceNumber & 0xffff;
    const ts = packet.timestamp >>> 0;
    let marker = packet.marker;
    let ext: number;
    if (this.inSsrc !== packet.ssrc >>> 0) {
      ext = this.switchTo(packet.ssrc >>> 0, seq, ts);
      marker = true;
    } else {
      ext = this.extend(seq);
      const ahead = ext - this.inHighest;
      if (ahead > this.restartThreshold || -ahead > this.restartThreshold) {
        ext = this.switchTo(packet.ssrc >>> 0, seq, ts);
        marker = true;
      } else if (ahead <= 0) {
        if (-ahead > this.maxReorder) {
          this.counters.tooLate++;
          return undefined;
        }
        if (this.seen[ext % WINDOW] === ext) {
          this.counters.duplicates++;
          return undefined;
        }
      } else {
        this.counters.gaps += ahead - 1;
      }
    }
    this.seen[ext % WINDOW] = ext;
    const outSeq = (seq + this.seqOffset) & 0xffff;
    const outTs = (ts + this.tsOffset) >>> 0;
    if (ext >= this.inHighest) {
      this.inHighest = ext;
      this.outSeq = outSeq;
      this.outTs = outTs;
      this.outAt = this.now();
    }
    this.counters.forwarded++;
    return {
      ssrc: this.ssrc,
      sequenceNumber: outSeq,
      timestamp: outTs,
      marker,
      payload: packet.payload,
    };
  }

  /** Starts forwarding a new incoming stream right after the last packet forwarded. */
  private switchTo(ssrc: number, seq: number, ts: number): number {
    if (this.started) this.counters.switches++;
    // The timestamp moves on by the time that passed (whole frames, at least one), so the
    // receiver's playout keeps real-time spacing across the switch.
    let step = this.frameTicks;
    if (this.started) {
      const elapsedTicks = ((this.now() - this.outAt) * this.clockRate) / 1000;
      step = Math.max(1, Math.round(elapsedTicks / this.frameTicks)) * this.frameTicks;
    }
    this.started = true;
    this.inSsrc = ssrc;
    this.seqOffset = (this.outSeq + 1 - seq) & 0xffff;
    this.tsOffset = (this.outTs + step - ts) >>> 0;
    this.seen.fill(-1);
    // Extended numbers of the new source start above any of the old one.
    this.inHighest = SEQ_MOD * 2 + seq;
    return this.inHighest;
  }

  /** The extended sequence number closest to the newest one of the current source. */
  private extend(seq: number): number {
    const base = this.inHighest - (this.inHighest % SEQ_MOD);
    let ext = base + seq;
    if (ext - this.inHighest > SEQ_MOD / 2) ext -= SEQ_MOD;
    else if (this.inHighest - ext > SEQ_MOD / 2) ext += SEQ_MOD;
    return ext;
  }
}
