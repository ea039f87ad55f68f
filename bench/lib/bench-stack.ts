/**
 * The system under test, each part in its own process so the OS can attribute CPU:
 * livekit-server, the simulator (Meta + users), the connector, and room participant hosts.
 */
import { SessionDescription } from '@livekit/protocol';
import { ConnectorClient, RoomServiceClient } from 'livekit-server-sdk';
import { startLiveKitServer, type LiveKitServerHandle } from '../../testbed/livekit-server.js';
import type { BurstPattern } from './burst-signal.js';
import { CpuMeter } from './proc-stats.js';
import { matchBursts, type DirectionResult } from './stats.js';
import { RpcChild } from './worker-rpc.js';

/**
 * Room participants per rtc-node process. Default 1: a participant joining stalls every other
 * participant's 10 ms sender loop in the same process, the catch-up burst shifts the receiver's
 * NetEQ playout, and the connector's room → user delay then grows by 150-300 ms for the rest of
 * the call — an artefact of the bench, not of the connector (measured: 4 calls with 8 per process
 * gave standing per-call delays of 300-450 ms; 1 per process, 136-155 ms). Override with
 * BENCH_PARTICIPANTS_PER_WORKER (rtc-node's cost grows with participants² per process).
 */
export const PARTICIPANTS_PER_ROOM_WORKER = Math.max(
  1,
  Number(process.env.BENCH_PARTICIPANTS_PER_WORKER ?? 1) || 1,
);

export interface StackOptions {
  /** Extra connector environment (e.g. ROOM_WORKER_CALLS_PER_PROCESS). */
  connectorEnv?: Record<string, string>;
  /** Write a V8 CPU profile of the connector into this directory. */
  cpuProfileDir?: string;
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
}

/** One bridged call as the bench sees it: the user's call id and the room listener. */
export interface BenchCall {
  callId: string;
  roomName: string;
  listener: RoomParticipantRef;
  userSpeaks: BurstPattern;
  roomSpeaks: BurstPattern;
}

/** User and room patterns: bursts of different tones so each end knows what it hears. */
export const USER_BURSTS: BurstPattern = { hz: 700, periodMs: 500, onMs: 300 };
export const ROOM_BURSTS: BurstPattern = { hz: 1000, periodMs: 500, onMs: 300 };
export const USER_TONE: BurstPattern = { hz: 700, periodMs: 20, onMs: 20 };
export const ROOM_TONE: BurstPattern = { hz: 1000, periodMs: 20, onMs: 20 };

let callCounter = 0;

export class BenchStack {
  readonly workers: RpcChild[] = [];
  private readonly workerLoad = new Map<RpcChild, number>();
  readonly meter: CpuMeter;

  private constructor(
    readonly lk: LiveKitServerHandle,
    readonly sim: RpcChild,
    readonly simInfo: SimInfo,
    readonly connector: RpcChild,
    readonly connectorUrl: string,
    readonly client: ConnectorClient,
    readonly rooms: RoomServiceClient,
    readonly connectorEnv: Record<string, string>,
    /** The connector's effective setting; null when this build has no room workers. */
    readonly roomWorkerCallsPerProcess: number | null,
  ) {
    this.meter = new CpuMeter({
      // The connector and everything it forks (room worker processes).
      connector: { roots: () => [connector.pid], tree: true },
      livekitServer: { roots: () => [lk.process.child.pid ?? -1], tree: true },
      simulator: { roots: () => [sim.pid], tree: true },
      roomParticipants: { roots: () => this.workers.map((w) => w.pid), tree: true },
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
    const started: { stop(): Promise<void> }[] = [lk];
    try {
      const sim = await RpcChild.start(
        'simulator',
        new URL('../workers/sim-worker.ts', import.meta.url),
      );
      started.push(sim);
      const simInfo = await sim.call<SimInfo>('start', {});
      const connectorEnv: Record<string, string> = {
        LIVEKIT_URL: lk.wsUrl,
        LIVEKIT_API_KEY: lk.apiKey,
        LIVEKIT_API_SECRET: lk.apiSecret,
        WHATSAPP_GRAPH_URL: simInfo.graphUrl,
        MEDIA_ICE_ADDRESSES: '127.0.0.1',
        MAX_CONCURRENT_CALLS: '1000',
        // The capacity ramp measures past the point where admission control would refuse.
        ADMISSION_CONTROL: 'false',
        LOG_LEVEL: process.env.BENCH_CONNECTOR_LOG_LEVEL ?? 'error',
        ...options.connectorEnv,
      };
      const execArgv = ['--expose-gc'];
      // Only the connector process itself: Node 20 refuses --cpu-prof in NODE_OPTIONS and the
      // connector forks its room workers with fixed execArgv (profile with
      // ROOM_WORKER_CALLS_PER_PROCESS=0 to see the room legs' JavaScript).
      if (options.cpuProfileDir)
        execArgv.push('--cpu-prof', `--cpu-prof-dir=${options.cpuProfileDir}`);
      const connector = await RpcChild.start(
        'connector',
        new URL('../workers/connector-host.ts', import.meta.url),
        // NODE_ENV=production only quiets rtc-node's debug log (its only use in the tree).
        { env: { ...connectorEnv, NODE_ENV: 'production' }, execArgv },
      );
      started.push(connector);
      const { url, roomWorkerCallsPerProcess } = await connector.call<{
        url: string;
        roomWorkerCallsPerProcess: number | null;
      }>('start');
      return new BenchStack(
        lk,
        sim,
        simInfo,
        connector,
        url,
        new ConnectorClient(url, lk.apiKey, lk.apiSecret),
        new RoomServiceClient(lk.httpUrl, lk.apiKey, lk.apiSecret),
        connectorEnv,
        roomWorkerCallsPerProcess,
      );
    } catch (err) {
      // Nothing started here may outlive a failed start.
      for (const part of started.reverse()) await part.stop().catch(() => undefined);
      throw err;
    }
  }

  /** A new room participant host (separate from the pool, e.g. for the direct path). */
  async newWorker(): Promise<RpcChild> {
    const w = await RpcChild.start(
      `room-worker-${this.workers.length + 1}`,
      new URL('../workers/room-worker.ts', import.meta.url),
      { env: { RUST_LOG: 'error', NODE_ENV: 'production' } },
    );
    this.workers.push(w);
    this.workerLoad.set(w, 0);
    return w;
  }

  /** Join a participant on the least loaded worker (spawning one when all are full). */
  async join(
    room: string,
    identity: string,
    speak?: BurstPattern,
    worker?: RpcChild,
  ): Promise<RoomParticipantRef> {
    let w = worker;
    if (!w) {
      let best: RpcChild | undefined;
      for (const [cand, load] of this.workerLoad) {
        if (load < PARTICIPANTS_PER_ROOM_WORKER && (!best || load < this.workerLoad.get(best)!))
          best = cand;
      }
      w = best ?? (await this.newWorker());
    }
    this.workerLoad.set(w, (this.workerLoad.get(w) ?? 0) + 1);
    try {
      const key = await w.call<string>('join', {
        wsUrl: this.lk.wsUrl,
        apiKey: this.lk.apiKey,
        apiSecret: this.lk.apiSecret,
        room,
        identity,
        ...(speak ? { speak } : {}),
      });
      return { worker: w, key };
    } catch (err) {
      this.workerLoad.set(w, (this.workerLoad.get(w) ?? 1) - 1);
      throw err;
    }
  }

  async leave(p: RoomParticipantRef): Promise<void> {
    await p.worker.call('leave', { key: p.key }).catch(() => undefined);
    this.workerLoad.set(p.worker, Math.max(0, (this.workerLoad.get(p.worker) ?? 1) - 1));
  }

  /** Stop idle room workers (rtc-node processes hold native state between rooms). */
  async stopIdleWorkers(): Promise<void> {
    for (const [w, load] of [...this.workerLoad]) {
      if (load > 0) continue;
      this.workerLoad.delete(w);
      this.workers.splice(this.workers.indexOf(w), 1);
      await w.stop();
    }
  }

  /** Sets up one inbound call: listener in the room, user calls, AcceptWhatsAppCall (wait until answered). */
  async inboundCall(opts: {
    userSpeaks: BurstPattern;
    roomSpeaks: BurstPattern;
    onAcceptStart?: (ms: number) => void;
  }): Promise<BenchCall & { acceptStartMs: number; acceptDoneMs: number }> {
    const n = ++callCounter;
    const roomName = `bench-in-${n}-${process.pid}`;
    const listener = await this.join(roomName, `listener-${n}`, opts.roomSpeaks);
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
      return {
        callId: placed.id,
        roomName,
        listener,
        userSpeaks: opts.userSpeaks,
        roomSpeaks: opts.roomSpeaks,
        acceptStartMs,
        acceptDoneMs,
      };
    } catch (err) {
      await this.leave(listener);
      throw err;
    }
  }

  /** Business hang-up (DisconnectWhatsAppCall) and the listener leaves. */
  async endCall(call: BenchCall, by: 'business' | 'user' = 'business'): Promise<void> {
    if (by === 'business') {
      await this.client
        .disconnectWhatsAppCall(call.callId, this.simInfo.accessToken)
        .catch(() => undefined);
    } else {
      await this.sim.call('hangUp', { id: call.callId }).catch(() => undefined);
    }
    await this.leave(call.listener);
  }

  /** Latency and frame loss of both directions of a call over [fromMs, toMs). */
  async measureCall(
    call: BenchCall,
    fromMs: number,
    toMs: number,
  ): Promise<{ userToRoom: DirectionResult; roomToUser: DirectionResult }> {
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
    };
  }

  connectorStats(): Promise<ConnectorStats> {
    return this.connector.call<ConnectorStats>('stats');
  }

  async stop(): Promise<void> {
    await Promise.allSettled(this.workers.map((w) => w.stop()));
    await this.connector.stop(10_000).catch(() => undefined);
    await this.sim.stop().catch(() => undefined);
    await this.lk.stop().catch(() => undefined);
  }
}
