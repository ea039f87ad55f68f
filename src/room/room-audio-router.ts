/**
 * Decides how the room's audio reaches the caller, and carries it:
 * - `passthrough`: at most one remote speaker (an agent). Its Opus packets go out as they arrive,
 *   undecoded, with one continuous sequence (an {@link RtpStreamRewriter} bridges the agent
 *   republishing, a new SSRC, or another participant becoming the only speaker). The media leg
 *   gives them Meta's SSRC and timestamps and a steady 20 ms cadence, filling silence and DTX
 *   with keep-alive frames so Meta's no-media rule (138021) never fires.
 * - `mixing`: two or more speakers. Every track is decoded and mixed ({@link RemoteAudioMixer})
 *   into one 20 ms PCM frame per tick of this router's clock, which the media leg encodes.
 *
 * A speaker is a subscribed remote audio track that is not muted. The mode follows the count at
 * once: a second speaker switches to mixing (the mixer's cushion is the only gap: one frame, 20
 * ms, while delivery is steady), and the second leaving switches back to passthrough, whose next
 * packet goes out at once.
 * A leg that always wants PCM (Twilio) is created with `passthrough: false`.
 */
import { FrameClock, type ClockTimers } from '../media/frame-clock.js';
import type { OpusPcmRate } from '../media/opus-codec.js';
import { RtpStreamRewriter } from '../media/rtp-stream-rewriter.js';
import { SafeEventEmitter, type ListenerErrorHandler } from '../util/typed-emitter.js';
import { RemoteAudioMixer } from './remote-audio-mixer.js';

/** How the room's audio is carried to the caller right now. */
export type RoomAudioMode = 'passthrough' | 'mixing';

/** One RTP packet of a remote track, as the LiveKit participant delivers it. */
export interface RoomRtpPacket {
  readonly header: {
    readonly sequenceNumber: number;
    readonly timestamp: number;
    readonly marker: boolean;
    readonly ssrc: number;
  };
  readonly payload: Uint8Array;
}

/** An agent's Opus packet to forward to the caller. */
export interface RoomOpusPacket {
  /** The Opus payload, unchanged. Listeners may keep it. */
  payload: Uint8Array;
  /** Continuous across speaker changes; gaps are losses. */
  sequenceNumber: number;
  /** Start of a talkspurt. */
  marker: boolean;
}

export interface RoomAudioRouterEvents {
  /** The mode changed (emitted before any packet or frame of the new mode). */
  mode: [mode: RoomAudioMode];
  /** Passthrough: one packet of the only speaker. */
  opus: [packet: RoomOpusPacket];
  /** Mixing: one 20 ms mono frame at `sampleRate`, every 20 ms. */
  audio: [pcm: Int16Array];
}

export interface RoomAudioRouterOptions {
  /** Required - PCM rate of the mixed frames, Hz: 16000 or 48000. */
  sampleRate: OpusPcmRate;
  /** Optional - forward a single speaker undecoded. Default true; false mixes always. */
  passthrough?: boolean;
  /** Optional - clock timers (tests). Default the system's. */
  timers?: ClockTimers;
  /** Optional - what a throwing listener does. */
  onListenerError?: ListenerErrorHandler;
}

/** Counters of a {@link RoomAudioRouter}. */
export interface RoomAudioRouterStats {
  mode: RoomAudioMode;
  speakers: number;
  /** Packets forwarded undecoded. */
  forwardedPackets: number;
  /** Mixed frames emitted. */
  mixedFrames: number;
  /** Switches between the modes. */
  modeSwitches: number;
}

interface RoutedTrack {
  muted: boolean;
}

export class RoomAudioRouter extends SafeEventEmitter<RoomAudioRouterEvents> {
  readonly sampleRate: OpusPcmRate;
  readonly #passthroughAllowed: boolean;
  readonly #tracks = new Map<string, RoutedTrack>();
  readonly #mixer: RemoteAudioMixer;
  readonly #clock: FrameClock;
  readonly #rewriter = new RtpStreamRewriter();
  #mode: RoomAudioMode;
  /** The only speaker while passing through. */
  #source: string | undefined;
  #closed = false;
  #forwarded = 0;
  #mixed = 0;
  #switches = 0;

  constructor(options: RoomAudioRouterOptions) {
    super(options.onListenerError);
    this.sampleRate = options.sampleRate;
    this.#passthroughAllowed = options.passthrough ?? true;
    this.#mixer = new RemoteAudioMixer(options.sampleRate);
    this.#clock = new FrameClock({
      onTick: () => this.#tick(),
      ...(options.timers ? { timers: options.timers } : {}),
    });
    this.#mode = this.#passthroughAllowed ? 'passthrough' : 'mixing';
    if (this.#mode === 'mixing') this.#clock.start();
  }

  get mode(): RoomAudioMode {
    return this.#mode;
  }

  stats(): RoomAudioRouterStats {
    return {
      mode: this.#mode,
      speakers: this.#speakers().length,
      forwardedPackets: this.#forwarded,
      mixedFrames: this.#mixed,
      modeSwitches: this.#switches,
    };
  }

  /** A remote audio track was subscribed. */
  addTrack(sid: string, muted: boolean): void {
    if (this.#closed || this.#tracks.has(sid)) return;
    this.#tracks.set(sid, { muted });
    if (this.#mode === 'mixing') this.#mixer.add(sid);
    this.#update();
  }

  /** The track ended (unpublished, publisher left, session replaced). */
  removeTrack(sid: string): void {
    if (!this.#tracks.delete(sid)) return;
    this.#mixer.remove(sid);
    this.#update();
  }

  setMuted(sid: string, muted: boolean): void {
    const track = this.#tracks.get(sid);
    if (!track || track.muted === muted) return;
    track.muted = muted;
    this.#update();
  }

  /** One RTP packet of track `sid`. */
  receive(sid: string, packet: RoomRtpPacket): void {
    if (this.#closed) return;
    if (this.#mode === 'mixing') {
      this.#mixer.push(sid, {
        payload: packet.payload,
        sequenceNumber: packet.header.sequenceNumber,
        ssrc: packet.header.ssrc,
      });
      return;
    }
    if (sid !== this.#source) return;
    const out = this.#rewriter.rewrite({
      ssrc: packet.header.ssrc,
      sequenceNumber: packet.header.sequenceNumber,
      timestamp: packet.header.timestamp,
      marker: packet.header.marker,
      payload: packet.payload,
    });
    if (!out) return;
    this.#forwarded++;
    // werift reuses nothing, but the payload view is only promised for the event: copy it.
    this.emit('opus', {
      payload: Uint8Array.from(out.payload),
      sequenceNumber: out.sequenceNumber,
      marker: out.marker,
    });
  }

  /** Stop the clock and forget every track. Idempotent. */
  close(): void {
    this.#closed = true;
    this.#clock.stop();
    this.#mixer.clear();
    this.#tracks.clear();
    this.removeAllListeners();
  }

  #speakers(): string[] {
    return [...this.#tracks].filter(([, t]) => !t.muted).map(([sid]) => sid);
  }

  #update(): void {
    if (this.#closed) return;
    const speakers = this.#speakers();
    const mode: RoomAudioMode =
      this.#passthroughAllowed && speakers.length <= 1 ? 'passthrough' : 'mixing';
    this.#source = mode === 'passthrough' ? speakers[0] : undefined;
    if (mode === this.#mode) return;
    this.#mode = mode;
    this.#switches++;
    if (mode === 'mixing') {
      for (const sid of this.#tracks.keys()) this.#mixer.add(sid);
      this.emit('mode', mode);
      this.#clock.start();
    } else {
      this.#clock.stop();
      this.#mixer.clear();
      this.emit('mode', mode);
    }
  }

  #tick(): void {
    this.#mixed++;
    this.emit('audio', this.#mixer.mix());
  }
}
