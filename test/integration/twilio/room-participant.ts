import {
  AudioFrame,
  AudioSource,
  AudioStream,
  LocalAudioTrack,
  Room,
  RoomEvent,
  TrackKind,
  TrackPublishOptions,
  TrackSource,
  type RemoteParticipant,
  type RemoteTrack,
} from '@livekit/rtc-node';
import { AccessToken } from 'livekit-server-sdk';
import { ToneGenerator, concatPcm } from '../../../src/media/tone.js';
import type { LiveKitServerHandle } from '../../../testbed/livekit-server.js';

/** What a room participant saw happen, in order. */
export type RoomObservation =
  | { type: 'joined'; identity: string; kind: number; kindDetails: number[] }
  | { type: 'left'; identity: string; attributes: Record<string, string> }
  | { type: 'attributes'; identity: string; attributes: Record<string, string> }
  | { type: 'dtmf'; identity: string | undefined; code: number; digit: string }
  | { type: 'trackSubscribed'; identity: string; name: string }
  | { type: 'trackUnsubscribed'; identity: string; name: string };

/**
 * An independent participant of the room (rtc-node): records what the connector publishes,
 * speaks a tone, and logs joins, leaves, attribute changes and DTMF.
 */
export class RoomParticipant {
  readonly room = new Room();
  readonly sampleRate = 48_000;
  readonly observations: RoomObservation[] = [];
  readonly #chunks: Array<{ at: number; pcm: Int16Array }> = [];
  #speaking = false;
  #sender: Promise<void> | undefined;
  #tone: ToneGenerator | undefined;

  private constructor() {
    const room = this.room;
    room.on(RoomEvent.ParticipantConnected, (p) =>
      this.observations.push({
        type: 'joined',
        identity: p.identity,
        kind: p.kind,
        kindDetails: [...(p.kindDetails ?? [])],
      }),
    );
    room.on(RoomEvent.ParticipantDisconnected, (p) =>
      this.observations.push({
        type: 'left',
        identity: p.identity,
        attributes: { ...p.attributes },
      }),
    );
    room.on(RoomEvent.ParticipantAttributesChanged, (_changed, p) =>
      this.observations.push({
        type: 'attributes',
        identity: p.identity,
        attributes: { ...p.attributes },
      }),
    );
    room.on(RoomEvent.DtmfReceived, (code, digit, p) =>
      this.observations.push({ type: 'dtmf', identity: p?.identity, code, digit }),
    );
    room.on(RoomEvent.TrackSubscribed, (track, pub, p) => {
      this.observations.push({
        type: 'trackSubscribed',
        identity: p.identity,
        name: pub.name ?? '',
      });
      if (track.kind === TrackKind.KIND_AUDIO) this.#record(track);
    });
    room.on(RoomEvent.TrackUnsubscribed, (_track, pub, p) =>
      this.observations.push({
        type: 'trackUnsubscribed',
        identity: p.identity,
        name: pub.name ?? '',
      }),
    );
  }

  /**
   * Join `roomName`. `autoSubscribe: false` behaves like a LiveKit agent: it subscribes itself
   * to each track when the track is announced.
   */
  static async join(
    lk: LiveKitServerHandle,
    roomName: string,
    identity: string,
    options: { autoSubscribe?: boolean } = {},
  ): Promise<RoomParticipant> {
    const participant = new RoomParticipant();
    const autoSubscribe = options.autoSubscribe ?? true;
    if (!autoSubscribe) {
      participant.room.on(RoomEvent.TrackPublished, (pub) => pub.setSubscribed(true));
    }
    const token = new AccessToken(lk.apiKey, lk.apiSecret, { identity });
    token.addGrant({ roomJoin: true, room: roomName, canSubscribe: true, canPublish: true });
    await participant.room.connect(lk.wsUrl, await token.toJwt(), {
      autoSubscribe,
      dynacast: false,
    });
    return participant;
  }

  /** The participant's last attributes when it left, once it has. */
  left(identity: string): { attributes: Record<string, string> } | undefined {
    for (const o of this.observations) {
      if (o.type === 'left' && o.identity === identity) return o;
    }
    return undefined;
  }

  remote(identity: string): RemoteParticipant | undefined {
    return this.room.remoteParticipants.get(identity);
  }

  /**
   * Record a subscribed track in the background. rtc-node delivers TrackSubscribed from its event
   * queue, so the event can arrive after the track was released (the room disconnecting at the end
   * of a test, or the publisher leaving at once): the stream then cannot be opened. That is not a
   * failure of the connector: what was not recorded fails the audio assertions that need it.
   */
  #record(track: RemoteTrack): void {
    void (async () => {
      const stream = new AudioStream(track, { sampleRate: this.sampleRate, numChannels: 1 });
      for await (const frame of stream) {
        this.#chunks.push({ at: performance.now(), pcm: new Int16Array(frame.data) });
      }
    })().catch(() => {});
  }

  /** Every frame heard so far with its arrival time (performance.now). */
  frames(): Array<{ at: number; pcm: Int16Array }> {
    return [...this.#chunks];
  }

  /** Audio heard from the room during the last `ms`. */
  heard(ms: number): Int16Array {
    const since = performance.now() - ms;
    return concatPcm(this.#chunks.filter((c) => c.at >= since).map((c) => c.pcm));
  }

  /**
   * Publish a continuous tone (0 Hz: silence) until `stopSpeaking()`. Called again while
   * speaking, it changes the tone on the same track.
   */
  async speak(frequencyHz: number, amplitude = 0.3): Promise<void> {
    this.#tone = new ToneGenerator(frequencyHz, this.sampleRate, frequencyHz > 0 ? amplitude : 0);
    if (this.#speaking) return;
    const source = new AudioSource(this.sampleRate, 1, 100);
    const track = LocalAudioTrack.createAudioTrack('voice', source);
    const opts = new TrackPublishOptions();
    opts.source = TrackSource.SOURCE_MICROPHONE;
    await this.room.localParticipant!.publishTrack(track, opts);
    this.#speaking = true;
    this.#sender = (async () => {
      while (this.#speaking) {
        const pcm = this.#tone!.next(480);
        await source.captureFrame(new AudioFrame(pcm, this.sampleRate, 1, 480));
      }
      await source.close();
    })();
  }

  async stopSpeaking(): Promise<void> {
    this.#speaking = false;
    await this.#sender;
  }

  async close(): Promise<void> {
    await this.stopSpeaking();
    await this.room.disconnect();
  }
}
