/**
 * The simulated Meta media relay for one call: a real ICE-lite, controlled werift agent (it
 * answers the business's connectivity checks and never starts its own, like Meta's relay), with
 * DTLS-SRTP, BUNDLE and rtcp-mux, Opus 111 and telephone-event/8000 126. It only moves RTP
 * payloads; encoding, decoding and what the user does live in {@link SimulatedCall}.
 */
import {
  MediaStreamTrack,
  RTCPeerConnection,
  RTCRtpCodecParameters,
  type RTCRtpTransceiver,
} from 'werift';
import { buildMetaAnswer, buildMetaOffer, META_OPUS_FMTP } from '../whatsapp/meta-sdp.js';
import type { SeededRandom } from './seeded-random.js';
import { sendRtpAs } from './werift-rtp-send.js';
import { SafeEventEmitter } from '../util/typed-emitter.js';

/** Impairments applied to the media leg; live object, changes take effect immediately. */
export interface MediaImpairment {
  /** Share of packets dropped, percent (0..100), each direction. Default 0. */
  packetLossPercent: number;
  /** Extra random delay per sent packet, up to this many ms (reorders packets). Default 0. */
  jitterMs: number;
}

export interface MetaRelayPeerOptions {
  /** Address the relay listens on and advertises. Default 127.0.0.1. */
  relayAddress?: string;
  impairment: MediaImpairment;
  random: SeededRandom;
}

/** A received RTP packet, reduced to what the user side needs. */
export interface RelayRtpPacket {
  payloadType: number;
  sequenceNumber: number;
  timestamp: number;
  marker: boolean;
  payload: Buffer;
}

export type RelayConnectionState = 'new' | 'connecting' | 'connected' | 'failed' | 'closed';

type RelayEvents = {
  /** ICE + DTLS state of the leg. */
  state: [RelayConnectionState];
  /** An RTP packet from the business arrived (after simulated loss). */
  rtp: [RelayRtpPacket];
  /** An RTCP packet from the business arrived (counts as media for Meta's watchdogs). */
  rtcp: [];
};

const TELEPHONE_EVENT = new RTCRtpCodecParameters({
  mimeType: 'audio/telephone-event',
  clockRate: 8000,
  channels: 1,
  payloadType: 126,
});

function relayCodecs(): RTCRtpCodecParameters[] {
  return [
    new RTCRtpCodecParameters({
      mimeType: 'audio/opus',
      clockRate: 48000,
      channels: 2,
      payloadType: 111,
      parameters: META_OPUS_FMTP,
      rtcpFeedback: [{ type: 'transport-cc' }],
    }),
    TELEPHONE_EVENT,
  ];
}

export class MetaRelayPeer extends SafeEventEmitter<RelayEvents> {
  readonly relayAddress: string;
  private readonly pc: RTCPeerConnection;
  private readonly transceiver: RTCRtpTransceiver;
  private readonly impairment: MediaImpairment;
  private readonly random: SeededRandom;
  private stateValue: RelayConnectionState = 'new';
  private closed = false;
  private closing: Promise<void> | undefined;
  private readonly pendingTimers = new Set<NodeJS.Timeout>();
  /** Meta-shaped local SDP (offer or answer) as sent to the business. */
  localSdp = '';

  constructor(options: MetaRelayPeerOptions) {
    super();
    this.relayAddress = options.relayAddress ?? '127.0.0.1';
    this.impairment = options.impairment;
    this.random = options.random;
    const ipv6 = this.relayAddress.includes(':');
    this.pc = new RTCPeerConnection({
      iceLite: true,
      iceAdditionalHostAddresses: [this.relayAddress],
      iceUseIpv4: !ipv6,
      iceUseIpv6: ipv6,
      codecs: { audio: relayCodecs() },
      // Meta's SDP carries no header extensions in current captures.
      headerExtensions: { audio: [] },
    });
    // A plain track is attached so werift announces an SSRC and runs its RTCP sender reports.
    this.transceiver = this.pc.addTransceiver(new MediaStreamTrack({ kind: 'audio' }), {
      direction: 'sendrecv',
    });
    this.pc.connectionStateChange.subscribe((s) => {
      if (s === 'connected') this.setState('connected');
      else if (s === 'failed') this.setState('failed');
      else if (s === 'connecting') this.setState('connecting');
    });
    this.pc.onTrack.subscribe((track) => {
      track.onReceiveRtp.subscribe((rtp) => {
        if (this.closed || this.random.chance(this.impairment.packetLossPercent / 100)) return;
        this.emit('rtp', {
          payloadType: rtp.header.payloadType,
          sequenceNumber: rtp.header.sequenceNumber,
          timestamp: rtp.header.timestamp,
          marker: rtp.header.marker,
          payload: rtp.payload,
        });
      });
      track.onReceiveRtcp.subscribe(() => this.emit('rtcp'));
    });
    this.transceiver.sender.onRtcp.subscribe(() => this.emit('rtcp'));
  }

  get state(): RelayConnectionState {
    return this.stateValue;
  }

  private setState(state: RelayConnectionState): void {
    if (this.stateValue === state || this.stateValue === 'closed') return;
    this.stateValue = state;
    this.emit('state', state);
  }

  /** Creates Meta's offer (user-initiated call). */
  async createOffer(): Promise<string> {
    this.transceiver.mid = 'audio';
    await this.pc.setLocalDescription(await this.pc.createOffer());
    await this.gathered();
    this.localSdp = buildMetaOffer(this.pc.localDescription?.sdp ?? '', this.relayAddress);
    return this.localSdp;
  }

  /** Applies the business's answer to Meta's offer. */
  async applyAnswer(sdp: string): Promise<void> {
    await this.pc.setRemoteDescription({ type: 'answer', sdp });
  }

  /** Answers the business's offer (business-initiated call); returns Meta's answer. */
  async answerOffer(sdp: string): Promise<string> {
    await this.pc.setRemoteDescription({ type: 'offer', sdp });
    await this.pc.setLocalDescription(await this.pc.createAnswer());
    await this.gathered();
    this.localSdp = buildMetaAnswer(this.pc.localDescription?.sdp ?? '', this.relayAddress);
    return this.localSdp;
  }

  private async gathered(): Promise<void> {
    if (this.pc.iceGatheringState === 'complete') return;
    await new Promise<void>((resolve) => {
      const { unSubscribe } = this.pc.iceGatheringStateChange.subscribe((s) => {
        if (s === 'complete') {
          unSubscribe();
          resolve();
        }
      });
    });
  }

  /** Waits until ICE and DTLS are up; rejects on failure, close or timeout. */
  async waitConnected(timeoutMs: number): Promise<void> {
    if (this.stateValue === 'connected') return;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => done(new Error('media leg did not connect in time')),
        timeoutMs,
      );
      const onState = (s: RelayConnectionState) => {
        if (s === 'connected') done();
        else if (s === 'failed' || s === 'closed') done(new Error(`media leg ${s}`));
      };
      const done = (err?: Error) => {
        clearTimeout(timer);
        this.off('state', onState);
        if (err) reject(err);
        else resolve();
      };
      this.on('state', onState);
    });
  }

  /**
   * Sends one RTP payload on the call's single SSRC. Audio and telephone-event share the
   * sequence/timestamp base (as Meta's DTMF does).
   */
  send(packet: {
    payloadType: number;
    sequenceNumber: number;
    timestamp: number;
    marker: boolean;
    payload: Uint8Array;
  }): void {
    if (this.closed || this.stateValue !== 'connected') return;
    if (this.random.chance(this.impairment.packetLossPercent / 100)) return;
    const delay = this.impairment.jitterMs > 0 ? this.random.int(0, this.impairment.jitterMs) : 0;
    const transmit = () => {
      if (this.closed) return;
      const codecs = this.transceiver.codecs as RTCRtpCodecParameters[];
      sendRtpAs(this.transceiver.sender, [...codecs, TELEPHONE_EVENT], packet);
    };
    if (delay === 0) transmit();
    else {
      const timer = setTimeout(() => {
        this.pendingTimers.delete(timer);
        transmit();
      }, delay);
      this.pendingTimers.add(timer);
    }
  }

  /** Payload type the business negotiated for telephone-event/8000, if any. */
  get telephoneEventPayloadType(): number | undefined {
    const codecs = this.transceiver.codecs as RTCRtpCodecParameters[];
    return codecs.find(
      (c) => c.mimeType.toLowerCase() === 'audio/telephone-event' && c.clockRate === 8000,
    )?.payloadType;
  }

  /** Payload type of Opus on this leg (111 unless the business numbered it differently). */
  get opusPayloadType(): number {
    const codecs = this.transceiver.codecs as RTCRtpCodecParameters[];
    return codecs.find((c) => c.mimeType.toLowerCase() === 'audio/opus')?.payloadType ?? 111;
  }

  /** Closes the peer and every pending timer. Idempotent; every caller waits for the same close. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.closed = true;
      for (const t of this.pendingTimers) clearTimeout(t);
      this.pendingTimers.clear();
      this.setState('closed');
      this.removeAllListeners();
      await this.pc.close().catch(() => {});
    })();
    return this.closing;
  }
}
