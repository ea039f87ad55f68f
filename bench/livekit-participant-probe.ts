/**
 * Probe: what the TypeScript LiveKit participant (src/livekit) costs and how fast it is, against
 * the pinned livekit-server on loopback.
 *
 *   npx tsx bench/livekit-participant-probe.ts [--joins 20] [--pairs 1,10] [--seconds 60]
 *                                              [--mode auto|dual] [--skip setup,latency,cpu]
 *
 * - setup: join() → resolved (signal joined, peer connection connected, data channel open),
 *   then publishAudioTrack() → TrackPublished, for `--joins` sequential participants in a room
 *   that has an rtc-node speaker (so the join also subscribes).
 * - latency: first Opus packet written → first audible frame out of an rtc-node listener's
 *   AudioStream (rtc-node's jitter buffer and decoder included), per join.
 * - cpu: pairs of our participants in a room, each publishing pre-encoded Opus at 50 packets/s
 *   and receiving the other's 50 packets/s as RTP (no codec). CPU is this process's
 *   utime+stime (process.cpuUsage) over `--seconds`; rtc-node is not in this phase, and
 *   livekit-server is another process. Per-leg cost is the marginal cost between the pair
 *   counts, comparable with werift-forwarding-probe.ts (0.35 CPU-s/min per leg).
 *
 * Results 2026-12-01, the shared 2-core machine under other engineers' load (load average
 * 4-10), livekit-server v1.13.5 on loopback, single peer connection, two runs:
 * - first join of a process: 680-1020 ms (werift, DTLS and protobuf code warming up);
 * - later joins → connected: p50 85 / 149 ms, p95 168 / 240 ms (two rtc-node participants in
 *   this process; without them, 21 joins in a row: p50 ≈ 75 ms, ≈ 143 ms before the early-DTLS
 *   replay in peer-transport.ts);
 * - publishAudioTrack → published: p50 11 ms, p95 29-37 ms;
 * - first packet written → first audible frame at the rtc-node listener: p50 50 / 76 ms;
 * - forwarding CPU: 1 pair 0.060-0.075 core, 10 pairs 0.202-0.217 core → 0.47 CPU-s per
 *   minute per leg marginal, both runs; werift-forwarding-probe.ts in the same conditions:
 *   0.37 (the rest: RTCP with the SFU, the SCTP association, signalling, our per-packet JS).
 */
import { parseArgs } from 'node:util';
import { Encoder } from '@evan/opus';
import { dispose } from '@livekit/rtc-node';
import { startLiveKitServer, type LiveKitServerHandle } from '../testbed/livekit-server.js';
import { LiveKitParticipant, type PeerConnectionMode } from '../src/livekit/index.js';
import { ToneGenerator } from '../src/media/tone.js';
import {
  RtcNodePeer,
  participantToken,
  uniqueRoom,
  waitFor,
} from '../test/integration/livekit/livekit-test-kit.js';

const { values } = parseArgs({
  options: {
    joins: { type: 'string', default: '20' },
    pairs: { type: 'string', default: '1,10' },
    seconds: { type: 'string', default: '60' },
    mode: { type: 'string', default: 'auto' },
    skip: { type: 'string', default: '' },
  },
});
const JOINS = Number(values.joins);
const PAIRS = String(values.pairs).split(',').map(Number);
const SECONDS = Number(values.seconds);
const MODE = values.mode as PeerConnectionMode;
const SKIP = new Set(String(values.skip).split(',').filter(Boolean));
const ICE = { hostAddresses: ['127.0.0.1'] };

/** 50 pre-encoded 20 ms Opus frames of a tone (the forwarder never encodes). */
function opusFrames(): Uint8Array[] {
  const encoder = new Encoder({ channels: 1, sample_rate: 48_000, application: 'voip' });
  encoder.bitrate = 24_000;
  const tone = new ToneGenerator(700, 48_000, 0.3);
  return Array.from({ length: 50 }, () => encoder.encode(tone.next(960)).slice());
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

function summary(name: string, samples: number[]): string {
  return `${name}: p50 ${percentile(samples, 50).toFixed(0)} ms, p95 ${percentile(samples, 95).toFixed(0)} ms, min ${Math.min(...samples).toFixed(0)}, max ${Math.max(...samples).toFixed(0)} (n=${samples.length})`;
}

async function setupAndLatency(lk: LiveKitServerHandle, frames: Uint8Array[]) {
  const room = uniqueRoom('probe-setup');
  const speaker = await RtcNodePeer.join(lk, room, 'speaker', { toneHz: 440 });
  const listener = await RtcNodePeer.join(lk, room, 'listener');
  const joinMs: number[] = [];
  const publishMs: number[] = [];
  const heardMs: number[] = [];
  try {
    for (let i = 0; i < JOINS; i++) {
      const identity = `probe-${i}`;
      const token = await participantToken(lk, room, identity);
      const t0 = performance.now();
      const participant = await LiveKitParticipant.join({
        url: lk.wsUrl,
        token,
        ice: ICE,
        peerConnectionMode: MODE,
      });
      const t1 = performance.now();
      const track = await participant.publishAudioTrack({ name: 'caller' });
      const t2 = performance.now();
      joinMs.push(t1 - t0);
      publishMs.push(t2 - t1);
      if (!SKIP.has('latency')) {
        await listener.knows(identity);
        listener.clearHeard();
        let timestamp = 0;
        let n = 0;
        let firstSent: number | undefined;
        const timer = setInterval(() => {
          if (track.writeRtp({ payload: frames[n++ % frames.length]!, timestamp })) {
            firstSent ??= performance.now();
          }
          timestamp += 960;
        }, 20);
        try {
          await waitFor(() => listener.firstHeardAt.has(identity), 5000, 'listener hears');
          heardMs.push(listener.firstHeardAt.get(identity)! - firstSent!);
        } finally {
          clearInterval(timer);
        }
      }
      await participant.leave();
    }
  } finally {
    await listener.close();
    await speaker.close();
  }
  // The first join of a process pays werift/crypto warm-up: reported apart.
  console.log(`first join in this process: ${joinMs[0]?.toFixed(0)} ms`);
  console.log(summary('join → connected (later joins)', joinMs.slice(1)));
  console.log(summary('publishAudioTrack → published', publishMs));
  if (heardMs.length > 0) console.log(summary('first packet written → heard by rtc-node', heardMs));
  return { joinMs, publishMs, heardMs };
}

async function forwardingCpu(lk: LiveKitServerHandle, pairs: number, frames: Uint8Array[]) {
  const participants: LiveKitParticipant[] = [];
  let received = 0;
  let sent = 0;
  try {
    for (let p = 0; p < pairs; p++) {
      const room = uniqueRoom(`probe-cpu-${p}`);
      for (const side of ['a', 'b']) {
        const participant = await LiveKitParticipant.join({
          url: lk.wsUrl,
          token: await participantToken(lk, room, `${side}${p}`),
          ice: ICE,
          peerConnectionMode: MODE,
          audioTracks: [{ name: 'caller' }],
        });
        participant.on('trackSubscribed', (track) => track.on('rtp', () => received++));
        for (const track of participant.remoteTracks.values()) track.on('rtp', () => received++);
        participants.push(participant);
      }
    }
    await waitFor(
      () => participants.every((p) => p.remoteTracks.size === 1),
      20_000,
      'every participant subscribed to its pair',
    );
    let timestamp = 0;
    let n = 0;
    const timer = setInterval(() => {
      const payload = frames[n++ % frames.length]!;
      for (const participant of participants) {
        if (participant.localTracks[0]?.writeRtp({ payload, timestamp })) sent++;
      }
      timestamp += 960;
    }, 20);
    await new Promise((resolve) => setTimeout(resolve, 2000)); // settle
    sent = 0;
    received = 0;
    const cpu0 = process.cpuUsage();
    const wall0 = performance.now();
    await new Promise((resolve) => setTimeout(resolve, SECONDS * 1000));
    const cpu = process.cpuUsage(cpu0);
    const wallS = (performance.now() - wall0) / 1000;
    clearInterval(timer);
    const cpuS = (cpu.user + cpu.system) / 1e6;
    const legs = pairs * 2;
    const result = {
      pairs,
      legs,
      seconds: +wallS.toFixed(1),
      cpuSeconds: +cpuS.toFixed(2),
      coreShare: +(cpuS / wallS).toFixed(3),
      cpuSecondsPerLegMinute: +(((cpuS / wallS) * 60) / legs).toFixed(3),
      sentPerLegPerSecond: +(sent / legs / wallS).toFixed(1),
      receivedPerLegPerSecond: +(received / legs / wallS).toFixed(1),
    };
    console.log(JSON.stringify(result));
    return result;
  } finally {
    await Promise.all(participants.map((p) => p.leave()));
  }
}

const lk = await startLiveKitServer();
try {
  const frames = opusFrames();
  if (!SKIP.has('setup')) await setupAndLatency(lk, frames);
  if (!SKIP.has('cpu')) {
    const results = [];
    for (const pairs of PAIRS) results.push(await forwardingCpu(lk, pairs, frames));
    const [low, high] = [results[0], results.at(-1)];
    if (low && high && high.legs > low.legs) {
      const marginal = ((high.coreShare - low.coreShare) / (high.legs - low.legs)) * 60;
      console.log(
        `marginal CPU per leg (50 pps each way): ${marginal.toFixed(3)} CPU-s per minute (werift-forwarding-probe: 0.35)`,
      );
    }
  }
} finally {
  await dispose();
  await lk.stop();
}
process.exit(0);
