/**
 * Bench child process: a plain rtc-node room participant (libwebrtc, NetEQ playout) that speaks
 * timestamped tone bursts and records what it hears with arrival times: the independent
 * implementation the bench keeps for its audio checks (a few per run; the load itself comes from
 * agent-worker.ts). One per process: a join stalls the other participants' sender loops in the
 * same process.
 */
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
  dispose,
  type RemoteTrack,
} from '@livekit/rtc-node';
import { AccessToken } from 'livekit-server-sdk';
import {
  BurstGenerator,
  analyseBursts,
  firstToneAt,
  pruneChunks,
  toneSnrDb,
  type BurstPattern,
  type TimedChunk,
} from '../lib/burst-signal.js';
import { rmsDbfs } from '../../src/media/tone.js';
import { serveRpc } from '../lib/worker-rpc.js';

const SAMPLE_RATE = 48_000;
/** rtc-node's usual 10 ms capture frame. */
const FRAME_SAMPLES = 480;

class Participant {
  readonly room = new Room();
  readonly chunks: TimedChunk[] = [];
  generator: BurstGenerator | undefined;
  private speaking = false;
  private sender: Promise<void> | undefined;
  private source: AudioSource | undefined;
  private trackResolve: ((t: RemoteTrack) => void) | undefined;
  readonly track: Promise<RemoteTrack>;
  remoteIdentity: string | undefined;

  /** @param listenPrefix record only a participant whose identity starts with this. */
  constructor(listenPrefix?: string) {
    this.track = new Promise((resolve) => (this.trackResolve = resolve));
    this.room.on(RoomEvent.TrackSubscribed, (track, _pub, participant) => {
      if (track.kind !== TrackKind.KIND_AUDIO || this.remoteIdentity !== undefined) return;
      if (listenPrefix !== undefined && !participant.identity.startsWith(listenPrefix)) return;
      this.remoteIdentity = participant.identity;
      this.trackResolve?.(track);
      // A track released before rtc-node's queued event reached us cannot be opened; the bench
      // then reports the audio it did not hear instead of the worker dying.
      this.record(track).catch(() => {});
    });
  }

  private async record(track: RemoteTrack): Promise<void> {
    const stream = new AudioStream(track, { sampleRate: SAMPLE_RATE, numChannels: 1 });
    for await (const frame of stream) {
      this.chunks.push({ atMs: Date.now(), samples: new Int16Array(frame.data) });
    }
  }

  /**
   * Publish a track and send the burst pattern on an elapsed-time clock (10 ms frames), so a
   * stalled loop catches up instead of drifting; the onset time is when the frame is handed over.
   */
  async speak(pattern: BurstPattern): Promise<void> {
    this.source = new AudioSource(SAMPLE_RATE, 1, 0);
    const track = LocalAudioTrack.createAudioTrack('bench-voice', this.source);
    const opts = new TrackPublishOptions();
    opts.source = TrackSource.SOURCE_MICROPHONE;
    await this.room.localParticipant!.publishTrack(track, opts);
    const generator = new BurstGenerator(pattern, SAMPLE_RATE);
    this.generator = generator;
    this.speaking = true;
    const source = this.source;
    this.sender = (async () => {
      const start = Date.now();
      let sent = 0;
      while (this.speaking) {
        const due = start + sent * 10;
        const wait = due - Date.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        if (!this.speaking) break;
        const pcm = generator.next(FRAME_SAMPLES, Date.now());
        await source.captureFrame(new AudioFrame(pcm, SAMPLE_RATE, 1, FRAME_SAMPLES));
        sent++;
        // Never fall more than 100 ms behind (a long stall is not re-sent as a burst).
        if (Date.now() - (start + sent * 10) > 100) sent = Math.floor((Date.now() - start) / 10);
      }
    })();
  }

  async close(): Promise<void> {
    this.speaking = false;
    await this.sender?.catch(() => undefined);
    await this.source?.close().catch(() => undefined);
    await this.room.disconnect().catch(() => undefined);
  }
}

const participants = new Map<string, Participant>();
let nextKey = 1;

function get(key: string): Participant {
  const p = participants.get(key);
  if (!p) throw new Error(`no participant ${key}`);
  return p;
}

serveRpc({
  async join(p: {
    wsUrl: string;
    apiKey: string;
    apiSecret: string;
    room: string;
    identity: string;
    speak?: BurstPattern;
    listenPrefix?: string;
  }) {
    const participant = new Participant(p.listenPrefix);
    const token = new AccessToken(p.apiKey, p.apiSecret, { identity: p.identity });
    token.addGrant({ roomJoin: true, room: p.room, canSubscribe: true, canPublish: true });
    await participant.room.connect(p.wsUrl, await token.toJwt(), {
      autoSubscribe: true,
      dynacast: false,
    });
    if (p.speak) await participant.speak(p.speak);
    const key = String(nextKey++);
    participants.set(key, participant);
    return key;
  },
  async speak(p: { key: string; pattern: BurstPattern }) {
    await get(p.key).speak(p.pattern);
    return true;
  },
  async waitTrack(p: { key: string; timeoutMs: number }) {
    const participant = get(p.key);
    const timeout = new Promise<undefined>((r) => setTimeout(() => r(undefined), p.timeoutMs));
    const t = await Promise.race([participant.track, timeout]);
    if (!t) throw new Error('no remote audio track');
    return participant.remoteIdentity;
  },
  async firstTone(p: { key: string; hz: number; fromMs: number; timeoutMs: number }) {
    const participant = get(p.key);
    const deadline = Date.now() + p.timeoutMs;
    let checked = 0;
    for (;;) {
      for (; checked < participant.chunks.length; checked++) {
        const at = firstToneAt([participant.chunks[checked]!], SAMPLE_RATE, p.hz, p.fromMs);
        if (at !== undefined) return at;
      }
      if (Date.now() > deadline) return null;
      await new Promise((r) => setTimeout(r, 10));
    }
  },
  /** Bursts received and sent in [fromMs, toMs); drops audio before `toMs` afterwards. */
  analyse(p: { key: string; listen: BurstPattern; fromMs: number; toMs: number }) {
    const participant = get(p.key);
    const received = analyseBursts(participant.chunks, SAMPLE_RATE, p.listen, p.fromMs, p.toMs);
    const sent = participant.generator?.onsetsBetween(p.fromMs, p.toMs) ?? [];
    pruneChunks(participant.chunks, p.toMs - 1000);
    participant.generator?.prune(p.toMs - 1000);
    return { received, sent };
  },
  snr(p: { key: string; hz: number; fromMs: number; toMs: number }) {
    return { snrDb: toneSnrDb(get(p.key).chunks, SAMPLE_RATE, p.hz, p.fromMs, p.toMs) };
  },
  async leave(p: { key: string }) {
    const participant = participants.get(p.key);
    participants.delete(p.key);
    await participant?.close();
    return true;
  },
  count() {
    return participants.size;
  },
  /** Diagnostics: arrival time and level (dBFS) of each received chunk in [fromMs, toMs). */
  levels(p: { key: string; fromMs: number; toMs: number }) {
    return get(p.key)
      .chunks.filter((c) => c.atMs >= p.fromMs && c.atMs < p.toMs)
      .map((c) => [c.atMs, Math.round(rmsDbfs(c.samples)), c.samples.length]);
  },
});

let stopping = false;
process.on('SIGTERM', () => {
  if (stopping) return;
  stopping = true;
  void (async () => {
    await Promise.all([...participants.values()].map((p) => p.close()));
    await dispose().catch(() => undefined);
    process.exit(0);
  })();
});
