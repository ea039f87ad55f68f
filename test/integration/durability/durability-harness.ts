/**
 * The connector as an operator runs it: `whatsapp-connector serve` in a child process, configured
 * by environment and a YAML file, with a real livekit-server and the simulator as Meta in the test
 * process. Tests signal it (SIGTERM, SIGKILL) and start it again with the same configuration.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RoomServiceClient } from 'livekit-server-sdk';
import { stringify } from 'yaml';
import { freeTcpPort } from '../../../src/devstack/free-ports.js';
import { WhatsAppSimulator, type SimulatedCall } from '../../../src/simulator/index.js';
import { startLiveKitServer, type LiveKitServerHandle } from '../../../testbed/livekit-server.js';
import { eventually } from '../calls/bridge-harness.js';
import { startCli } from '../cli/cli-runner.js';

export const APP_SECRET = 'durability-app-secret';
export const ACCESS_TOKEN = 'durability-meta-token';

/** livekit-server and the simulator, shared by the connectors of one test file. */
export interface MetaBed {
  lk: LiveKitServerHandle;
  simulator: WhatsAppSimulator;
  phoneNumberId: string;
  rooms: RoomServiceClient;
  /** A scratch directory removed by `stop()`. */
  dir: string;
  stop(): Promise<void>;
}

export async function startMetaBed(): Promise<MetaBed> {
  const lk = await startLiveKitServer();
  const simulator = await WhatsAppSimulator.start({
    accessToken: ACCESS_TOKEN,
    appSecret: APP_SECRET,
    defaultCallPermission: 'permanent',
    // Quick webhook retries, so a 503 is retried within the test's patience.
    timing: {
      connectWebhookDelayMs: 50,
      ringingDelayMs: 50,
      webhookRetryDelaysMs: [500, 1000, 2000, 4000, 8000],
    },
  });
  const dir = mkdtempSync(join(tmpdir(), 'wac-durability-'));
  return {
    lk,
    simulator,
    phoneNumberId: simulator.defaultPhoneNumberId,
    rooms: new RoomServiceClient(lk.wsUrl.replace(/^ws/, 'http'), lk.apiKey, lk.apiSecret),
    dir,
    async stop() {
      await simulator.close();
      await lk.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Every `serve` started, so a failed test leaves none running (`killLeftovers`). */
const started = new Set<{ kill(signal: NodeJS.Signals): void; readonly running: boolean }>();

/** SIGKILL every connector still running (an `after` hook: a failed test must not hang the file). */
export function killLeftovers(): void {
  for (const c of started) if (c.running) c.kill('SIGKILL');
  started.clear();
}

/** One `serve` process. */
export interface ConnectorProcess {
  port: number;
  internalPort: number;
  webhookUrl: string;
  internalUrl: string;
  /** Everything it logged so far. */
  output(): string;
  /** Resolves with the exit code (null when killed by a signal). */
  exited: Promise<number | null>;
  kill(signal: NodeJS.Signals): void;
  /** Signal the process and its children, as a service manager killing its group does. */
  killGroup(signal: NodeJS.Signals): void;
  /** Whether the process is still running. */
  readonly running: boolean;
}

export interface ConnectorSettings {
  /** Where its state lives (SQLite) unless `env.REDIS_URL` is set. */
  stateDir: string;
  /** More environment (e.g. SHUTDOWN_DRAIN_SECONDS, REDIS_URL, INSTANCE_ID). */
  env?: Record<string, string>;
  /** Ports to reuse (a restart keeps its address). Default: free ones. */
  port?: number;
  internalPort?: number;
}

/**
 * Start `serve` with the bed's LiveKit and Meta, an inbound rule that accepts every call to the
 * bed's number into room `drain-{caller}`, and `settings`; resolves once it listens.
 */
export async function startConnector(
  bed: MetaBed,
  settings: ConnectorSettings,
): Promise<ConnectorProcess> {
  const port = settings.port ?? (await freeTcpPort());
  const internalPort = settings.internalPort ?? (await freeTcpPort());
  const configFile = join(bed.dir, `config-${port}.yaml`);
  writeFileSync(
    configFile,
    stringify({
      whatsapp: {
        numbers: [
          {
            phone_number_id: bed.phoneNumberId,
            access_token: ACCESS_TOKEN,
            api_version: '24.0',
            inbound: { room: 'drain-{caller}' },
          },
        ],
      },
    }),
  );
  const cli = startCli(['serve'], {
    LIVEKIT_URL: bed.lk.wsUrl,
    LIVEKIT_API_KEY: bed.lk.apiKey,
    LIVEKIT_API_SECRET: bed.lk.apiSecret,
    WHATSAPP_GRAPH_URL: bed.simulator.graphUrl,
    WHATSAPP_APP_SECRET: APP_SECRET,
    WHATSAPP_CONNECTOR_CONFIG: configFile,
    PORT: String(port),
    INTERNAL_PORT: String(internalPort),
    BIND_ADDRESS: '127.0.0.1',
    MEDIA_ICE_ADDRESSES: '127.0.0.1',
    STATE_DIR: settings.stateDir,
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'info',
    ...settings.env,
  });
  await cli.waitFor('whatsapp-connector listening', 90_000);
  let exitCode: number | null | undefined;
  void cli.exited.then((code) => (exitCode = code));
  const handle: ConnectorProcess = {
    port,
    internalPort,
    webhookUrl: `http://127.0.0.1:${port}/whatsapp/webhook`,
    internalUrl: `http://127.0.0.1:${internalPort}`,
    output: cli.output,
    exited: cli.exited,
    kill: (signal) => cli.child.kill(signal),
    killGroup: (signal) => {
      cli.child.kill(signal);
      for (const pid of childPids(cli.child.pid!)) {
        try {
          process.kill(pid, signal);
        } catch {
          // Gone already.
        }
      }
    },
    get running() {
      return exitCode === undefined && cli.child.exitCode === null && cli.child.signalCode === null;
    },
  };
  started.add(handle);
  return handle;
}

/** Pids of the processes whose parent is `pid` (Linux /proc). */
function childPids(pid: number): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // Fields after the command name (which may hold spaces): state, ppid, ...
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push(Number(entry));
    } catch {
      // Exited meanwhile.
    }
  }
  return out;
}

/** HTTP status of GET `url` (0 when nothing answers). */
export async function statusOf(url: string): Promise<number> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
    await res.arrayBuffer();
    return res.status;
  } catch {
    return 0;
  }
}

/** A user calls the bed's number with a tone; resolves once the connector answered it. */
export async function liveUserCall(
  bed: MetaBed,
  from: string,
  toneHz = 440,
  timeoutMs = 30_000,
): Promise<SimulatedCall> {
  const call = await bed.simulator.placeUserCall({
    from,
    voice: { kind: 'tone', frequencyHz: toneHz },
  });
  await call.waitForState('active', timeoutMs);
  return call;
}

/** Graph `/calls` actions the simulator received for `callId`, in order. */
export function graphActions(bed: MetaBed, callId: string): string[] {
  return bed.simulator.requestLog.flatMap((r) => {
    const body = r.body as { action?: unknown; call_id?: unknown } | null;
    return body && body.call_id === callId && typeof body.action === 'string' ? [body.action] : [];
  });
}

/** Identities in `room` (none when the room is gone). */
export async function participantsOf(bed: MetaBed, room: string): Promise<string[]> {
  try {
    return (await bed.rooms.listParticipants(room)).map((p) => p.identity);
  } catch {
    return [];
  }
}

/** Wait until the simulator has received `terminate` for every call; resolves with when. */
export async function terminatedAtMeta(
  bed: MetaBed,
  callIds: string[],
  timeoutMs: number,
): Promise<number> {
  await eventually(
    () => callIds.every((id) => graphActions(bed, id).includes('terminate')),
    timeoutMs,
    `terminate at Meta for ${callIds.join(', ')}`,
  );
  return Date.now();
}
