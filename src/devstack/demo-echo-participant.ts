/**
 * The stand-in agent of `whatsapp-connector dev`: joins each call's room, greets the caller with
 * two beeps and then echoes what the caller says, so a first run shows audio flowing both ways
 * without writing an agent. It publishes as soon as it joins, which is also what a ready-gated
 * accept (`accept: when_agent_ready`) waits for.
 */
import { AccessToken } from 'livekit-server-sdk';
import type { LiveKitConfig } from '../config/index.js';
import {
  LiveKitParticipant,
  ParticipantKind,
  type LocalAudioTrack,
  type RemoteAudioTrack,
} from '../livekit/index.js';
import type { Logger } from '../log/index.js';
import { FrameClock } from '../media/frame-clock.js';
import { ToneGenerator } from '../media/tone.js';
import { CallerTrackWriter } from '../room/caller-track-writer.js';

const SAMPLE_RATE = 48_000;
const FRAME_SAMPLES = 960;

export const DEMO_IDENTITY = 'demo-echo-agent';

/** One room the demo sits in: our TypeScript participant, echoing Opus without decoding it. */
class DemoRoomSession {
  private participant: LiveKitParticipant | undefined;
  private writer: CallerTrackWriter | undefined;
  private greeting: FrameClock | undefined;
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
    const url = livekit.url.replace(/^http/, 'ws');
    const loopback = /^wss?:\/\/(127\.|localhost[:/])/.test(url);
    const participant = await LiveKitParticipant.join({
      url,
      token: await token.toJwt(),
      ...(loopback ? { ice: { hostAddresses: ['127.0.0.1'] } } : {}),
      audioTracks: [{ name: 'demo-echo' }],
    });
    this.participant = participant;
    if (this.closed) {
      await participant.leave();
      return;
    }
    const track: LocalAudioTrack | undefined = participant.localTracks[0];
    if (!track) throw new Error('the demo track was not published');
    this.writer = new CallerTrackWriter(track, { sampleRate: SAMPLE_RATE });
    for (const remote of participant.remoteTracks.values()) this.echo(remote);
    participant.on('trackSubscribed', (remote) => this.echo(remote));
    this.logger.info(
      { room: this.roomName },
      'demo agent joined; greeting, then echoing the caller',
    );
    this.greet();
  }

  /** Two short beeps (660 Hz), so the caller hears the agent before saying anything. */
  private greet(): void {
    const tone = new ToneGenerator(660, SAMPLE_RATE, 0.25);
    const silence = new Int16Array(FRAME_SAMPLES);
    let frame = 0;
    const clock = new FrameClock({
      onTick: () => {
        // 500 ms beep, 500 ms pause, 500 ms beep.
        const part = Math.floor(frame / 25);
        frame++;
        if (part >= 3) {
          clock.stop();
          this.greeting = undefined;
          return;
        }
        this.writer?.writePcm(part === 1 ? silence : tone.next(FRAME_SAMPLES));
      },
      onError: (err) => this.logger.warn({ err }, 'demo greeting failed'),
    });
    this.greeting = clock;
    clock.start();
  }

  private echo(track: RemoteAudioTrack): void {
    if (track.participant.kind !== ParticipantKind.CONNECTOR) return;
    this.logger.info(
      { room: this.roomName, participant: track.participant.identity },
      'echoing caller',
    );
    track.on('rtp', (packet) => {
      if (this.closed || this.greeting) return;
      this.writer?.writeOpus({
        payload: Uint8Array.from(packet.payload),
        sequenceNumber: packet.header.sequenceNumber,
        timestamp: packet.header.timestamp,
        ssrc: packet.header.ssrc,
        marker: packet.header.marker,
      });
    });
  }

  /** Whether a connector participant is (still) in the room. */
  get hasConnector(): boolean {
    return [...(this.participant?.remoteParticipants.values() ?? [])].some(
      (p) => p.kind === ParticipantKind.CONNECTOR,
    );
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.greeting?.stop();
    await this.participant?.leave().catch(() => undefined);
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
