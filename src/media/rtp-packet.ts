/**
 * RTP and RTCP packets as the media stages see them, and the parsers for raw bytes (werift's
 * parsers, wrapped so that malformed input comes back as `undefined` instead of an exception or a
 * half-read packet).
 *
 * werift's `RtpPacket.deSerialize` reads past the end of short buffers (a RangeError) and trusts
 * the CSRC count, extension length and padding length; `RtcpPacketConverter.deSerialize` throws on
 * a truncated header. Our wrappers check the fixed header, the lengths RFC 3550 §5.1 and §6.4
 * define, and the padding before calling them, and catch whatever is left.
 */
import { RtcpPacketConverter, RtpHeader, RtpPacket, type RtcpPacket } from 'werift';

/** The RTP header fields the media stages use. werift's `RtpHeader` satisfies it. */
export interface RtpHeaderFields {
  payloadType: number;
  /** 16-bit sequence number. */
  sequenceNumber: number;
  /** 32-bit RTP timestamp (clock of the payload type: 48 kHz for Opus, 8 kHz for DTMF). */
  timestamp: number;
  ssrc: number;
  marker: boolean;
}

/** An RTP packet as the stages see it. werift's `RtpPacket` satisfies it (no copy needed). */
export interface RtpPacketView {
  header: RtpHeaderFields;
  payload: Uint8Array;
}

/** Largest RTP packet accepted from the network, bytes (an Ethernet MTU; Opus packets are < 400). */
export const MAX_RTP_PACKET_BYTES = 1500;

const RTP_FIXED_HEADER = 12;

/**
 * Parses one RTP packet (RFC 3550 §5.1). Returns `undefined` for anything that is not a complete,
 * consistent version-2 packet: shorter than its header, CSRC list or extension say, padding
 * longer than the payload, or larger than {@link MAX_RTP_PACKET_BYTES}.
 */
export function parseRtpPacket(bytes: Uint8Array): RtpPacketView | undefined {
  const length = bytes.length;
  if (length < RTP_FIXED_HEADER || length > MAX_RTP_PACKET_BYTES) return undefined;
  const b0 = bytes[0] as number;
  if (b0 >> 6 !== 2) return undefined;
  let headerLength = RTP_FIXED_HEADER + (b0 & 0x0f) * 4;
  if (b0 & 0x10) {
    if (headerLength + 4 > length) return undefined;
    const words = ((bytes[headerLength + 2] as number) << 8) | (bytes[headerLength + 3] as number);
    headerLength += 4 + words * 4;
  }
  if (headerLength > length) return undefined;
  let padding = 0;
  if (b0 & 0x20) {
    padding = bytes[length - 1] as number;
    if (padding === 0 || headerLength + padding > length) return undefined;
  }
  try {
    const buffer = Buffer.isBuffer(bytes)
      ? bytes
      : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    // The header as werift reads it in its own receive path; the payload from our checked
    // offsets (werift's one-byte extension walk can end past the extension block).
    const { header } = RtpPacket.deSerialize(buffer);
    return { header, payload: buffer.subarray(headerLength, length - padding) };
  } catch {
    return undefined;
  }
}

/** Serialises an RTP packet (for raw transports and tests). */
export function serialiseRtpPacket(packet: RtpPacketView): Buffer {
  const { header, payload } = packet;
  return new RtpPacket(
    new RtpHeader({
      payloadType: header.payloadType & 0x7f,
      sequenceNumber: header.sequenceNumber & 0xffff,
      timestamp: header.timestamp >>> 0,
      ssrc: header.ssrc >>> 0,
      marker: header.marker,
    }),
    Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength),
  ).serialize();
}

/**
 * True if a packet on an rtcp-mux transport is RTCP (RFC 5761 §4: second byte 192-223, which is
 * RTP payload types 64-95 with the marker bit set, never used for RTP).
 */
export function isRtcpPacket(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && (bytes[1] as number) >= 192 && (bytes[1] as number) <= 223;
}

/**
 * Parses a compound RTCP packet (RFC 3550 §6.1). Returns `undefined` unless every packet in it
 * has version 2 and a length that fits; unknown packet types inside a well-formed compound are
 * skipped (werift does the same).
 */
export function parseRtcpPackets(bytes: Uint8Array): RtcpPacket[] | undefined {
  const length = bytes.length;
  if (length < 4 || length > MAX_RTP_PACKET_BYTES) return undefined;
  for (let pos = 0; pos < length;) {
    if (pos + 4 > length) return undefined;
    const b0 = bytes[pos] as number;
    if (b0 >> 6 !== 2) return undefined;
    const size = ((((bytes[pos + 2] as number) << 8) | (bytes[pos + 3] as number)) + 1) * 4;
    if (pos + size > length) return undefined;
    if (b0 & 0x20) {
      const padding = bytes[pos + size - 1] as number;
      if (padding === 0 || padding > size - 4) return undefined;
    }
    pos += size;
  }
  try {
    const buffer = Buffer.isBuffer(bytes)
      ? bytes
      : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    return RtcpPacketConverter.deSerialize(buffer);
  } catch {
    return undefined;
  }
}
