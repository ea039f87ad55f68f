/**
 * A person's browser as the WhatsApp user's phone: a WebRTC leg between the page (the softphone,
 * which offers) and the simulator (which answers), bridged RTP for RTP to the call's Meta relay
 * leg — Opus and RFC 4733 telephone-event both ways, payload types renumbered, payloads untouched.
 * The business still talks to Meta's relay only, so it cannot tell a browser from a simulated user.
 */
import {
  MediaStreamTrack,
  RTCPeerConnection,
  RTCRtpCodecParameters,
  type RTCRtpTransceiver,
} from 'werift';
import { ConnectorError } from '../errors/connector-error.js';
import { SafeEventEmitter } from '../util/typed-emitter.js';
import { META_OPUS_FMTP, SessionDescription } from '../whatsapp/meta-sdp.js';
import type { BusinessRtpPacket, UserPhone, UserPhoneLink } from './user-phone.js';
import { sendRtpAs } from './werift-rtp-send.js';

/** ICE + DTLS state of the browser leg. */
export type BrowserLegState = 'new' | 'connecting' | 'connected' | 'failed' | 'closed';

type BrowserPhoneEvents = {
  state: [BrowserLegState];
};

export interface BrowserPhoneOptions {
  /**
   * Address the leg also offers a host candidate on, besides the machine's interfaces, so a
   * browser on the same machine reaches it over loopback. Default 127.0.0.1.
   */
  hostAddress?: string;
}

/**
 * The codecs a WhatsApp client speaks (reference §8.2): Opus with Meta's fmtp, so the browser
 * encodes 16 kHz content at WhatsApp's rate, and telephone-event/8000 for keys.
 */
function whatsAppCodecs(): RTCRtpCodecParameters[] {
  return [
    new RTCRtpCodecParameters({
      mimeType: 'audio/opus',
      clockRate: 48000,
      channels: 2,
      payloadType: 111,
      parameters: META_OPUS_FMTP,
    }),
    new RTCRtpCodecParameters({
      mimeType: 'audio/telephone-event',
      clockRate: 8000,
      channels: 1,
      payloadType: 126,
    }),
  ];
}

function isOpus(codec: RTCRtpCodecParameters): boolean {
  return codec.mimeType.toLowerCase() === 'audio/opus';
}

function isTelephoneEvent8k(codec: RTCRtpCodecParameters): boolean {
  return codec.mimeType.toLowerCase() === 'audio/telephone-event' && codec.clockRate === 8000;
}

export class BrowserPhone extends SafeEventEmitter<BrowserPhoneEvents> implements UserPhone {
  readonly kind = 'browser';
  readonly description = 'browser';
  private readonly pc: RTCPeerConnection;
  private readonly transceiver: RTCRtpTransceiver;
  private stateValue: BrowserLegState = 'new';
  private link: UserPhoneLink | undefined;
  private closing: Promise<void> | undefined;
  /** Packets bridged each way, for snapshots and tests. */
  readonly counters = { fromBrowser: 0, toBrowser: 0 };

  private constructor(options: BrowserPhoneOptions) {
    super();
    const host = options.hostAddress ?? '127.0.0.1';
    this.pc = new RTCPeerConnection({
      iceAdditionalHostAddresses: [host],
      codecs: { audio: whatsAppCodecs() },
      headerExtensions: { audio: [] },
    });
    // A track of our own so werift announces an SSRC and sends RTCP for the business's audio.
    this.transceiver = this.pc.addTransceiver(new MediaStreamTrack({ kind: 'audio' }), {
      direction: 'sendrecv',
    });
    this.pc.connectionStateChange.subscribe((s) => {
      if (s === 'connected' || s === 'failed' || s === 'connecting') this.setState(s);
      else if (s === 'disconnected') this.setState('failed');
    });
    this.pc.onTrack.subscribe((track) => {
      track.onReceiveRtp.subscribe((rtp) => {
        const link = this.link;
        if (!link || this.closing) return;
        const codec = this.codecs.find((c) => c.payloadType === rtp.header.payloadType);
        const payloadType = !codec
          ? undefined
          : isOpus(codec)
            ? link.opusPayloadType
            : isTelephoneEvent8k(codec)
              ? link.telephoneEventPayloadType
              : undefined;
        if (payloadType === undefined) return;
        this.counters.fromBrowser++;
        link.send({
          payloadType,
          sequenceNumber: rtp.header.sequenceNumber,
          timestamp: rtp.header.timestamp,
          marker: rtp.header.marker,
          payload: rtp.payload,
        });
      });
    });
  }

  /**
   * Answers the browser's offer (complete, non-trickle) and returns the phone and the answer to
   * hand back to the page.
   * @throws ConnectorError `invalid_argument` when the offer is not a usable audio offer.
   */
  static async answer(
    offerSdp: string,
    options: BrowserPhoneOptions = {},
  ): Promise<{ phone: BrowserPhone; answerSdp: string }> {
    const phone = new BrowserPhone(options);
    try {
      SessionDescription.parse(offerSdp); // the one SDP model's limits, before werift reads it
      await phone.pc.setRemoteDescription({ type: 'offer', sdp: offerSdp });
      await phone.pc.setLocalDescription(await phone.pc.createAnswer());
      await phone.gathered();
      const answerSdp = phone.pc.localDescription?.sdp ?? '';
      if (!phone.codecs.some(isOpus)) throw new Error('the offer has no Opus audio');
      return { phone, answerSdp };
    } catch (err) {
      await phone.close();
      throw new ConnectorError(
        'invalid_argument',
        `the browser's offer cannot be answered: ${(err as Error).message}`,
      );
    }
  }

  get state(): BrowserLegState {
    return this.stateValue;
  }

  private get codecs(): RTCRtpCodecParameters[] {
    return this.transceiver.codecs as RTCRtpCodecParameters[];
  }

  private setState(state: BrowserLegState): void {
    if (this.stateValue === state || this.stateValue === 'closed') return;
    this.stateValue = state;
    this.emit('state', state);
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

  /** Waits until the browser leg's ICE and DTLS are up; rejects on failure, close or timeout. */
  async waitConnected(timeoutMs: number): Promise<void> {
    if (this.stateValue === 'connected') return;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => done(new Error('the browser did not connect in time')),
        timeoutMs,
      );
      const onState = (s: BrowserLegState) => {
        if (s === 'connected') done();
        else if (s === 'failed' || s === 'closed') done(new Error(`the browser leg ${s}`));
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

  start(link: UserPhoneLink): void {
    this.link ??= link;
  }

  hear(packet: BusinessRtpPacket): void {
    if (this.closing) return;
    const codec = this.codecs.find(packet.codec === 'opus' ? isOpus : isTelephoneEvent8k);
    if (!codec) return;
    this.counters.toBrowser++;
    sendRtpAs(this.transceiver.sender, this.codecs, {
      payloadType: codec.payloadType,
      sequenceNumber: packet.sequenceNumber,
      timestamp: packet.timestamp,
      marker: packet.marker,
      payload: packet.payload,
    });
  }

  /** Closes the browser leg. Idempotent; every caller waits for the same close. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.setState('closed');
      this.removeAllListeners();
      await this.pc.close().catch(() => undefined);
    })();
    return this.closing;
  }
}
