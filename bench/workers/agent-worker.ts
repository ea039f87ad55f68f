/**
 * Bench child process: room agents on the project's own TypeScript LiveKit participant
 * (src/livekit, werift, no codec). Each agent publishes the pre-encoded burst signal (48 kHz
 * Opus, one packet per 20 ms on the process's shared clock) and keeps the RTP it receives from
 * one remote participant with arrival times, decoded only when the bench analyses it. Same RPC
 * as room-worker.ts (rtc-node), so the sections drive either kind.
 */
import { AccessToken } from 'livekit-server-sdk';
import {
  DisconnectReason,
  LiveKitParticipant,
  type RemoteAudioTrack,
} from '../../src/livekit/index.js';
import { rmsDbfs } from '../../src/media/tone.js';
import { analyseBursts, firstToneAt, toneSnrDb, type BurstPattern } from '../lib/burst-signal.js';
import { BurstReplay, PacketRecorder, SharedPacer, encodedBursts } from '../lib/opus-bursts.js';
import { serveRpc } from '../lib/worker-rpc.js';

/** Decoding rate of what an agent hears (analysis only; Opus decodes to any rate). */
const LISTEN_RATE = 16_000;

const pacer = new SharedPacer();

class Agent {
  readonly recorder = new PacketRecorder(LISTEN_RATE);
  voice: BurstReplay | undefined;
  remoteIdentity: string | undefined;
  readonly track: Promise<RemoteAudioTrack>;
  private trackResolve!: (t: RemoteAudioTrack) => void;
  private stopSending: (() => void) | undefined;

  constructor(
    readonly participant: LiveKitParticipant,
    /** Record only a participant whose identity starts with this (default: the first one). */
    private readonly listenPrefix: string | undefined,
  ) {
    this.track = new Promise((resolve) => (this.trackResolve = resolve));
    for (const t of participant.remoteTracks.values()) this.consider(t);
    participant.on('trackSubscribed', (t) => this.consider(t));
  }

  private consider(track: RemoteAudioTrack): void {
    if (this.remoteIdentity !== undefined) return;
    const identity = track.participant.identity;
    if (this.listenPrefix !== undefined && !identity.startsWith(this.listenPrefix)) return;
    this.remoteIdentity = identity;
    track.on('rtp', (packet) => this.recorder.push(packet.payload));
    this.trackResolve(track);
  }

  speak(pattern: BurstPattern): void {
    const local = this.participant.localTracks[0];
    if (!local) throw new Error('agent has no published track');
    this.stopSending?.();
    const voice = new BurstReplay(encodedBursts(pattern, 48_000));
    this.voice = voice;
    this.stopSending = pacer.add(() => {
      local.writeRtp(voice.next(Date.now()));
    });
  }

  async close(): Promise<void> {
    this.stopSending?.();
    await this.participant.leave(DisconnectReason.CLIENT_INITIATED).catch(() => undefined);
  }
}

const agents = new Map<string, Agent>();
let nextKey = 1;

function get(key: string): Agent {
  const a = agents.get(key);
  if (!a) throw new Error(`no agent ${key}`);
  return a;
}

serveRpc({
  async join(p: {
    wsUrl: string;
    apiKey: string;
    apiSecret: string;
    room: string;
    identity: string;
    speak?: BurstPattern;
    /** Receive remote audio (default true; a second speaker only talks). */
    subscribe?: boolean;
    listenPrefix?: string;
  }) {
    const token = new AccessToken(p.apiKey, p.apiSecret, { identity: p.identity });
    token.addGrant({ roomJoin: true, room: p.room, canSubscribe: true, canPublish: true });
    const participant = await LiveKitParticipant.join({
      url: p.wsUrl,
      token: await token.toJwt(),
      autoSubscribeAudio: p.subscribe ?? true,
      ice: { hostAddresses: ['127.0.0.1'] },
      audioTracks: [{ name: 'bench-voice' }],
    });
    const agent = new Agent(participant, p.listenPrefix);
    if (p.speak) agent.speak(p.speak);
    const key = String(nextKey++);
    agents.set(key, agent);
    return key;
  },
  speak(p: { key: string; pattern: BurstPattern }) {
    get(p.key).speak(p.pattern);
    return true;
  },
  async waitTrack(p: { key: string; timeoutMs: number }) {
    const agent = get(p.key);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<undefined>(
      (r) => (timer = setTimeout(() => r(undefined), p.timeoutMs)),
    );
    const t = await Promise.race([agent.track, timeout]);
    clearTimeout(timer);
    if (!t) throw new Error('no remote audio track');
    return agent.remoteIdentity;
  },
  async firstTone(p: { key: string; hz: number; fromMs: number; timeoutMs: number }) {
    const agent = get(p.key);
    const deadline = Date.now() + p.timeoutMs;
    let checked = 0;
    for (;;) {
      const chunks = agent.recorder.chunks();
      for (; checked < chunks.length; checked++) {
        const at = firstToneAt([chunks[checked]!], LISTEN_RATE, p.hz, p.fromMs);
        if (at !== undefined) return at;
      }
      if (Date.now() > deadline) return null;
      await new Promise((r) => setTimeout(r, 10));
    }
  },
  /** Bursts received and sent in [fromMs, toMs); drops audio before `toMs` afterwards. */
  analyse(p: { key: string; listen: BurstPattern; fromMs: number; toMs: number }) {
    const agent = get(p.key);
    const received = analyseBursts(
      agent.recorder.chunks(),
      LISTEN_RATE,
      p.listen,
      p.fromMs,
      p.toMs,
    );
    const sent = agent.voice?.onsetsBetween(p.fromMs, p.toMs) ?? [];
    agent.recorder.prune(p.toMs - 1000);
    agent.voice?.prune(p.toMs - 1000);
    return { received, sent };
  },
  snr(p: { key: string; hz: number; fromMs: number; toMs: number }) {
    return { snrDb: toneSnrDb(get(p.key).recorder.chunks(), LISTEN_RATE, p.hz, p.fromMs, p.toMs) };
  },
  async leave(p: { key: string }) {
    const agent = agents.get(p.key);
    agents.delete(p.key);
    await agent?.close();
    return true;
  },
  count() {
    return agents.size;
  },
  /** Diagnostics: arrival time and level (dBFS) of each received chunk in [fromMs, toMs). */
  levels(p: { key: string; fromMs: number; toMs: number }) {
    return get(p.key)
      .recorder.chunks()
      .filter((c) => c.atMs >= p.fromMs && c.atMs < p.toMs)
      .map((c) => [c.atMs, Math.round(rmsDbfs(c.samples)), c.samples.length]);
  },
  pacerResyncs() {
    return pacer.resyncs;
  },
});

let stopping = false;
process.on('SIGTERM', () => {
  if (stopping) return;
  stopping = true;
  void (async () => {
    await Promise.all([...agents.values()].map((a) => a.close()));
    process.exit(0);
  })();
});
