/**
 * Sends a ready RTP payload (our own sequence number and timestamp) on a werift sender with a
 * chosen payload type, for the simulator's media legs (Meta's relay towards the business, the
 * bridge towards a browser) where audio and telephone-event share one SSRC.
 */
import { RtpHeader, RtpPacket, type RTCRtpCodecParameters, type RTCRtpSender } from 'werift';

/** One RTP payload to send. */
export interface OutgoingRtp {
  payloadType: number;
  sequenceNumber: number;
  /** RTP timestamp in the payload type's clock. */
  timestamp: number;
  marker: boolean;
  payload: Uint8Array;
}

/**
 * werift's sender stamps its negotiated codec's payload type on every packet, so for another
 * negotiated codec (telephone-event) the codec is swapped for the synchronous part of `sendRtp`
 * (the stamping happens before its first await). Packets whose payload type names no codec in
 * `codecs` are dropped. A send that races with close is not an error: its failure is ignored.
 */
export function sendRtpAs(
  sender: RTCRtpSender,
  codecs: readonly RTCRtpCodecParameters[],
  packet: OutgoingRtp,
): void {
  const negotiated = sender.codec;
  if (!negotiated) return;
  const codec =
    packet.payloadType === negotiated.payloadType
      ? negotiated
      : codecs.find((c) => c.payloadType === packet.payloadType);
  if (!codec) return;
  const rtp = new RtpPacket(
    new RtpHeader({
      payloadType: packet.payloadType,
      sequenceNumber: packet.sequenceNumber & 0xffff,
      timestamp: packet.timestamp >>> 0,
      marker: packet.marker,
    }),
    Buffer.from(packet.payload),
  );
  sender.codec = codec;
  const sending = sender.sendRtp(rtp);
  sender.codec = negotiated;
  sending.catch(() => undefined);
}
