/**
 * CPU of the connector for N concurrent calls, room legs in-process vs in room workers.
 *
 *   RUST_LOG=warn node --import tsx bench/room-worker-cpu.ts [calls...] [--workers 0,6] [--seconds 10]
 *
 * Real parts: livekit-server, the simulator as Meta (one tone-speaking user per call, in this
 * process), the connector in its own process (bench/room-worker-connector.ts), and one agent per
 * room speaking a tone (bench/room-worker-agents.ts, 4 rooms per process). Reported: CPU of the
 * connector process plus its room workers over the window (% of one core), per process, and how
 * continuous the agent's tone is at the WhatsApp users (1.0 = no gaps).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { SessionDescription } from '@livekit/protocol';
import { ConnectorClient } from 'livekit-server-sdk';
import { WhatsAppSimulator, type SimulatedCall } from '../src/simulator/index.js';
import { startLiveKitServer } from '../testbed/livekit-server.js';
import { rmsDbfs, toneEnergyShare } from '../src/media/tone.js';

const args = process.argv.slice(2);
const flag = (name: string, fallback: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args.splice(i, 2)[1]! : fallback;
};
const workerModes = flag('--workers', '0,6').split(',').map(Number);
const seconds = Number(flag('--seconds', '10'));
const sizes = args.length > 0 ? args.map(Number) : [4, 12, 24];
const TICK = 100; // clock ticks per second (USER_HZ)

function cpuTicks(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(f[11]) + Number(f[12]);
  } catch {
    return 0;
  }
}

/** Descendants of `pid` (room workers, and whatever tsx runs), depth first. */
function descendantsOf(pid: number): number[] {
  const out: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid) {
        out.push(Number(e), ...descendantsOf(Number(e)));
      }
    } catch {
      // gone
    }
  }
  return out;
}

async function firstLine(child: ChildProcess, match: RegExp): Promise<string> {
  const rl = createInterface({ input: child.stdout! });
  for await (const line of rl) if (match.test(line)) return line;
  throw new Error('process ended before it was ready');
}

/** Fraction of 20 ms frames carrying the tone at a normal level (1.0 = no gaps or noise). */
function toneContinuity(pcm: Int16Array, sampleRate: number, hz: number): number {
  const size = sampleRate / 50;
  let good = 0;
  let total = 0;
  for (let off = 0; off + size <= pcm.length; off += size) {
    const frame = pcm.subarray(off, off + size);
    total++;
    if (rmsDbfs(frame) > -25 && toneEnergyShare(frame, sampleRate, hz) > 0.5) good++;
  }
  return total === 0 ? 0 : good / total;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function run(calls: number, perProcess: number): Promise<void> {
  const lk = await startLiveKitServer();
  const accessToken = 'bench-token';
  const simulator = await WhatsAppSimulator.start({ accessToken, appSecret: 'bench-secret' });
  const env = {
    ...process.env,
    LIVEKIT_URL: lk.wsUrl,
    LIVEKIT_API_KEY: lk.apiKey,
    LIVEKIT_API_SECRET: lk.apiSecret,
    WHATSAPP_GRAPH_URL: simulator.graphUrl,
    MEDIA_ICE_ADDRESSES: '127.0.0.1',
    LOG_LEVEL: 'warn',
    ROOM_WORKER_CALLS_PER_PROCESS: String(perProcess),
  };
  const connector = spawn(
    process.execPath,
    ['--import', 'tsx', new URL('./room-worker-connector.ts', import.meta.url).pathname],
    { env, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const agents: ChildProcess[] = [];
  const userCalls: SimulatedCall[] = [];
  try {
    const { port } = JSON.parse(await firstLine(connector, /"port"/)) as { port: number };
    const client = new ConnectorClient(`http://127.0.0.1:${port}`, lk.apiKey, lk.apiSecret);
    const roomNames = Array.from({ length: calls }, (_, i) => `bench-${i}`);
    for (let i = 0; i < calls; i += 4) {
      const agent = spawn(
        process.execPath,
        ['--import', 'tsx', new URL('./room-worker-agents.ts', import.meta.url).pathname],
        {
          env: { ...env, AGENT_ROOMS: roomNames.slice(i, i + 4).join(',') },
          stdio: ['ignore', 'pipe', 'inherit'],
        },
      );
      agents.push(agent);
      await firstLine(agent, /ready/);
    }
    for (const roomName of roomNames) {
      const userCall = await simulator.placeUserCall({
        from: `1555${String(1_000_000 + userCalls.length)}`,
        voice: { kind: 'tone', frequencyHz: 440 },
      });
      const accepted = client.acceptWhatsAppCall({
        whatsappPhoneNumberId: simulator.defaultPhoneNumberId,
        whatsappApiKey: accessToken,
        whatsappCloudApiVersion: '24.0',
        whatsappCallId: userCall.id,
        sdp: new SessionDescription({ type: 'offer', sdp: userCall.metaSdp }),
        roomName,
        participantIdentity: `wa-${roomName}`,
        waitUntilAnswered: true,
      });
      // A loaded machine can make Meta's media miss its deadline: measure the calls that work.
      await accepted.then(
        () => userCalls.push(userCall),
        (err: unknown) => console.error(`call ${roomName} not accepted: ${String(err)}`),
      );
    }
    await sleep(3000);
    const pids = [connector.pid!, ...descendantsOf(connector.pid!)];
    const before = pids.map(cpuTicks);
    const t0 = Date.now();
    await sleep(seconds * 1000);
    const elapsed = (Date.now() - t0) / 1000;
    const used = pids.map((pid, i) => (cpuTicks(pid) - before[i]!) / TICK / elapsed);
    const total = used.reduce((a, b) => a + b, 0);
    const continuity = userCalls.map((c) =>
      toneContinuity(c.recording().pcm.subarray(-16_000 * 3), 16_000, 1000),
    );
    const meanContinuity = continuity.reduce((a, b) => a + b, 0) / continuity.length;
    console.log(
      JSON.stringify({
        calls,
        accepted: userCalls.length,
        workersPerProcess: perProcess,
        processes: pids.length,
        cpuPercentTotal: +(total * 100).toFixed(1),
        cpuPercentMain: +(used[0]! * 100).toFixed(1),
        cpuPercentChildren: used.slice(1).map((u) => +(u * 100).toFixed(1)),
        toneContinuityMean: +meanContinuity.toFixed(3),
        toneContinuityMin: +Math.min(...continuity).toFixed(3),
        load: readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' '),
      }),
    );
  } finally {
    for (const a of agents) a.kill('SIGTERM');
    connector.kill('SIGTERM');
    await Promise.all(
      [connector, ...agents].map((p) =>
        p.exitCode !== null ? undefined : new Promise((r) => p.once('exit', r)),
      ),
    );
    await simulator.close();
    await lk.stop();
  }
}

for (const calls of sizes) {
  for (const perProcess of workerModes) await run(calls, perProcess);
}
