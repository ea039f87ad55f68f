/**
 * Connector CPU per call on the native media path, passthrough vs mixing, and Accept → audio.
 *
 *   node --import tsx bench/native-media-cpu.ts [--calls 4] [--seconds 20]
 *
 * A real livekit-server, the simulator as Meta (in this process: users speak a tone), and the
 * connector in a child process exactly as `serve` builds it (`bench/workers/connector-host.ts`).
 * Room participants are our TypeScript LiveKit participant replaying a pre-encoded 48 kbit/s
 * Opus tone (cheap on the load side), one per room for passthrough, a second added for mixing.
 * Reported, from /proc: the connector's CPU (all threads) over each window minus its idle rate,
 * as CPU-s per call-minute; Accept → the user hears the agent, per call (p50/max); and the
 * media counters that prove which path ran (forwarded vs re-encoded packets, decoded frames).
 */
import { agentPackets } from './lib/agent-packets.js';
import { SessionDescription } from '@livekit/protocol';
import { AccessToken, ConnectorClient } from 'livekit-server-sdk';
import { startLiveKitServer } from '../src/devstack/livekit-server.js';
import { LiveKitParticipant, type LocalAudioTrack } from '../src/livekit/index.js';
import { rmsDbfs } from '../src/media/tone.js';
import { WhatsAppSimulator, type SimulatedCall } from '../src/simulator/index.js';
import { CpuMeter } from './lib/proc-stats.js';
import { renderProfile, summariseProfileDir } from './lib/profile-summary.js';
import { percentiles, sleep } from './lib/stats.js';
import { RpcChild } from './lib/worker-rpc.js';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? Number(process.argv[i + 1]) : NaN;
  return Number.isFinite(v) && v > 0 ? v : fallback;
}

const CALLS = arg('calls', 4);
const SECONDS = arg('seconds', 20);

interface Agent {
  participant: LiveKitParticipant;
  track: LocalAudioTrack;
  packets: Uint8Array[];
  n: number;
}

const agents: Agent[] = [];
let ts = 0;
const pacer = setInterval(() => {
  ts += 960;
  for (const a of agents) {
    a.track.writeRtp({ payload: a.packets[a.n % a.packets.length]!, timestamp: ts });
    a.n++;
  }
}, 20);

const lk = await startLiveKitServer();
const simulator = await WhatsAppSimulator.start({
  accessToken: 'bench-token',
  appSecret: 'bench-secret',
  timing: { connectWebhookDelayMs: 50, ringingDelayMs: 50 },
});
const connector = await RpcChild.start(
  'connector',
  new URL('./workers/connector-host.ts', import.meta.url),
  {
    env: {
      LIVEKIT_URL: lk.wsUrl,
      LIVEKIT_API_KEY: lk.apiKey,
      LIVEKIT_API_SECRET: lk.apiSecret,
      WHATSAPP_GRAPH_URL: simulator.graphUrl,
      MEDIA_ICE_ADDRESSES: '127.0.0.1',
      MAX_CONCURRENT_CALLS: '1000',
      // CPU is measured here; admission control would refuse calls first.
      ADMISSION_CONTROL: 'false',
      LOG_LEVEL: 'error',
      NODE_ENV: 'production',
    },
    // BENCH_CPU_PROF_DIR=dir: a V8 CPU profile of the connector (summarised at the end).
    ...(process.env.BENCH_CPU_PROF_DIR
      ? { execArgv: ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF_DIR}`] }
      : {}),
  },
);
const { url } = await connector.call<{ url: string }>('start');
const client = new ConnectorClient(url, lk.apiKey, lk.apiSecret);
const meter = new CpuMeter({ connector: { roots: () => [connector.pid], tree: true } });

async function joinAgent(roomName: string, identity: string, hz: number): Promise<Agent> {
  const token = new AccessToken(lk.apiKey, lk.apiSecret, { identity });
  token.addGrant({ roomJoin: true, room: roomName, canPublish: true, canSubscribe: true });
  const participant = await LiveKitParticipant.join({
    url: lk.wsUrl,
    token: await token.toJwt(),
    ice: { hostAddresses: ['127.0.0.1'] },
    autoSubscribeAudio: false,
    audioTracks: [{ name: 'agent' }],
  });
  const agent = {
    participant,
    track: participant.localTracks[0]!,
    packets: agentPackets(hz),
    n: 0,
  };
  agents.push(agent);
  return agent;
}

async function window(label: string): Promise<number> {
  meter.reset();
  await sleep(SECONDS * 1000);
  const r = meter.read();
  const cpu = r.cpuSeconds.connector ?? 0;
  console.log(`${label}: connector ${cpu.toFixed(2)} CPU-s over ${r.wallSeconds.toFixed(1)} s`);
  return cpu / r.wallSeconds;
}

try {
  const idleRate = await window('idle');
  const calls: { userCall: SimulatedCall; roomName: string; acceptToAudioMs: number }[] = [];
  for (let i = 0; i < CALLS; i++) {
    const roomName = `bench-native-${i}-${Date.now()}`;
    await joinAgent(roomName, `agent-a-${i}`, 1000);
    const userCall = await simulator.placeUserCall({
      from: `1555000${String(1000 + i)}`,
      voice: { kind: 'tone', frequencyHz: 440 },
    });
    const acceptAt = Date.now();
    await client.acceptWhatsAppCall({
      whatsappPhoneNumberId: simulator.defaultPhoneNumberId,
      whatsappApiKey: 'bench-token',
      whatsappCloudApiVersion: '24.0',
      whatsappCallId: userCall.id,
      sdp: new SessionDescription({ type: 'offer', sdp: userCall.metaSdp }),
      roomName,
      participantIdentity: `wa-${i}`,
    });
    const created = userCall.createdAt.valueOf();
    let heardAt: number | undefined;
    for (let t = 0; t < 100 && heardAt === undefined; t++) {
      const chunk = userCall
        .recording()
        .chunks.find((c) => c.atMs + created >= acceptAt && rmsDbfs(c.samples) > -30);
      if (chunk) heardAt = chunk.atMs + created;
      else await sleep(50);
    }
    calls.push({ userCall, roomName, acceptToAudioMs: (heardAt ?? NaN) - acceptAt });
  }
  await sleep(3000);
  const passRate = await window(`passthrough, ${CALLS} calls`);
  const legsPass = await connector.call<{ legs: { media: Record<string, number> }[] }>('stats');
  for (const [i, c] of calls.entries()) await joinAgent(c.roomName, `agent-b-${i}`, 600);
  await sleep(3000);
  const mixRate = await window(`mixing, ${CALLS} calls`);
  const legsMix = await connector.call<{ legs: { media: Record<string, number> }[] }>('stats');

  const perCallMinute = (rate: number) => ((rate - idleRate) * 60) / CALLS;
  const accept = percentiles(calls.map((c) => c.acceptToAudioMs).filter(Number.isFinite));
  const sum = (legs: { media: Record<string, number> }[], key: string) =>
    legs.reduce((a, l) => a + (l.media[key] ?? 0), 0);
  console.log(
    JSON.stringify(
      {
        calls: CALLS,
        windowSeconds: SECONDS,
        idleCpuPerSecond: Number(idleRate.toFixed(4)),
        passthroughCpuSecondsPerCallMinute: Number(perCallMinute(passRate).toFixed(3)),
        mixingCpuSecondsPerCallMinute: Number(perCallMinute(mixRate).toFixed(3)),
        acceptToAudioMs: { p50: Math.round(accept.p50), max: Math.round(accept.max) },
        afterPassthrough: {
          forwardedPackets: sum(legsPass.legs, 'forwardedPackets'),
          reencodedPackets: sum(legsPass.legs, 'reencodedPackets'),
          framesDecoded: sum(legsPass.legs, 'framesDecoded'),
        },
        afterMixing: {
          forwardedPackets: sum(legsMix.legs, 'forwardedPackets'),
          silenceFramesSent: sum(legsMix.legs, 'silenceFramesSent'),
          packetsSent: sum(legsMix.legs, 'packetsSent'),
        },
      },
      null,
      2,
    ),
  );
} finally {
  clearInterval(pacer);
  for (const a of agents) await a.participant.leave().catch(() => undefined);
  await connector.stop().catch(() => undefined);
  await simulator.close();
  await lk.stop();
  if (process.env.BENCH_CPU_PROF_DIR) {
    for (const p of summariseProfileDir(process.env.BENCH_CPU_PROF_DIR))
      console.log(renderProfile(p));
  }
}
