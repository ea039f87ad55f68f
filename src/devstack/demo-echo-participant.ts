/**
 * The stand-in agent of `whatsapp-connector dev`: joins each call's room, greets the caller with
 * two beeps and then echoes what the caller says, so a first run shows audio flowing both ways
 * without writing an agent. It publishes as soon as it joins, which is also what a ready-gated
 * accept (`accept: when_agent_ready`) waits for.
 */
import {
  AudioFrame,
  AudioSource,
  AudioStream,
  LocalAudioTrack,
  ParticipantKind,
  Room,
  RoomEvent,
  TrackKind,
  TrackPublishOptions,
  TrackSource,
  type RemoteParticipant,
  type RemoteTrack,
} from '@livekit/rtc-node';
import { AccessToken } from 'livekit-server-sdk';
import type { LiveKitConfig } from '../config/index.js';
import type { Logger } from '../log/index.js';
import { ToneGenerator } from '../media/tone.js';

const SAMPLE_RATE = 48_000;
const FRAME_SAMPLES = 480;

export const DEMO_IDENTITY = 'demo-echo-agent';

/** One room the demo sits in. */
class DemoRoomSession {
  private readonly room = new Room();
  private source: AudioSource | undefined;
  /** The source takes one frame at a time: echo frames are dropped until the greeting is over. */
  private greeting = true;
  private closed = false;

  constructor(
    readonly roomName: string,
    private readonly logger: Logger,
  ) {}

  async start(livekit: LiveKitConfig): Promise<void> {
    const token = new AccessToken(livekit.apiKey, livekit.apiSecret, {
      identity: DEMO_IDENTITY,
      name: 'Demo echo agent',
    });
    token.addGrant({ roomJoin: true, room: this.roomName, canPublish: true, canSubscribe: true });
    this.room.on(RoomEvent.TrackSubscribed, (track, _pub, participant) => {
      if (track.kind === TrackKind.KIND_AUDIO && participant.kind === ParticipantKind.CONNECTOR) {
        void this.echo(track, participant);
      }
    });
    await this.room.connect(livekit.url.replace(/^http/, 'ws'), await token.toJwt(), {
      autoSubscribe: true,
      dynacast: false,
    });
    this.source = new AudioSource(SAMPLE_RATE, 1, 200);
    const track = LocalAudioTrack.createAudioTrack('demo-echo', this.source);
    const options = new TrackPublishOptions();
    options.source = TrackSource.SOURCE_MICROPHONE;
    await this.room.localParticipant!.publishTrack(track, options);
    this.logger.info(
      { room: this.roomName },
      'demo agent joined; greeting, then echoing the caller',
    );
    void this.greet().catch((err: unknown) => {
      this.greeting = false;
      if (!this.closed) this.logger.warn({ err }, 'demo greeting failed');
    });
  }

  /** Two short beeps (660 Hz), so the caller hears the agent before saying anything. */
  private async greet(): Promise<void> {
    const tone = new ToneGenerator(660, SAMPLE_RATE, 0.25);
    const silence = new Int16Array(FRAME_SAMPLES);
    for (const part of [tone, null, tone]) {
      for (let i = 0; i < 25 && !this.closed; i++) {
        const pcm = part ? part.next(FRAME_SAMPLES) : silence;
        await this.source?.captureFrame(new AudioFrame(pcm, SAMPLE_RATE, 1, FRAME_SAMPLES));
      }
    }
    this.greeting = false;
  }

  private async echo(track: RemoteTrack, participant: RemoteParticipant): Promise<void> {
    this.logger.info({ room: this.roomName, participant: participant.identity }, 'echoing caller');
    const stream = new AudioStream(track, { sampleRate: SAMPLE_RATE, numChannels: 1 });
    try {
      for await (const frame of stream) {
        if (this.closed || !this.source) break;
        if (this.greeting) continue;
        await this.source.captureFrame(frame);
      }
    } catch (err) {
      if (!this.closed) this.logger.warn({ err }, 'demo echo stopped');
    }
  }

  /** Whether a connector participant is (still) in the room. */
  get hasConnector(): boolean {
    return [...this.room.remoteParticipants.values()].some(
      (p) => p.kind === ParticipantKind.CONNECTOR,
    );
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.source?.close().catch(() => undefined);
    await this.room.disconnect().catch(() => undefined);
  }
}

/**
 * Keeps one {@link DemoRoomSession} per call room: `join(room)` when a call is routed or dialled,
 * and leaves rooms whose connector has gone (after a grace period for calls still being set up).
 */
export class DemoEchoParticipant {
  private readonly sessions = new Map<string, { session: DemoRoomSession; since: number }>();
  private readonly timer: NodeJS.Timeout;
  private closed = false;

  constructor(
    private readonly livekit: LiveKitConfig,
    private readonly logger: Logger,
    /** Leave a room without a connector after this long, ms. Default 60 000. */
    private readonly graceMs = 60_000,
  ) {
    this.timer = setInterval(() => void this.sweep(), 2000);
    this.timer.unref();
  }

  /** Join `roomName` unless already there. Never throws (a failed join is logged). */
  async join(roomName: string): Promise<void> {
    if (this.closed || this.sessions.has(roomName)) return;
    const session = new DemoRoomSession(roomName, this.logger);
    this.sessions.set(roomName, { session, since: Date.now() });
    try {
      await session.start(this.livekit);
    } catch (err) {
      this.logger.warn({ err, room: roomName }, 'demo agent could not join');
      this.sessions.delete(roomName);
      await session.close();
    }
  }

  private async sweep(): Promise<void> {
    const now = Date.now();
    for (const [room, { session, since }] of this.sessions) {
      if (!session.hasConnector && now - since > this.graceMs) {
        this.sessions.delete(room);
        await session.close();
      }
    }
  }

  /** Leave a room now (its call ended). */
  async leave(roomName: string): Promise<void> {
    const entry = this.sessions.get(roomName);
    if (!entry) return;
    this.sessions.delete(roomName);
    await entry.session.close();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    await Promise.all([...this.sessions.values()].map(({ session }) => session.close()));
    this.sessions.clear();
  }
}
