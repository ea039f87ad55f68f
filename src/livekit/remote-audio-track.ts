import type { MediaStreamTrack } from 'werift';
import type { Logger } from '../log/index.js';
import { SafeEventEmitter, logListenerErrors } from '../util/typed-emitter.js';
import type { RemoteParticipant } from './remote-participant.js';

/**
 * A received RTP packet as werift parsed it (no copy): the Opus payload and the header fields a
 * forwarder needs. The packet is only valid during the event; copy the payload to keep it.
 */
export interface IncomingRtpPacket {
  readonly header: {
    readonly payloadType: number;
    readonly sequenceNumber: number;
    /** RTP timestamp, 48 kHz units for Opus. */
    readonly timestamp: number;
    readonly marker: boolean;
    readonly ssrc: number;
  };
  readonly payload: Buffer;
}

export interface RemoteAudioTrackEvents {
  /** One RTP packet of the track, in arrival order (no jitter buffer). */
  rtp: [packet: IncomingRtpPacket];
  /** The publisher muted or unmuted the track. */
  muted: [muted: boolean];
  /** Unsubscribed: unpublished, publisher left, or our session was replaced. */
  ended: [];
}

/** A subscribed remote audio track, delivered as Opus RTP. */
export class RemoteAudioTrack extends SafeEventEmitter<RemoteAudioTrackEvents> {
  readonly sid: string;
  readonly name: string;
  readonly participant: RemoteParticipant;
  #muted: boolean;
  #ended = false;
  /** werift tracks feeding this one (werift makes one per SSRC seen on the section). */
  readonly #sources = new Map<MediaStreamTrack, () => void>();
  #packets = 0;

  /** @internal Created by the participant when the server maps a media section to the track. */
  constructor(
    info: { sid: string; name: string; muted: boolean },
    participant: RemoteParticipant,
    logger?: Logger,
  ) {
    super(logListenerErrors(logger, 'remote track listener threw'));
    this.sid = info.sid;
    this.name = info.name;
    this.#muted = info.muted;
    this.participant = participant;
  }

  get muted(): boolean {
    return this.#muted;
  }

  get ended(): boolean {
    return this.#ended;
  }

  /** RTP packets received so far. */
  get packetsReceived(): number {
    return this.#packets;
  }

  /** @internal Add a werift track as a packet source (idempotent). */
  bind(source: MediaStreamTrack): void {
    if (this.#ended || this.#sources.has(source)) return;
    const { unSubscribe } = source.onReceiveRtp.subscribe((packet) => {
      this.#packets += 1;
      this.emit('rtp', packet);
    });
    this.#sources.set(source, unSubscribe);
  }

  /** @internal */
  setMuted(muted: boolean): void {
    if (this.#ended || muted === this.#muted) return;
    this.#muted = muted;
    this.emit('muted', muted);
  }

  /** @internal Stop delivering; idempotent. */
  end(): void {
    if (this.#ended) return;
    this.#ended = true;
    for (const unsubscribe of this.#sources.values()) unsubscribe();
    this.#sources.clear();
    this.emit('ended');
    this.removeAllListeners();
  }
}
