/**
 * The system under test, each part in its own process so the OS can attribute CPU:
 * livekit-server, the simulator (Meta + users), the connector under test (ours, or the peer
 * checkout's, one at a time against the same livekit-server and simulator), and room
 * participant hosts (TypeScript agents for the load, a few rtc-node listeners for audio checks).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SessionDescription } from '@livekit/protocol';
import { ConnectorClient, RoomServiceClient } from 'livekit-server-sdk';
import { startLiveKitServer, type LiveKitServerHandle } from '../../testbed/livekit-server.js';
import type { BurstPattern } from './burst-signal.js';
import { CpuMeter } from './proc-stats.js';
import { matchBursts, type DirectionResult } from './stats.js';
import { RpcChild } from './worker-rpc.js';

/**
 * Room agents (the TypeScript participant) per agent-worker process. Each costs about
 * 0.5 CPU-s per minute (werift, 50 packets/s each way, no codec), so 10 share one event loop
 * without delaying each other's 20 ms sends noticeably. Override with BENCH_AGENTS_PER_WORKER.
 */
export const AGENTS_PER_WORKER = Math.max(
  1,
  Number(process.env.BENCH_AGENTS_PER_WORKER ?? 10) || 10,
);

/** Which room participant implementation hosts a participant. */
export type ParticipantKind = 'agent' | 'rtc-node';

/** The connector process under test: which checkout's connector-host, and its name in reports. */
export interface ConnectorSpec {
  /** e.g. "ours" or "peer". */
  name: string;
  /** The connector-host script (bench/workers/connector-host.ts of some checkout). */
  script: URL;
  /** Working directory (the checkout, so its tsx and node_modules resolve). Default ours. */
  cwd?: string;
  /** Extra environment. */
  env?: Record<string, string>;
}

export interface StackOptions {
  /** The first connector to run (default: ours, this checkout). */
  connector?: ConnectorSpec;
  /** Write a V8 CPU profile of the connector into this directory. */
  cpuProfileDir?: string;
}

/** This checkout's connector. */
export function ourConnector(env: Record<string, string> = {}): ConnectorSpec {
  return { name: 'ours', script: new URL('../workers/connector-host.ts', import.meta.url), env };
}

interface SimInfo {
  graphUrl: string;
  phoneNumberId: string;
  accessToken: string;
}

export interface RoomParticipantRef {
  worker: RpcChild;
  key: string;
}

export interface JoinOptions {
  speak?: BurstPattern;
  /** A given worker process (e.g. one of its own for the direct path). */
  worker?: RpcChild;
  /** Default 'agent' (the TypeScript participant). */
  kind?: ParticipantKind;
  /** Receive remote audio. Default true. */
  subscribe?: boolean;
  /** Record only a participant whose identity starts with this. Default: the first one heard. */
  listenPrefix?: string;
}

export interface ConnectorStats {
  activeCalls: number;
  retainedCalls: number;
  openMediaLegs: number;
  legs: {
    callId: string;
    state: string;
    media: {
      framesDecoded?: number;
      framesConcealed?: number;
      packetsLost?: number;
      sendQueueDrops?: number;
      jitterBufferMs?: number;
      clockResyncs?: number;
    };
    sendQueueFrames: number | null;
  }[];
  memory: NodeJS.MemoryUsage;
  /** Listeners on live EventEmitters (connector-host builds that count them). */
  listeners?: number;
  /** Active libuv handles (sockets, timers...). */
  handles?: number;
}

/** One bridged call as the bench sees it: the user's call id and the room listener. */
export interface BenchCall {
  callId: string;
  roomName: string;
  listener: RoomParticipantRef;
  /** Other participants of the bench in the room (a second speaker, an rtc-node listener). */
  extras: RoomParticipantRef[];
  userSpeaks: BurstPattern;
  roomSpeaks: BurstPattern;
}

/** User and room patterns: bursts of different tones so each end knows what it hears. */
export const USER_BURSTS: BurstPattern = { hz: 700, periodMs: 500, onMs: 300 };
export const ROOM_BURSTS: BurstPattern = { hz: 1000, periodMs: 500, onMs: 300 };
export const USER_TONE: BurstPattern = { hz: 700, periodMs: 20, onMs: 20 };
export const ROOM_TONE: BurstPattern = { hz: 1000, periodMs: 20, onMs: 20 };
/**
 * A second room speaker (the mixing case): a continuous 400 Hz tone at −43 dBFS, below the
 * detector's −40 dBFS silence level, so the first agent's bursts stay measurable in the mix.
 */
export const SECOND_SPEAKER: BurstPattern = { hz: 400, periodMs: 20, onMs: 20, amplitude: 0.01 };

let callCounter = 0;

interface ConnectorProcess {
  spec: ConnectorSpec;
  child: RpcChild;
  url: string;
  client: ConnectorClient;
  /** The connector's room worker setting when its build has one (older builds), else null. */
  roomWorkerCallsPerProcess: number | null;
  stateDir: string;
}

export class BenchStack {
  readonly workers: RpcChild[] = [];
  private readonly workerLoad = new Map<RpcChild, { kind: ParticipantKind; load: number }>();
  readonly meter: CpuMeter;
  private current: ConnectorProcess | undefined;

  private constructor(
    readonly lk: LiveKitServerHandle,
    readonly sim: RpcChild,
    readonly simInfo: SimInfo,
    readonly rooms: RoomServiceClient,
    private readonly cpuProfileDir: string | undefined,
  ) {
    const kindPids = (kind: ParticipantKind) => () =>
      [...this.workerLoad].filter(([, v]) => v.kind === kind).map(([w]) => w.pid);
    this.meter = new CpuMeter({
      // The connector and everything it forks (room worker processes of older builds).
      connector: { roots: () => (this.current ? [this.current.child.pid] : []), tree: true },
      livekitServer: { roots: () => [lk.process.child.pid ?? -1], tree: true },
      simulator: { roots: () => [sim.pid], tree: true },
      agents: { roots: kindPids('agent'), tree: true },
      rtcNodeListeners: { roots: kindPids('rtc-node'), tree: true },
      // This process only: its children are the groups above.
      benchDriver: { roots: () => [process.pid], tree: false },
    });
  }

  static async start(options: StackOptions = {}): Promise<BenchStack> {
    // Ports are picked free then bound by the server; another process can win the race.
    let lk: LiveKitServerHandle | undefined;
    for (let attempt = 1; !lk; attempt++) {
      try {
        lk = await startLiveKitServer({ logLevel: 'warn' });
      } catch (err) {
        if (attempt >= 3) throw err;
      }
    }
    let sim: RpcChild | undefined;
    try {
      sim = await RpcChild.start('simulator', new URL('../workers/sim-worker.ts', import.meta.url));
      const simInfo = await sim.call<SimInfo>('start', {});
      const stack = new BenchStack(
        lk,
        sim,
        simInfo,
        new RoomServiceClient(lk.httpUrl, lk.apiKey, lk.apiSecret),
        options.cpuProfileDir,
      );
      await stack.useConnector(options.connector ?? ourConnector());
      return stack;
    } catch (err) {
      // Nothing started here may outlive a failed start.
      await sim?.stop().catch(() => undefined);
      await lk.stop().catch(() => undefined);
      throw err;
    }
  }

  /** The connector process under test now. */
  get connector(): RpcChild {
    if (!this.current) throw new Error('no connector running');
    return this.current.child;
  }

  get connectorName(): string {
    return this.current?.spec.name ?? 'none';
  }

  get connectorUrl(): string {
    if (!this.current) throw new Error('no connector running');
    return this.current.url;
  }

  get client(): ConnectorClient {
    if (!this.current) throw new Error('no connector running');
    return this.current.client;
  }

  /** The running connector's room worker setting (null: its build has no room workers). */
  get roomWorkerCallsPerProcess(): number | null {
    return this.current?.roomWorkerCallsPerProcess ?? null;
  }

  get connectorEnv(): Record<string, string> {
    return this.current?.spec.env ?? {};
  }

  /**
   * Stops the running connector (if any) and starts `spec` against the same livekit-server and
   * simulator. The connector is a black box process: its CPU, RSS and fds come from /proc; the
   * RPC side door (`stats`, `gc`) of its connector-host is used where it exists.
   */
  async useConnector(spec: ConnectorSpec): Promise<void> {
    await this.stopConnector();
    const stateDir = mkdtempSync(join(tmpdir(), `bench-connector-${spec.name}-`));
    const env: Record<string, string> = {
      LIVEKIT_URL: this.lk.wsUrl,
      LIVEKIT_API_KEY: this.lk.apiKey,
      LIVEKIT_API_SECRET: this.lk.apiSecret,
      WHATSAPP_GRAPH_URL: this.simInfo.graphUrl,
      MEDIA_ICE_ADDRESSES: '127.0.0.1',
      MAX_CONCURRENT_CALLS: '1000',
      // The bench measures the media path, not the admission policy; its own process state.
      ADMISSION_CONTROL: 'false',
      STATE_DIR: stateDir,
      LOG_LEVEL: process.env.BENCH_CONNECTOR_LOG_LEVEL ?? 'error',
      ...spec.env,
      // NODE_ENV=production only quiets rtc-node's debug log.
      NODE_ENV: 'production',
    };
    const execArgv = ['--expose-gc'];
    // Only the connector process itself: Node 20 refuses --cpu-prof in NODE_OPTIONS.
    if (this.cpuProfileDir)
      execArgv.push('--cpu-prof', `--cpu-prof-dir=${join(this.cpuProfileDir, spec.name)}`);
    const child = await RpcChild.start(`connector-${spec.name}`, spec.script, {
      env,
      execArgv,
      ...(spec.cwd ? { cwd: spec.cwd } : {}),
    });
    try {
      const started = await child.call<{ url: string; roomWorkerCallsPerProcess?: number | null }>(
        'start',
      );
      this.current = {
        spec: { ...spec, env: { ...spec.env } },
        child,
        url: started.url,
        client: new ConnectorClient(started.url, this.lk.apiKey, this.lk.apiSecret),
        roomWorkerCallsPerProcess: started.roomWorkerCallsPerProcess ?? null,
        stateDir,
      };
    } catch (err) {
      await child.stop().catch(() => undefined);
      rmSync(stateDir, { recursive: true, force: true });
      throw err;
    }
  }

  async stopConnector(): Promise<void> {
    const c = this.current;
    this.current = undefined;
    if (!c) return;
    await c.child.stop(10_000).catch(() => undefined);
    rmSync(c.stateDir, { recursive: true, force: true });
  }

  /** A new room participant host (separate from the pool, e.g. for the direct path). */
  async newWorker(kind: ParticipantKind = 'agent'): Promise<RpcChild> {
    const script = kind === 'agent' ? '../workers/agent-worker.ts' : '../workers/room-worker.ts';
    const w = await RpcChild.start(
      `${kind}-worker-${this.workers.length + 1}`,
      new URL(script, import.meta.url),
      { env: { RUST_LOG: 'error', NODE_ENV: 'production' } },
    );
    this.workers.push(w);
    this.workerLoad.set(w, { kind, load: 0 });
    return w;
  }

  /** Join a participant on the least loaded worker of its kind (spawning one when all are full). */
  async join(room: string, identity: string, opts: JoinOptions = {}): Promise<RoomParticipantRef> {
    const kind = opts.kind ?? 'agent';
    const capacity = kind === 'agent' ? AGENTS_PER_WORKER : 1;
    let w = opts.worker;
    if (!w) {
      let best: RpcChild | undefined;
      for (const [cand, v] of this.workerLoad) {
        if (v.kind !== kind || v.load >= capacity) continue;
        if (!best || v.load < this.workerLoad.get(best)!.load) best = cand;
      }
      w = best ?? (await this.newWorker(kind));
    }
    const entry = this.workerLoad.get(w)!;
    entry.load++;
    try {
      const key = await w.call<string>('join', {
        wsUrl: this.lk.wsUrl,
        apiKey: this.lk.apiKey,
        apiSecret: this.lk.apiSecret,
        room,
        identity,
        ...(opts.speak ? { speak: opts.speak } : {}),
        ...(opts.subscribe === false ? { subscribe: false } : {}),
        ...(opts.listenPrefix ? { listenPrefix: opts.listenPrefix } : {}),
      });
      return { worker: w, key };
    } catch (err) {
      entry.load = Math.max(0, entry.load - 1);
      throw err;
    }
  }

  async leave(p: RoomParticipantRef): Promise<void> {
    await p.worker.call('leave', { key: p.key }).catch(() => undefined);
    const entry = this.workerLoad.get(p.worker);
    if (entry) entry.load = Math.max(0, entry.load - 1);
  }

  /** Stop idle participant workers (rtc-node processes hold native state between rooms). */
  async stopIdleWorkers(): Promise<void> {
    for (const [w, v] of [...this.workerLoad]) {
      if (v.load > 0) continue;
      this.workerLoad.delete(w);
      this.workers.splice(this.workers.indexOf(w), 1);
      await w.stop();
    }
  }

  /**
   * Sets up one inbound call: an agent in the room (speaking `roomSpeaks`, recording the
   * WhatsApp participant), the user calls, AcceptWhatsAppCall (waits until answered). With
   * `speakers: 2` a second agent joins after the accept and speaks {@link SECOND_SPEAKER};
   * `rtcNodeListener` adds an rtc-node participant that only listens (audio checks).
   */
  async inboundCall(opts: {
    userSpeaks: BurstPattern;
    roomSpeaks: BurstPattern;
    onAcceptStart?: (ms: number) => void;
    speakers?: number;
    rtcNodeListener?: boolean;
  }): Promise<BenchCall & { acceptStartMs: number; acceptDoneMs: number }> {
    const n = ++callCounter;
    const roomName = `bench-in-${n}-${process.pid}`;
    const listener = await this.join(roomName, `listener-${n}`, {
      speak: opts.roomSpeaks,
      listenPrefix: 'wa-',
    });
    const extras: RoomParticipantRef[] = [];
    try {
      const placed = await this.sim.call<{ id: string; metaSdp: string }>('place', {
        from: `1555${String(1_000_000 + n).padStart(7, '0')}`,
        speak: opts.userSpeaks,
      });
      const acceptStartMs = Date.now();
      opts.onAcceptStart?.(acceptStartMs);
      await this.client.acceptWhatsAppCall({
        whatsappPhoneNumberId: this.simInfo.phoneNumberId,
        whatsappApiKey: this.simInfo.accessToken,
        whatsappCloudApiVersion: '24.0',
        whatsappCallId: placed.id,
        sdp: new SessionDescription({ type: 'offer', sdp: placed.metaSdp }),
        roomName,
        participantIdentity: `wa-${n}`,
        waitUntilAnswered: true,
      });
      const acceptDoneMs = Date.now();
      for (let k = 2; k <= (opts.speakers ?? 1); k++) {
        extras.push(
          await this.join(roomName, `speaker-${k}-${n}`, {
            speak: SECOND_SPEAKER,
            subscribe: false,
          }),
        );
      }
      if (opts.rtcNodeListener) {
        extras.push(
          await this.join(roomName, `rtc-node-${n}`, { kind: 'rtc-node', listenPrefix: 'wa-' }),
        );
      }
      return {
        callId: placed.id,
        roomName,
        listener,
        extras,
        userSpeaks: opts.userSpeaks,
        roomSpeaks: opts.roomSpeaks,
        acceptStartMs,
        acceptDoneMs,
      };
    } catch (err) {
      await Promise.all([listener, ...extras].map((p) => this.leave(p)));
      throw err;
    }
  }

  /** Business hang-up (DisconnectWhatsAppCall) or user hang-up at Meta; the bench's participants leave. */
  async endCall(call: BenchCall, by: 'business' | 'user' = 'business'): Promise<void> {
    if (by === 'business') {
      await this.client
        .disconnectWhatsAppCall(call.callId, this.simInfo.accessToken)
        .catch(() => undefined);
    } else {
      await this.sim.call('hangUp', { id: call.callId }).catch(() => undefined);
    }
    await Promise.all([call.listener, ...call.extras].map((p) => this.leave(p)));
  }

  /** Latency and frame loss of both directions of a call over [fromMs, toMs). */
  async measureCall(
    call: BenchCall,
    fromMs: number,
    toMs: number,
  ): Promise<{ userToRoom: DirectionResult; roomToUser: DirectionResult; userSent: number[] }> {
    const [room, user] = await Promise.all([
      call.listener.worker.call<{
        received: { atMs: number; goodFrames: number }[];
        sent: number[];
      }>('analyse', {
        key: call.listener.key,
        listen: call.userSpeaks,
        fromMs: fromMs - 1000,
        toMs,
      }),
      this.sim.call<{ received: { atMs: number; goodFrames: number }[]; sent: number[] }>(
        'analyse',
        {
          id: call.callId,
          listen: call.roomSpeaks,
          fromMs: fromMs - 1000,
          toMs,
        },
      ),
    ]);
    const opts = (p: BurstPattern) => ({
      fromMs,
      toMs,
      tailMs: 1000,
      maxMs: p.periodMs * 0.9,
      framesPerBurst: Math.round(p.onMs / 20),
    });
    return {
      userToRoom: matchBursts(user.sent, room.received, opts(call.userSpeaks)),
      roomToUser: matchBursts(room.sent, user.received, opts(call.roomSpeaks)),
      userSent: user.sent,
    };
  }

  /** The connector-host side door (calls, legs, memory, listeners); undefined if it has none. */
  async connectorStats(): Promise<ConnectorStats | undefined> {
    try {
      return await this.connector.call<ConnectorStats>('stats', {}, 15_000);
    } catch {
      return undefined;
    }
  }

  async stop(): Promise<void> {
    await Promise.allSettled(this.workers.map((w) => w.stop()));
    await this.stopConnector();
    await this.sim.stop().catch(() => undefined);
    await this.lk.stop().catch(() => undefined);
  }
}
