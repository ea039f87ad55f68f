/**
 * `serve --processes 1` vs `--processes 2` at the same call count: connector CPU per call-minute,
 * calls held, and how the calls spread over the processes.
 *
 *   node --import tsx bench/processes-scaling.ts [--calls 8] [--seconds 20] [--processes 1,2]
 *
 * A real livekit-server and redis-server, the simulator as Meta (in this process: users speak a
 * tone), and the connector as an operator runs it: `whatsapp-connector serve --processes N` with
 * REDIS_URL (also for N = 1, so both rows pay the same cluster bookkeeping). Every call gets one
 * agent (our TypeScript LiveKit participant replaying pre-encoded Opus), so it runs on the
 * passthrough path. Calls are accepted through the shared public port only.
 *
 * Reported per N, from /proc: the CPU of the whole process tree (supervisor and children) over
 * the window minus its idle rate, as CPU-s per call-minute; the calls held — the user received at
 * least 90 % of the agent's 50 packets/s over the window; the calls each child holds; the
 * busiest child's CPU; and what the load side (this process) and the whole machine were doing.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { agentPackets } from './lib/agent-packets.js';
import { AccessToken } from 'livekit-server-sdk';
import { freeTcpPort } from '../src/devstack/free-ports.js';
import { startLiveKitServer, type LiveKitServerHandle } from '../src/devstack/livekit-server.js';
import { startRedis } from '../src/devstack/redis-server.js';
import { LiveKitParticipant, type LocalAudioTrack } from '../src/livekit/index.js';
import { WhatsAppSimulator, type SimulatedCall } from '../src/simulator/index.js';
import { CpuMeter } from './lib/proc-stats.js';
import { sleep } from './lib/stats.js';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? (process.argv[i + 1] ?? fallback) : fallback;
}

const CALLS = Number(arg('calls', '8'));
const SECONDS = Number(arg('seconds', '20'));
const PROCESS_COUNTS = arg('processes', '1,2').split(',').map(Number);
const CLI = fileURLToPath(new URL('../bin/whatsapp-connector.js', import.meta.url));
const ACCESS_TOKEN = 'bench-token';
const APP_SECRET = 'bench-app-secret';

interface Agent {
  participant: LiveKitParticipant;
  track: LocalAudioTrack;
  n: number;
}

const packets = agentPackets(1000);
const agents: Agent[] = [];
let ts = 0;
const pacer = setInterval(() => {
  ts += 960;
  for (const a of agents) {
    a.track.writeRtp({ payload: packets[a.n % packets.length]!, timestamp: ts });
    a.n++;
  }
}, 20);

async function joinAgent(lk: LiveKitServerHandle, roomName: string, identity: string) {
  const token = new AccessToken(lk.apiKey, lk.apiSecret, { identity });
  token.addGrant({ roomJoin: true, room: roomName, canPublish: true, canSubscribe: true });
  const participant = await LiveKitParticipant.join({
    url: lk.wsUrl,
    token: await token.toJwt(),
    ice: { hostAddresses: ['127.0.0.1'] },
    autoSubscribeAudio: false,
    audioTracks: [{ name: 'agent' }],
  });
  agents.push({ participant, track: participant.localTracks[0]!, n: 0 });
}

async function twirp(lk: LiveKitServerHandle, base: string, method: string, body: unknown) {
  const token = new AccessToken(lk.apiKey, lk.apiSecret);
  token.addGrant({ roomCreate: true });
  const res = await fetch(`${base}/twirp/livekit.Connector/${method}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${await token.toJwt()}` },
    body: JSON.stringify(body),
  });
  if (res.status !== 200) throw new Error(`${method}: ${res.status} ${await res.text()}`);
}

async function callsHeldBy(lk: LiveKitServerHandle, internalUrl: string): Promise<number> {
  const token = new AccessToken(lk.apiKey, lk.apiSecret);
  token.addGrant({ roomCreate: true });
  const res = await fetch(`${internalUrl}/api/calls?scope=local`, {
    headers: { Authorization: `Bearer ${await token.toJwt()}` },
  });
  return ((await res.json()) as { calls: unknown[] }).calls.length;
}

interface Row {
  processes: number;
  calls: number;
  idleCpuPerSecond: number;
  cpuSecondsPerCallMinute: number;
  callsHeld: number;
  /** Share of the agent's packets each user received over the window: lowest and median. */
  receivedShare: { min: number; median: number };
  /** The users' call states at the end of the window, counted. */
  userStates: Record<string, number>;
  callsPerProcess: number[];
  busiestProcessCpuShare: number;
  /** CPU of this bench process (simulated users, agents) over the window, share of a core. */
  loadSideCpuShare: number;
  /** Busy share of the whole machine (all cores) over the window: other work included. */
  machineBusyShare: number;
}

async function run(processes: number): Promise<Row> {
  const lk = await startLiveKitServer();
  const redis = await startRedis();
  const simulator = await WhatsAppSimulator.start({
    accessToken: ACCESS_TOKEN,
    appSecret: APP_SECRET,
    timing: { connectWebhookDelayMs: 50, ringingDelayMs: 50 },
  });
  const port = await freeTcpPort();
  const internalPort = await freeTcpPort();
  simulator.setWebhookUrl(`http://127.0.0.1:${port}/whatsapp/webhook`);
  let out = '';
  const serve: ChildProcess = spawn(
    process.execPath,
    [CLI, 'serve', '--processes', String(processes), '--port', String(port)],
    {
      env: {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? '',
        INTERNAL_PORT: String(internalPort),
        BIND_ADDRESS: '127.0.0.1',
        LIVEKIT_URL: lk.wsUrl,
        LIVEKIT_API_KEY: lk.apiKey,
        LIVEKIT_API_SECRET: lk.apiSecret,
        WHATSAPP_GRAPH_URL: simulator.graphUrl,
        WHATSAPP_APP_SECRET: APP_SECRET,
        MEDIA_ICE_ADDRESSES: '127.0.0.1',
        MAX_CONCURRENT_CALLS: '1000',
        REDIS_URL: redis.url,
        LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'warn',
        NODE_ENV: 'production',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  serve.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  serve.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const users: SimulatedCall[] = [];
  try {
    const ready = processes > 1 ? `processes ${processes} (supervisor pid` : 'Connector API';
    for (let t = 0; !out.includes(ready); t++) {
      if (t > 1200 || serve.exitCode !== null) throw new Error(`serve did not start:\n${out}`);
      await sleep(100);
    }
    await sleep(2000);
    const meter = new CpuMeter({ connector: { roots: () => [serve.pid!], tree: true } });
    const children = () =>
      processes > 1
        ? [...out.matchAll(/ pid (\d+) {2}http:/g)].map((m) => Number(m[1]))
        : [serve.pid!];
    const perChild = new CpuMeter(
      Object.fromEntries(
        children().map((pid, i) => [`child${i}`, { roots: () => [pid], tree: false }]),
      ),
    );
    meter.reset();
    await sleep(10_000);
    const idle = meter.read();
    const idleRate = (idle.cpuSeconds.connector ?? 0) / idle.wallSeconds;
    const shared = `http://127.0.0.1:${port}`;
    for (let i = 0; i < CALLS; i++) {
      const roomName = `bench-processes-${processes}-${i}`;
      await joinAgent(lk, roomName, `agent-${i}`);
      const user = await simulator.placeUserCall({
        from: `1555000${String(1000 + i)}`,
        voice: { kind: 'tone', frequencyHz: 440 },
      });
      users.push(user);
      await twirp(lk, shared, 'AcceptWhatsAppCall', {
        whatsapp_phone_number_id: simulator.defaultPhoneNumberId,
        whatsapp_api_key: ACCESS_TOKEN,
        whatsapp_cloud_api_version: '24.0',
        whatsapp_call_id: user.id,
        sdp: { type: 'offer', sdp: user.metaSdp },
        room_name: roomName,
        participant_identity: `wa-${i}`,
      });
    }
    await sleep(3000);
    const before = users.map((u) => u.recordingStats().packetsReceived);
    meter.reset();
    perChild.reset();
    const loadStart = process.cpuUsage();
    await sleep(SECONDS * 1000);
    const load = process.cpuUsage(loadStart);
    const r = meter.read();
    const pc = perChild.read();
    const expected = SECONDS * 50;
    const received = users.map(
      (u, i) => (u.recordingStats().packetsReceived - before[i]!) / expected,
    );
    const states = users.map((u) => u.state);
    const held = users.filter(
      (u, i) =>
        u.state === 'active' && u.recordingStats().packetsReceived - before[i]! >= 0.9 * expected,
    ).length;
    const callsPerProcess = await Promise.all(
      Array.from({ length: processes }, (_, i) =>
        callsHeldBy(lk, `http://127.0.0.1:${internalPort + i}`),
      ),
    );
    const rate = (r.cpuSeconds.connector ?? 0) / r.wallSeconds;
    const busiest = Math.max(...Object.values(pc.cpuSeconds)) / pc.wallSeconds;
    return {
      processes,
      calls: CALLS,
      idleCpuPerSecond: Number(idleRate.toFixed(4)),
      cpuSecondsPerCallMinute: Number((((rate - idleRate) * 60) / CALLS).toFixed(3)),
      callsHeld: held,
      receivedShare: {
        min: Number(Math.min(...received).toFixed(3)),
        median: Number([...received].sort((a, b) => a - b)[received.length >> 1]!.toFixed(3)),
      },
      userStates: states.reduce<Record<string, number>>(
        (acc, st) => ({ ...acc, [st]: (acc[st] ?? 0) + 1 }),
        {},
      ),
      callsPerProcess,
      busiestProcessCpuShare: Number(busiest.toFixed(3)),
      loadSideCpuShare: Number(((load.user + load.system) / 1e6 / r.wallSeconds).toFixed(3)),
      machineBusyShare: Number(r.machineBusyShare.toFixed(3)),
    };
  } finally {
    if (process.env.BENCH_SERVE_LOG) {
      const { writeFileSync } = await import('node:fs');
      writeFileSync(`${process.env.BENCH_SERVE_LOG}.${processes}`, out);
    }
    for (const a of agents.splice(0)) await a.participant.leave().catch(() => undefined);
    for (const u of users) u.hangUp();
    serve.kill('SIGTERM');
    await new Promise((resolve) =>
      serve.exitCode !== null ? resolve(null) : serve.once('exit', resolve),
    );
    await simulator.close();
    await redis.stop();
    await lk.stop();
  }
}

try {
  const rows: Row[] = [];
  for (const n of PROCESS_COUNTS) {
    const row = await run(n);
    console.log(
      `--processes ${n}: ${row.calls} calls, ${row.cpuSecondsPerCallMinute} CPU-s per call-minute, ${row.callsHeld} held, per process ${row.callsPerProcess.join('/')}, busiest process ${(row.busiestProcessCpuShare * 100).toFixed(0)} % of a core, load side ${(row.loadSideCpuShare * 100).toFixed(0)} %, machine ${(row.machineBusyShare * 100).toFixed(0)} % busy`,
    );
    rows.push(row);
  }
  console.log(JSON.stringify({ windowSeconds: SECONDS, rows }, null, 2));
} finally {
  clearInterval(pacer);
}
