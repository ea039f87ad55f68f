/**
 * A small fixed-target jitter buffer for one 20 ms-packetised RTP audio stream, pulled by a 20 ms
 * playout clock.
 *
 * Packets are ordered by an extended (wrap-free) sequence number. Playout starts once `targetFrames`
 * packets are buffered; after that every {@link RtpJitterBuffer.pop} yields the next packet, or
 * `lost` when a later packet is already there but this one is not (the caller conceals it), or
 * `underrun` when nothing newer has arrived yet (the caller conceals too, but the slot is not
 * skipped: the packet may only be late). A long underrun (the sender paused) re-enters buffering.
 *
 * Entries may be "skip" slots (`null` payload): sequence numbers that belong to the stream but carry
 * no audio — telephone-event packets share the audio stream's sequence space, and while a DTMF event
 * is sent the audio is usually suppressed. Skip slots are consumed without using a playout tick.
 *
 * Clock drift: if the buffer stays more than one frame above target for a whole second, one frame
 * is dropped to pull latency back (the remote clock runs faster than ours). If it runs slower, the
 * resulting underruns are concealed.
 */

/** Outcome of {@link RtpJitterBuffer.push}. */
export type JitterPushResult = 'accepted' | 'duplicate' | 'late' | 'overflow' | 'reset';

/** Outcome of {@link RtpJitterBuffer.pop}: a packet, a slot to conceal, or nothing to play yet. */
export type JitterPopResult<T> =
  | { kind: 'packet'; payload: T; sequenceNumber: number }
  | { kind: 'lost'; sequenceNumber: number }
  | { kind: 'underrun' }
  | { kind: 'buffering' };

export interface RtpJitterBufferOptions {
  /** Optional - frames buffered before playout starts (and the depth kept), 20 ms each. Default 3. */
  targetFrames?: number;
  /** Optional - most frames held; beyond that the oldest are dropped. Default 10 (200 ms). */
  maxFrames?: number;
  /**
   * Optional - consecutive underruns after which the buffer goes back to buffering (the sender
   * paused or the path stalled). Default 10 (200 ms).
   */
  maxUnderrunFrames?: number;
  /**
   * Optional - a sequence jump larger than this (either way) is treated as a new stream and resets
   * the buffer. Default 1000 packets (20 s of audio).
   */
  resyncThreshold?: number;
}

/** Counters of a {@link RtpJitterBuffer}; all are totals since creation. */
export interface RtpJitterBufferStats {
  /** Packets that arrived after their slot was played or skipped. */
  late: number;
  /** Packets already buffered or already played. */
  duplicates: number;
  /** Packets dropped because the buffer was full or to compensate drift. */
  overflowDrops: number;
  /** Slots played as lost (a newer packet was present). */
  lost: number;
  /** Pops that found nothing to play after playout had started. */
  underruns: number;
  /** Times the buffer was reset by a sequence jump or SSRC change. */
  resets: number;
}

interface Slot<T> {
  ext: number;
  payload: T | null;
}

const SEQ_MOD = 0x10000;
/** `ext` of a free slot; slot objects are reused so the 20 ms path does not allocate them. */
const EMPTY = -1;

/** Jitter buffer keyed by RTP sequence number; `T` is the payload type stored (e.g. Uint8Array). */
export class RtpJitterBuffer<T> {
  readonly targetFrames: number;
  readonly maxFrames: number;
  private readonly maxUnderrunFrames: number;
  private readonly resyncThreshold: number;
  /** Slots indexed by extended sequence modulo capacity. */
  private readonly slots: (Slot<T> | undefined)[];
  private readonly capacity: number;

  /** Highest extended sequence number received; -1 before the first packet. */
  private highest = -1;
  /** Extended sequence number of the next slot to play; meaningful once a packet arrived. */
  private next = 0;
  private playing = false;
  private underrunRun = 0;
  private overTargetTicks = 0;
  private ssrc: number | undefined;

  readonly counters: RtpJitterBufferStats = {
    late: 0,
    duplicates: 0,
    overflowDrops: 0,
    lost: 0,
    underruns: 0,
    resets: 0,
  };

  constructor(options: RtpJitterBufferOptions = {}) {
    this.targetFrames = Math.max(1, Math.floor(options.targetFrames ?? 3));
    this.maxFrames = Math.max(this.targetFrames + 1, Math.floor(options.maxFrames ?? 10));
    this.maxUnderrunFrames = Math.max(1, Math.floor(options.maxUnderrunFrames ?? 10));
    this.resyncThreshold = Math.max(
      this.maxFrames * 2,
      Math.floor(options.resyncThreshold ?? 1000),
    );
    // Skip slots (DTMF) also take room, so keep spare capacity beyond maxFrames.
    this.capacity = this.maxFrames * 4;
    this.slots = new Array<Slot<T> | undefined>(this.capacity);
  }

  /** True once playout has started (and not fallen back to buffering). */
  get isPlaying(): boolean {
    return this.playing;
  }

  /** Sequence span currently buffered ahead of the playout point, in packets (≈ 20 ms each). */
  get depth(): number {
    return this.highest < 0 ? 0 : Math.max(0, this.highest - this.next + 1);
  }

  /**
   * Insert a packet. `payload` null marks a slot that carries no audio (e.g. a DTMF packet).
   * @param sequenceNumber 16-bit RTP sequence number
   * @param ssrc RTP SSRC; a change resets the buffer (the remote restarted its stream)
   */
  push(sequenceNumber: number, ssrc: number, payload: T | null): JitterPushResult {
    const seq = sequenceNumber & 0xffff;
    if (this.ssrc !== ssrc || this.highest < 0) {
      const wasReset = this.ssrc !== undefined;
      this.restart(seq, ssrc);
      this.store(seq, payload);
      if (wasReset) this.counters.resets++;
      return wasReset ? 'reset' : 'accepted';
    }
    const ext = this.extend(seq);
    if (Math.abs(ext - this.highest) > this.resyncThreshold) {
      this.restart(seq, ssrc);
      this.store(seq, payload);
      this.counters.resets++;
      return 'reset';
    }
    if (ext < this.next) {
      // Its slot was already played (or concealed); it could also be a duplicate of a played one.
      this.counters.late++;
      return 'late';
    }
    const existing = this.slots[ext % this.capacity];
    if (existing !== undefined && existing.ext === ext) {
      this.counters.duplicates++;
      return 'duplicate';
    }
    if (ext > this.highest) this.highest = ext;
    this.store(ext, payload);
    let result: JitterPushResult = 'accepted';
    // Keep the span bounded: drop the oldest slots when the newest is too far ahead.
    while (this.highest - this.next + 1 > this.capacity - 1 || this.audioDepth() > this.maxFrames) {
      if (this.dropOldest()) {
        this.counters.overflowDrops++;
        result = 'overflow';
      }
    }
    return result;
  }

  /** Take what plays in the next 20 ms slot. Call exactly once per playout tick. */
  pop(): JitterPopResult<T> {
    if (this.highest < 0) return { kind: 'buffering' };
    if (!this.playing) {
      if (this.audioDepth() < this.targetFrames) return { kind: 'buffering' };
      this.playing = true;
      this.underrunRun = 0;
      this.overTargetTicks = 0;
    }
    this.compensateDrift();
    for (;;) {
      if (this.next > this.highest) {
        this.counters.underruns++;
        if (++this.underrunRun >= this.maxUnderrunFrames) this.playing = false;
        return { kind: 'underrun' };
      }
      const index = this.next % this.capacity;
      const slot = this.slots[index];
      const ext = this.next;
      this.next++;
      if (slot !== undefined && slot.ext === ext) {
        const payload = slot.payload;
        slot.ext = EMPTY;
        slot.payload = null;
        if (payload === null) continue; // skip slot: takes no playout time
        this.underrunRun = 0;
        return { kind: 'packet', payload, sequenceNumber: ext % SEQ_MOD };
      }
      this.counters.lost++;
      this.underrunRun = 0;
      return { kind: 'lost', sequenceNumber: ext % SEQ_MOD };
    }
  }

  /** Drop everything; the next packet starts a new stream (buffering again). */
  reset(): void {
    this.clearSlots();
    this.highest = -1;
    this.next = 0;
    this.playing = false;
    this.ssrc = undefined;
    this.underrunRun = 0;
    this.overTargetTicks = 0;
  }

  private restart(seq: number, ssrc: number): void {
    this.clearSlots();
    this.ssrc = ssrc;
    this.highest = seq;
    this.next = seq;
    this.playing = false;
    this.underrunRun = 0;
    this.overTargetTicks = 0;
  }

  private clearSlots(): void {
    for (const slot of this.slots) {
      if (slot !== undefined) {
        slot.ext = EMPTY;
        slot.payload = null;
      }
    }
  }

  private store(ext: number, payload: T | null): void {
    const index = ext % this.capacity;
    const slot = this.slots[index];
    if (slot !== undefined) {
      slot.ext = ext;
      slot.payload = payload;
    } else {
      this.slots[index] = { ext, payload };
    }
  }

  /** The extended sequence number closest to the highest one seen. */
  private extend(seq: number): number {
    const base = this.highest - (this.highest % SEQ_MOD);
    let ext = base + seq;
    if (ext - this.highest > SEQ_MOD / 2) ext -= SEQ_MOD;
    else if (this.highest - ext > SEQ_MOD / 2) ext += SEQ_MOD;
    return ext;
  }

  /** Audio slots between the playout point and the newest packet (skip slots excluded). */
  private audioDepth(): number {
    let n = 0;
    for (let ext = this.next; ext <= this.highest; ext++) {
      const slot = this.slots[ext % this.capacity];
      if (slot === undefined || slot.ext !== ext || slot.payload !== null) n++;
    }
    return n;
  }

  /** Advance past the oldest slot; true if it held audio (or was a gap). */
  private dropOldest(): boolean {
    const index = this.next % this.capacity;
    const slot = this.slots[index];
    const ext = this.next;
    this.next++;
    if (slot !== undefined && slot.ext === ext) {
      const wasAudio = slot.payload !== null;
      slot.ext = EMPTY;
      slot.payload = null;
      return wasAudio;
    }
    return true;
  }

  private compensateDrift(): void {
    if (this.audioDepth() > this.targetFrames + 1) {
      if (++this.overTargetTicks >= 50) {
        this.overTargetTicks = 0;
        if (this.dropOldest()) this.counters.overflowDrops++;
      }
    } else {
      this.overTargetTicks = 0;
    }
  }
}
