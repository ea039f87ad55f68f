/**
 * Sends a ready RTP payload (our own sequence number and timestamp) on a werift sender with a
 * chosen payload type, for the simulator's media legs (Meta's relay towards the business, the
 * bridge towards a browser) where audio and telephone-event share one SSRC.
 */
import type { RTCRtpCodecParameters, RTCRtpSender } from 'werift';

import { sendRtpOnWerift } from '../media/werift-rtp-transport.js';

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
 * Sends `packet` with its payload type (the sender's codec or one of `codecs`) through the media
 * stages' one werift sending path ({@link sendRtpOnWerift}). Packets whose payload type names no
 * codec are dropped. A send that races with close is not an error: its failure is ignored.
 */
export function sendRtpAs(
  sender: RTCRtpSender,
  codecs: readonly RTCRtpCodecParameters[],
  packet: OutgoingRtp,
): void {
  sendRtpOnWerift(sender, codecs, packet).catch(() => undefined);
}
