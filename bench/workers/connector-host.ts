/**
 * Bench child process: the connector service exactly as `whatsapp-connector serve` builds it
 * (loadConfig from the environment → ConnectorServer with the real CallManager), plus an IPC
 * side door that reads per-call media leg counters (framesConcealed etc.), which the service
 * does not publish, and for the soak the listeners on live EventEmitters and libuv handles. Its
 * CPU (and that of any children it forks) is read from /proc by the bench. The bench also runs
 * this file from an older checkout (the peer row), so the RPC shape stays backward compatible.
 */
import { EventEmitter } from 'node:events';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/index.js';
import { createLogger } from '../../src/log/index.js';
import { ConnectorServer } from '../../src/server/connector-server.js';
import { serveRpc } from '../lib/worker-rpc.js';

/**
 * Every EventEmitter that ever got a listener, weakly held: a listener leak shows as a growing
 * sum of listener counts over the live ones. Patched before the server is built.
 */
const emitters = new Set<WeakRef<EventEmitter>>();
const seen = new WeakSet<EventEmitter>();
for (const method of [
  'on',
  'addListener',
  'once',
  'prependListener',
  'prependOnceListener',
] as const) {
  const original = EventEmitter.prototype[method];
  EventEmitter.prototype[method] = function (
    this: EventEmitter,
    ...args: Parameters<typeof original>
  ) {
    if (!seen.has(this)) {
      seen.add(this);
      emitters.add(new WeakRef(this));
    }
    return original.apply(this, args);
  } as typeof original;
}
function liveListeners(): number {
  let total = 0;
  for (const ref of emitters) {
    const e = ref.deref();
    if (!e) {
      emitters.delete(ref);
      continue;
    }
    for (const name of e.eventNames()) total += e.listenerCount(name);
  }
  return total;
}

// A state store of its own unless STATE_DIR names one (benches run several connectors at once).
const config = loadConfig({
  env: { STATE_DIR: mkdtempSync(join(tmpdir(), 'wac-bench-state-')), ...process.env },
  overrides: { port: 0, bindAddress: '127.0.0.1' },
});
const server = new ConnectorServer({
  config,
  logger: createLogger({ level: config.logLevel, name: 'bench-connector' }),
});

interface LegStats {
  framesDecoded?: number;
  framesConcealed?: number;
  packetsReceived?: number;
  packetsLost?: number;
  state?: string;
}

/** A call's media leg counters; tolerant of builds whose calls are shaped differently. */
function legOf(call: unknown): { stats: LegStats; queuedFrames: number | null } {
  try {
    const media = (call as { media?: { stats?: () => unknown; queuedFrames?: number } }).media;
    return {
      stats: (media?.stats?.() ?? {}) as LegStats,
      queuedFrames: media?.queuedFrames ?? null,
    };
  } catch {
    return { stats: {}, queuedFrames: null };
  }
}

serveRpc({
  async start() {
    const port = await server.start();
    return {
      url: `http://127.0.0.1:${port}`,
      pid: process.pid,
      // Builds with room worker processes have this setting; later ones do not.
      roomWorkerCallsPerProcess:
        (config.calls as { roomWorkerCallsPerProcess?: number }).roomWorkerCallsPerProcess ?? null,
    };
  },
  stats() {
    const calls = server.calls?.registry.all() ?? [];
    return {
      activeCalls: server.calls?.registry.activeCount ?? 0,
      retainedCalls: calls.length,
      // Legs whose state is known and not closed (a build without leg stats reports 0).
      openMediaLegs: calls.filter((c) => {
        const state = legOf(c).stats.state;
        return state !== undefined && state !== 'closed';
      }).length,
      legs: calls.map((c) => ({
        callId: c.callId,
        state: c.state,
        media: legOf(c).stats,
        // Frames waiting to be sent to Meta (a standing backlog is standing latency).
        sendQueueFrames: legOf(c).queuedFrames,
      })),
      memory: process.memoryUsage(),
      listeners: liveListeners(),
      handles: (process as unknown as { _getActiveHandles(): unknown[] })._getActiveHandles()
        .length,
    };
  },
  gc() {
    const gc = (globalThis as { gc?: () => void }).gc;
    gc?.();
    return gc !== undefined;
  },
});

let stopping = false;
process.on('SIGTERM', () => {
  if (stopping) return;
  stopping = true;
  void (async () => {
    await server.close().catch(() => undefined);
    process.exit(0);
  })();
});
