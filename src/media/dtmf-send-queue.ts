/**
 * RFC 4733 scheduling of outgoing DTMF on a 20 ms audio stream, shared by the connector's RTP
 * sender and the simulated WhatsApp user.
 *
 * Digits wait in a bounded queue. Each 20 ms slot of the stream asks {@link DtmfSendQueue.next}
 * what to send: either the telephone-event packets of the event in progress (which replace the
 * audio of that slot: RFC 4733 §2.5.1.2 lets a sender suppress audio during an event, and a
 * receiver that sees both may detect the tone twice), or nothing, meaning the slot carries audio.
 * After each event a few slots of audio follow, so receivers see the events as separate presses.
 *
 * A flood is bounded twice: digits beyond `maxQueuedDigits` are dropped (and counted) instead of
 * growing memory, and since each accepted digit takes at most `durationMs` + three end packets +
 * the gap, the audio a flood can suppress is bounded by the queue length (16 digits at 100 ms:
 * under 3 s, with audio between every two events).
 */
import { ConnectorError } from '../errors/connector-error.js';
import { dtmfDigitToEvent, encodeDtmfDigit, type DtmfPacket } from './rtp-dtmf.js';

export interface DtmfSendQueueOptions {
  /** Optional - digits waiting beyond the one being sent before new ones are dropped. Default 16. */
  maxQueuedDigits?: number;
  /** Optional - tone duration of each digit, ms. Default 100. */
  durationMs?: number;
  /** Optional - audio slots (20 ms each) sent between two events. Default 2. */
  gapSlots?: number;
  /**
   * Optional - how the (three) end packets go out: `spread` one per slot, or `together` back to
   * back in the last slot. Default `spread`.
   */
  endPackets?: 'spread' | 'together';
}

/** Per-enqueue overrides. */
export interface DtmfDigitOptions {
  /** Optional - tone duration, ms. Default: the queue's. */
  durationMs?: number;
  /** Optional - audio slots after this digit. Default: the queue's. */
  gapSlots?: number;
}

/** What {@link DtmfSendQueue.next} hands out for a DTMF slot. */
export interface DtmfSlot {
  /** RTP timestamp of the event: the audio timestamp of the slot it started in. */
  timestamp: number;
  /** Packets to send in this slot, in order (one, or the end packets together). */
  packets: readonly DtmfPacket[];
  /** True when this slot finishes the event. */
  last: boolean;
}

interface QueuedDigit {
  digit: string;
  durationMs: number;
  gapSlots: number;
}

export class DtmfSendQueue {
  /** Digits dropped because the queue was full. */
  dropped = 0;
  /** Events sent to the end. */
  sent = 0;
  private readonly maxQueued: number;
  private readonly durationMs: number;
  private readonly gapSlots: number;
  private readonly together: boolean;
  private readonly queue: QueuedDigit[] = [];
  private packets: DtmfPacket[] | undefined;
  private index = 0;
  private eventTimestamp = 0;
  private gapRemaining = 0;
  private pendingGap = 0;

  constructor(options: DtmfSendQueueOptions = {}) {
    this.maxQueued = Math.max(1, Math.floor(options.maxQueuedDigits ?? 16));
    this.durationMs = options.durationMs ?? 100;
    this.gapSlots = Math.max(0, Math.floor(options.gapSlots ?? 2));
    this.together = options.endPackets === 'together';
    // Fail at construction for a bad duration rather than when the first digit starts.
    encodeDtmfDigit('0', { durationMs: this.durationMs });
  }

  /**
   * Queues digits (0-9, *, #, A-D, case-insensitive). Returns how many were accepted; the rest
   * were dropped because the queue is full (counted in {@link dropped}).
   * @throws ConnectorError `invalid_argument` if any character is not a DTMF digit (nothing is
   * queued then).
   */
  enqueue(digits: string, options: DtmfDigitOptions = {}): number {
    if (digits.length === 0) throw new ConnectorError('invalid_argument', 'no DTMF digits given');
    for (const d of digits) dtmfDigitToEvent(d);
    const durationMs = options.durationMs ?? this.durationMs;
    if (options.durationMs !== undefined) encodeDtmfDigit('0', { durationMs });
    const gapSlots = Math.max(0, Math.floor(options.gapSlots ?? this.gapSlots));
    let accepted = 0;
    for (const d of digits) {
      if (this.queue.length >= this.maxQueued) {
        this.dropped++;
        continue;
      }
      this.queue.push({ digit: d.toUpperCase(), durationMs, gapSlots });
      accepted++;
    }
    return accepted;
  }

  /** Digits waiting (not counting the event in progress). */
  get queued(): number {
    return this.queue.length;
  }

  /** True while an event is in progress, digits wait, or the gap after an event runs. */
  get busy(): boolean {
    return this.packets !== undefined || this.queue.length > 0 || this.gapRemaining > 0;
  }

  /**
   * What the slot starting at audio timestamp `slotTimestamp` carries: DTMF packets, or
   * `undefined` for audio. Call once per 20 ms slot.
   */
  next(slotTimestamp: number): DtmfSlot | undefined {
    if (this.packets === undefined) {
      if (this.gapRemaining > 0) {
        this.gapRemaining--;
        return undefined;
      }
      const digit = this.queue.shift();
      if (digit === undefined) return undefined;
      this.packets = encodeDtmfDigit(digit.digit, { durationMs: digit.durationMs });
      this.pendingGap = digit.gapSlots;
      this.index = 0;
      this.eventTimestamp = slotTimestamp >>> 0;
    }
    const packets = this.packets;
    const first = packets[this.index] as DtmfPacket;
    const batch = this.together && first.end ? packets.slice(this.index) : [first];
    this.index += batch.length;
    const last = this.index >= packets.length;
    if (last) {
      this.packets = undefined;
      this.sent++;
      this.gapRemaining = this.pendingGap;
    }
    return { timestamp: this.eventTimestamp, packets: batch, last };
  }

  /** Drops the queue and any event in progress (e.g. at close). */
  clear(): void {
    this.queue.length = 0;
    this.packets = undefined;
    this.gapRemaining = 0;
  }
}
