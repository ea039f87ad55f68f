/**
 * The RTP transport of the media stages on a werift transceiver (DTLS-SRTP, BUNDLE, rtcp-mux):
 * packets from an {@link RtpSender} go out on the transceiver's sender, and RTP/RTCP received on
 * it is handed to callbacks (the {@link RtpReceiver}).
 *
 * werift 0.24.4 (pinned) stamps the sender's negotiated codec's payload type on every packet it
 * sends. Telephone-event (and any other negotiated payload type) is therefore sent with the
 * sender's `codec` switched for the one synchronous part of `sendRtp` (the stamping happens before
 * its first await): the packet then shares the audio stream's SSRC, sequence space and sender
 * report counters, as RFC 4733 §2.1 asks. The connector and the simulator's legs (Meta's relay,
 * the softphone bridge) all send through {@link sendRtpOnWerift}, so this reliance on werift's
 * internals lives in one place (and the integration tests check it).
 */
import {
  RtpHeader,
  RtpPacket,
  type RTCPeerConnection,
  type RTCRtpCodecParameters,
  type RTCRtpSender,
  type RTCRtpTransceiver,
  type RtcpPacket,
  type RtcpReceiverInfo,
} from 'werift';

import type { ReceiverReportBlock } from './media-quality.js';
import type { OutgoingRtpPacket, RtpPacketSink } from './rtp-sender.js';
import type { RtpPacketView } from './rtp-packet.js';

/** The header fields of a packet sent through {@link sendRtpOnWerift}. */
export type WeriftOutgoingPacket = Omit<OutgoingRtpPacket, 'ssrc'>;

/**
 * Sends one packet on a werift sender with `packet.payloadType`, which must be the sender's codec
 * or one of `codecs` (the transceiver's negotiated codecs, plus any the caller adds: the simulator
 * sends DTMF on 126 even to a business that did not negotiate it, as Meta does). The sender's SSRC
 * is used whatever the packet says. Resolves when werift has sent it (or dropped it: nothing is
 * sent before DTLS is up); rejects for a payload type with no codec.
 */
export function sendRtpOnWerift(
  sender: RTCRtpSender,
  codecs: readonly RTCRtpCodecParameters[],
  packet: WeriftOutgoingPacket,
): Promise<void> {
  const negotiated = sender.codec;
  if (!negotiated) return Promise.resolve();
  const codec =
    negotiated.payloadType === packet.payloadType
      ? undefined
      : codecs.find((c) => c.payloadType === packet.payloadType);
  if (negotiated.payloadType !== packet.payloadType && codec === undefined) {
    return Promise.reject(new Error(`payload type ${packet.payloadType} is not negotiated`));
  }
  const rtp = new RtpPacket(
    new RtpHeader({
      payloadType: packet.payloadType,
      sequenceNumber: packet.sequenceNumber & 0xffff,
      timestamp: packet.timestamp >>> 0,
      marker: packet.marker,
      ssrc: sender.ssrc,
    }),
    Buffer.from(packet.payload.buffer, packet.payload.byteOffset, packet.payload.byteLength),
  );
  if (codec) sender.codec = codec;
  try {
    return sender.sendRtp(rtp);
  } finally {
    if (codec) sender.codec = negotiated;
  }
}

export interface WeriftRtpTransportOptions {
  /** Required - every RTP packet received on the transceiver (werift's packet, not copied). */
  onRtp: (packet: RtpPacketView) => void;
  /** Optional - every RTCP packet received on the transceiver. */
  onRtcp?: (packet: RtcpPacket) => void;
  /**
   * Optional - each receiver report block the remote sends about our stream (our sender's SSRC):
   * how it receives what we send.
   */
  onReceiverReport?: (block: ReceiverReportBlock) => void;
  /** Optional - a send failed (e.g. raced with close); not an error of the call. */
  onSendError?: (err: unknown) => void;
}

/**
 * An {@link RtpPacketSink} and receive callbacks on a werift peer connection's audio transceiver.
 * Created with the peer connection (remote tracks appear while descriptions are applied), bound to
 * the transceiver once negotiation picked it.
 */
export class WeriftRtpTransport implements RtpPacketSink {
  private transceiver: RTCRtpTransceiver | undefined;
  private readonly options: WeriftRtpTransportOptions;
  private readonly unsubscribers: (() => void)[] = [];
  private closed = false;

  constructor(pc: RTCPeerConnection, options: WeriftRtpTransportOptions) {
    this.options = options;
    // Remote media arrives on the receiver's track (one per call with Meta), not on our track.
    const added = pc.onTrack.subscribe((track) => {
      const sub = track.onReceiveRtp.subscribe((p) => {
        if (!this.closed) options.onRtp(p);
      });
      this.unsubscribers.push(() => sub.unSubscribe());
    });
    this.unsubscribers.push(() => added.unSubscribe());
  }

  /** Sends on (and reads RTCP from) `transceiver` from now on. */
  bind(transceiver: RTCRtpTransceiver): void {
    if (this.transceiver === transceiver) return;
    this.transceiver = transceiver;
    const onRtcp = this.options.onRtcp;
    if (onRtcp) {
      const sub = transceiver.receiver.onRtcp.subscribe((p) => {
        if (!this.closed) onRtcp(p);
      });
      this.unsubscribers.push(() => sub.unSubscribe());
    }
    const onReport = this.options.onReceiverReport;
    if (onReport) {
      // werift hands the reports about a stream we send to that stream's sender.
      const { sender } = transceiver;
      const sub = sender.onRtcp.subscribe((p) => {
        if (this.closed || !('reports' in p) || !Array.isArray(p.reports)) return;
        for (const block of p.reports as RtcpReceiverInfo[]) {
          if (block.ssrc === sender.ssrc) onReport(block);
        }
      });
      this.unsubscribers.push(() => sub.unSubscribe());
    }
  }

  /** The SSRC werift sends with (announced in the SDP); 0 before {@link bind}. */
  get ssrc(): number {
    return this.transceiver?.sender.ssrc ?? 0;
  }

  sendRtp(packet: OutgoingRtpPacket): void {
    if (this.closed || !this.transceiver) return;
    const { sender, codecs } = this.transceiver;
    sendRtpOnWerift(sender, codecs, packet).catch((err: unknown) =>
      this.options.onSendError?.(err),
    );
  }

  /** Stops sending and delivering packets. Idempotent. */
  close(): void {
    this.closed = true;
    for (const unsubscribe of this.unsubscribers.splice(0)) unsubscribe();
  }
}
