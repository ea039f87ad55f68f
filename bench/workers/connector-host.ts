/**
 * Bench child process: the connector service exactly as `whatsapp-connector serve` builds it
 * (loadConfig from the environment → ConnectorServer with the real CallManager), plus an IPC
 * side door that reads per-call media leg counters (framesConcealed etc.), which the service
 * does not publish. Its CPU (and that of any children it forks) is read from /proc by the bench.
 */
import { loadConfig } from '../../src/config/index.js';
import { createLogger } from '../../src/log/index.js';
import { ConnectorServer } from '../../src/server/connector-server.js';
import { serveRpc } from '../lib/worker-rpc.js';

const config = loadConfig({ overrides: { port: 0, bindAddress: '127.0.0.1' } });
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

serveRpc({
  async start() {
    const port = await server.start();
    return {
      url: `http://127.0.0.1:${port}`,
      pid: process.pid,
      // Room legs no longer run in worker processes (the setting is deprecated).
      roomWorkerCallsPerProcess: null,
    };
  },
  stats() {
    const calls = server.calls?.registry.all() ?? [];
    return {
      activeCalls: server.calls?.registry.activeCount ?? 0,
      retainedCalls: calls.length,
      openMediaLegs: calls.filter((c) => (c.media.stats() as LegStats).state !== 'closed').length,
      legs: calls.map((c) => ({
        callId: c.callId,
        state: c.state,
        media: c.media.stats() as LegStats,
        // Frames waiting to be sent to Meta (a standing backlog is standing latency).
        sendQueueFrames: (c.media as { queuedFrames?: number }).queuedFrames ?? null,
      })),
      memory: process.memoryUsage(),
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
