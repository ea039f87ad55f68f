/**
 * RFC 4733 telephone-event (DTMF) payloads: digit ⇄ event-code mapping, an encoder that turns one
 * digit into the sequence of RTP payloads to send, and a decoder that reports every received digit
 * exactly once.
 *
 * WhatsApp carries DTMF only as telephone-event with an 8000 Hz clock (PT 126 in Meta's SDP), in the
 * same RTP stream as the Opus audio. Durations in the payload are therefore in 8 kHz clock units,
 * while the RTP timestamp of the event is taken from the audio stream's clock.
 */
import { ConnectorError } from '../errors/connector-error.js';

/** Length of a telephone-event payload, bytes (event, E/R/volume, 16-bit duration). */
export const TELEPHONE_EVENT_PAYLOAD_BYTES = 4;

/** Clock rate WhatsApp uses for telephone-event, Hz. */
export const TELEPHONE_EVENT_CLOCK_RATE = 8000;

const DIGITS = '0123456789*#ABCD';

/** The characters that are DTMF digits, in event-code order (0-9 → 0-9, * → 10, # → 11, A-D → 12-15). */
export type DtmfDigit =
  '0' | '1' | '2' | '3' | '4' | '5' | '6' | '7' | '8' | '9' | '*' | '#' | 'A' | 'B' | 'C' | 'D';

/** True if `value` is one DTMF digit (A-D also accepted in lower case). */
export function isDtmfDigit(value: string): boolean {
  return value.length === 1 && DIGITS.includes(value.toUpperCase());
}

/**
 * RFC 4733 event code (0-15) of a DTMF digit.
 * @throws ConnectorError `invalid_argument` for anything that is not one of 0-9, *, #, A-D.
 */
export function dtmfDigitToEvent(digit: string): number {
  const index = digit.length === 1 ? DIGITS.indexOf(digit.toUpperCase()) : -1;
  if (index < 0) {
    throw new ConnectorError('invalid_argument', 'DTMF digit must be one of 0-9, *, #, A-D', {
      digit: digit.slice(0, 8),
    });
  }
  return index;
}

/** DTMF digit of an RFC 4733 event code, or `undefined` for codes that are not DTMF (e.g. 16 flash). */
export function dtmfEventToDigit(event: number): DtmfDigit | undefined {
  if (!Number.isInteger(event) || event < 0 || event > 15) return undefined;
  return DIGITS[event] as DtmfDigit;
}

/** One telephone-event RTP payload to send, with the RTP header bits that go with it. */
export interface DtmfPacket {
  /** The 4-byte RFC 4733 payload. */
  payload: Uint8Array;
  /** RTP marker bit: set only on the first packet of an event. */
  marker: boolean;
  /** True for the (repeated) end packets, which carry the E bit. */
  end: boolean;
  /** Event duration carried by this packet, telephone-event clock units (8 kHz → 1 unit = 125 µs). */
  duration: number;
}

export interface DtmfEncodeOptions {
  /** Optional - tone duration, ms. Default 100 (rounded up to whole packet intervals). */
  durationMs?: number;
  /** Optional - interval between packets of one event, ms. Default 20 (WhatsApp ptime). */
  packetIntervalMs?: number;
  /** Optional - telephone-event clock rate, Hz. Default 8000 (the only rate WhatsApp supports). */
  clockRate?: number;
  /** Optional - power level, dBm0 below 0, 0-63. Default 10. */
  volume?: number;
  /** Optional - how many copies of the end packet to send (RFC 4733 §2.5.1.4 recommends 3). Default 3. */
  endPacketCount?: number;
}

/** Build one RFC 4733 payload. `duration` is clamped to 16 bits. */
export function encodeTelephoneEventPayload(
  event: number,
  end: boolean,
  volume: number,
  duration: number,
): Uint8Array {
  const payload = new Uint8Array(TELEPHONE_EVENT_PAYLOAD_BYTES);
  payload[0] = event & 0xff;
  payload[1] = (end ? 0x80 : 0) | (volume & 0x3f);
  const d = Math.max(0, Math.min(0xffff, Math.round(duration)));
  payload[2] = d >> 8;
  payload[3] = d & 0xff;
  return payload;
}

/**
 * All payloads of one DTMF event, in send order, one per packet interval: a start packet (marker
 * set), updates with a growing duration, then `endPacketCount` identical end packets (E bit) that
 * carry the total duration. All of them must be sent with the same RTP timestamp (the event's start)
 * and consecutive sequence numbers; the end copies go out back-to-back or one per interval.
 *
 * @throws ConnectorError `invalid_argument` for a non-DTMF digit or out-of-range options.
 */
export function encodeDtmfDigit(digit: string, options: DtmfEncodeOptions = {}): DtmfPacket[] {
  const event = dtmfDigitToEvent(digit);
  const durationMs = options.durationMs ?? 100;
  const intervalMs = options.packetIntervalMs ?? 20;
  const clockRate = options.clockRate ?? TELEPHONE_EVENT_CLOCK_RATE;
  const volume = options.volume ?? 10;
  const endCount = options.endPacketCount ?? 3;
  if (!(durationMs > 0) || !(intervalMs > 0) || durationMs < intervalMs) {
    throw new ConnectorError(
      'invalid_argument',
      'DTMF duration and packet interval must be positive, duration ≥ interval',
    );
  }
  if (!Number.isInteger(volume) || volume < 0 || volume > 63) {
    throw new ConnectorError('invalid_argument', 'DTMF volume must be an integer 0-63');
  }
  if (!Number.isInteger(endCount) || endCount < 1) {
    throw new ConnectorError('invalid_argument', 'DTMF end packet count must be ≥ 1');
  }
  const unitsPerInterval = Math.round((clockRate * intervalMs) / 1000);
  const intervals = Math.ceil(durationMs / intervalMs);
  const total = unitsPerInterval * intervals;
  if (total > 0xffff) {
    throw new ConnectorError('invalid_argument', 'DTMF duration too long for one event');
  }
  const packets: DtmfPacket[] = [];
  // Updates at 1..intervals-1 intervals; the last interval is reported by the end packets.
  for (let i = 1; i < intervals; i++) {
    const duration = unitsPerInterval * i;
    packets.push({
      payload: encodeTelephoneEventPayload(event, false, volume, duration),
      marker: i === 1,
      end: false,
      duration,
    });
  }
  for (let i = 0; i < endCount; i++) {
    packets.push({
      payload: encodeTelephoneEventPayload(event, true, volume, total),
      marker: intervals === 1 && i === 0,
      end: true,
      duration: total,
    });
  }
  return packets;
}

/** A parsed telephone-event payload. */
export interface TelephoneEventPayload {
  event: number;
  end: boolean;
  volume: number;
  /** Telephone-event clock units. */
  duration: number;
}

/** Parse a telephone-event payload; `undefined` if it is too short to be one. */
export function parseTelephoneEventPayload(payload: Uint8Array): TelephoneEventPayload | undefined {
  if (payload.length < TELEPHONE_EVENT_PAYLOAD_BYTES) return undefined;
  const b1 = payload[1] ?? 0;
  return {
    event: payload[0] ?? 0,
    end: (b1 & 0x80) !== 0,
    volume: b1 & 0x3f,
    duration: ((payload[2] ?? 0) << 8) | (payload[3] ?? 0),
  };
}

/** A digit reported by {@link DtmfDecoder}. */
export interface DecodedDtmf {
  digit: DtmfDigit;
  /** RTP timestamp of the event (identifies it). */
  rtpTimestamp: number;
}

/**
 * Reports each received DTMF event once. RFC 4733 senders repeat every event many times (updates
 * and three end packets, all with the event's RTP timestamp), packets may be lost or reordered, and
 * the start packet may be missing; so an event is identified by its RTP timestamp and reported on
 * the first packet of it that arrives, whichever that is.
 */
export class DtmfDecoder {
  /** Ring of the most recent event timestamps already reported. */
  private readonly seen: number[];
  private seenNext = 0;
  private seenCount = 0;

  /** @param memory how many recent events to remember for de-duplication. Default 16. */
  constructor(memory = 16) {
    this.seen = new Array<number>(Math.max(1, memory)).fill(0);
  }

  /**
   * Feed one received telephone-event payload. Returns the digit the first time an event is seen,
   * `undefined` for repeats, malformed payloads and non-DTMF events.
   * @param rtpTimestamp the packet's RTP timestamp (32-bit unsigned)
   */
  push(payload: Uint8Array, rtpTimestamp: number): DecodedDtmf | undefined {
    const parsed = parseTelephoneEventPayload(payload);
    if (!parsed) return undefined;
    const digit = dtmfEventToDigit(parsed.event);
    if (digit === undefined) return undefined;
    const ts = rtpTimestamp >>> 0;
    for (let i = 0; i < this.seenCount; i++) {
      if (this.seen[i] === ts) return undefined;
    }
    this.seen[this.seenNext] = ts;
    this.seenNext = (this.seenNext + 1) % this.seen.length;
    if (this.seenCount < this.seen.length) this.seenCount++;
    return { digit, rtpTimestamp: ts };
  }

  /** Forget remembered events (e.g. after the remote SSRC changed). */
  reset(): void {
    this.seenCount = 0;
    this.seenNext = 0;
  }
}
