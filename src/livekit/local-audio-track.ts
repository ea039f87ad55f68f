import { randomInt } from 'node:crypto';
import { TrackSource } from '@livekit/protocol';
import { RtpHeader, RtpPacket, type RTCRtpSender } from 'werift';
import { SafeEventEmitter, logListenerErrors } from '../util/typed-emitter.js';
import type { Logger } from '../log/index.js';
import { LiveKitError } from './livekit-errors.js';
import { OPUS_PAYLOAD_TYPE } from './peer-transport.js';

/** Options of {@link LiveKitParticipant.publishAudioTrack}. */
export interface LocalAudioTrackOptions {
  /** Required - track name shown to the room (non-empty). */
  name: string;
  /** Optional - what the track is, for subscribers' UIs. Default `MICROPHONE`. */
  source?: TrackSource | undefined;
}

/** One Opus packet to send. */
export interface OutgoingOpusPacket {
  /** Required - one Opus frame as produced by an encoder or received from another leg. */
  payload: Uint8Array;
  /**
   * Required - RTP timestamp in 48 kHz units (Opus' RTP clock). The caller keeps it continuous:
   * +960 per 20 ms frame, and it must keep advancing across silence it does not send.
   */
  timestamp: number;
  /** Optional - RTP marker: set on the first packet after a silence (DTX) gap. Default false. */
  marker?: boolean | undefined;
  /**
   * Optional - the RTP sequence number, for a forwarder that keeps its own continuous numbering:
   * a loss then stays a gap (subscribers can use the next packet's in-band FEC) and a reordered
   * packet keeps its place. The track's own numbering carries on after it. Default: the track
   * numbers packets itself, +1 per packet written.
   */
  sequenceNumber?: number | undefined;
}

/** Counters of a local track (since it was published). */
export interface LocalAudioTrackStats {
  /** Packets handed to the peer connection. */
  packetsSent: number;
  /** Packets not sent: muted, not connected (publishing, reconnecting) or closed. */
  packetsDropped: number;
  /** Payload bytes handed to the peer connection. */
  payloadBytesSent: number;
}

export interface LocalAudioTrackEvents {
  /** The track's server sid changed (first publish, or re-publish after a full reconnect). */
  published: [sid: string];
  /** The track was closed (participant closed); writes are dropped from now on. */
  ended: [];
}

/**
 * A published audio track fed with Opus RTP payloads: no codec, no jitter buffer, packets go out
 * as they are written. The track owns the RTP sequence numbers (continuous across full
 * reconnects, where the sender and its SSRC are replaced) and werift's sender sets the SSRC and
 * payload type of the negotiated stream.
 */
export class LocalAudioTrack extends SafeEventEmitter<LocalAudioTrackEvents> {
  readonly name: string;
  readonly source: TrackSource;
  #sid: string | undefined;
  #sender: RTCRtpSender | undefined;
  /** Random start (RFC 3550 §5.1), then +1 per packet sent. */
  #sequence = randomInt(0, 0x10000);
  #muted = false;
  #ended = false;
  #onMute: ((muted: boolean) => void) | undefined;
  readonly #stats: LocalAudioTrackStats = {
    packetsSent: 0,
    packetsDropped: 0,
    payloadBytesSent: 0,
  };
  readonly #log: Logger | undefined;

  /** @internal Created by the participant. */
  constructor(options: LocalAudioTrackOptions, logger?: Logger) {
    super(logListenerErrors(logger, 'local track listener threw'));
    if (!options.name || typeof options.name !== 'string') {
      throw new LiveKitError(
        'invalid-argument',
        'publishAudioTrack: name must be a non-empty string',
      );
    }
    this.name = options.name;
    this.source = options.source ?? TrackSource.MICROPHONE;
    this.#log = logger;
  }

  /** Server track sid; undefined until published (and while being re-published). */
  get sid(): string | undefined {
    return this.#sid;
  }

  get muted(): boolean {
    return this.#muted;
  }

  get ended(): boolean {
    return this.#ended;
  }

  get stats(): Readonly<LocalAudioTrackStats> {
    return this.#stats;
  }

  /**
   * Send one Opus packet. Returns false when it was dropped (muted, not connected, ended).
   * Never throws for transport errors: media is best effort and the participant reports the
   * connection state through its own events.
   */
  writeRtp(packet: OutgoingOpusPacket): boolean {
    const sender = this.#sender;
    // No codec yet: the section is not negotiated (werift would drop the packet silently).
    if (
      this.#ended ||
      this.#muted ||
      !sender ||
      !sender.codec ||
      sender.dtlsTransport?.state !== 'connected'
    ) {
      this.#stats.packetsDropped += 1;
      return false;
    }
    const payload = Buffer.isBuffer(packet.payload)
      ? packet.payload
      : Buffer.from(packet.payload.buffer, packet.payload.byteOffset, packet.payload.byteLength);
    let sequenceNumber = this.#sequence;
    if (packet.sequenceNumber !== undefined) {
      sequenceNumber = packet.sequenceNumber & 0xffff;
      // A reordered (older) packet must not pull the track's own numbering back; the first
      // packet sent sets it whatever it is (the random start is nobody's order).
      if (this.#stats.packetsSent === 0 || ((sequenceNumber - this.#sequence) & 0xffff) < 0x8000)
        this.#sequence = sequenceNumber;
    }
    const header = new RtpHeader({
      payloadType: OPUS_PAYLOAD_TYPE,
      sequenceNumber,
      timestamp: packet.timestamp >>> 0,
      marker: packet.marker ?? false,
    });
    if (sequenceNumber === this.#sequence) this.#sequence = (this.#sequence + 1) & 0xffff;
    this.#stats.packetsSent += 1;
    this.#stats.payloadBytesSent += payload.length;
    sender.sendRtp(new RtpPacket(header, payload)).catch((err: unknown) => {
      this.#log?.debug({ err, track: this.#sid }, 'RTP send failed');
    });
    return true;
  }

  /**
   * Mute or unmute: the server is told (subscribers see the track muted) and writes are dropped
   * while muted. Cheap: one signal message, no renegotiation.
   */
  setMuted(muted: boolean): void {
    if (this.#ended || this.#muted === muted) return;
    this.#muted = muted;
    this.#onMute?.(muted);
  }

  /** @internal The engine attaches the negotiated sender (again after a full reconnect). */
  attach(sender: RTCRtpSender, sid: string, onMute: (muted: boolean) => void): void {
    this.#sender = sender;
    this.#onMute = onMute;
    if (this.#sid !== sid) {
      this.#sid = sid;
      this.emit('published', sid);
    }
  }

  /** @internal The sender is gone (full reconnect in progress); writes drop until re-attached. */
  detach(): void {
    this.#sender = undefined;
  }

  /** @internal Ends the track for good. */
  end(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#sender = undefined;
    this.#onMute = undefined;
    this.emit('ended');
    this.removeAllListeners();
  }
}
