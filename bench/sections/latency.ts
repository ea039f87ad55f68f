/**
 * One-way delay, each direction, through the bridge and — as the baseline — between two plain
 * rtc-node participants through the same livekit-server. Both use the same burst sender and
 * detector, so what they share (rtc-node capture queue, livekit-server, NetEQ/playout) cancels
 * out in the difference.
 */
import {
  ROOM_BURSTS,
  USER_BURSTS,
  type BenchStack,
  type RoomParticipantRef,
} from '../lib/bench-stack.js';
import type { BurstPattern } from '../lib/burst-signal.js';
import { matchBursts, percentiles, sleep, type Percentiles } from '../lib/stats.js';

export interface LatencyResult {
  windowSeconds: number;
  bridge: {
    userToRoom: Percentiles;
    roomToUser: Percentiles;
    lossUserToRoom: number;
    lossRoomToUser: number;
  };
  direct: { aToB: Percentiles; bToA: Percentiles; combined: Percentiles };
  /** Bridge minus direct (combined direct directions), ms, per percentile. */
  addedUserToRoom: { p50: number; p95: number; p99: number };
  addedRoomToUser: { p50: number; p95: number; p99: number };
  ratioUserToRoomP50: number;
  ratioRoomToUserP50: number;
}

async function analyse(p: RoomParticipantRef, listen: BurstPattern, fromMs: number, toMs: number) {
  return p.worker.call<{ received: { atMs: number; goodFrames: number }[]; sent: number[] }>(
    'analyse',
    {
      key: p.key,
      listen,
      fromMs: fromMs - 1000,
      toMs,
    },
  );
}

/**
 * The direct pair and the bridged call run in the same window, so both see the same machine
 * load (on a shared 2-core box, load moves NetEQ's target delay more than anything else).
 */
export async function runLatency(
  stack: BenchStack,
  windowSeconds: number,
  log: (s: string) => void,
): Promise<LatencyResult> {
  log(
    `latency: direct pair (2 rtc-node participants) and one bridged call, together, ${windowSeconds} s`,
  );
  const wa = await stack.newWorker();
  const wb = await stack.newWorker();
  const room = `bench-direct-${process.pid}`;
  const a = await stack.join(room, 'direct-a', USER_BURSTS, wa);
  const b = await stack.join(room, 'direct-b', ROOM_BURSTS, wb);
  await Promise.all([
    a.worker.call('waitTrack', { key: a.key, timeoutMs: 10_000 }),
    b.worker.call('waitTrack', { key: b.key, timeoutMs: 10_000 }),
  ]);
  const call = await stack.inboundCall({ userSpeaks: USER_BURSTS, roomSpeaks: ROOM_BURSTS });
  await call.listener.worker.call('waitTrack', { key: call.listener.key, timeoutMs: 10_000 });
  await sleep(3000);
  const from = Date.now();
  await sleep(windowSeconds * 1000);
  const to = Date.now();
  const [ra, rb, m] = await Promise.all([
    analyse(a, ROOM_BURSTS, from, to),
    analyse(b, USER_BURSTS, from, to),
    stack.measureCall(call, from, to),
  ]);
  const opts = (p: BurstPattern) => ({
    fromMs: from,
    toMs: to,
    tailMs: 1000,
    maxMs: p.periodMs * 0.9,
    framesPerBurst: p.onMs / 20,
  });
  const aToB = matchBursts(ra.sent, rb.received, opts(USER_BURSTS));
  const bToA = matchBursts(rb.sent, ra.received, opts(ROOM_BURSTS));
  await Promise.all([stack.endCall(call), stack.leave(a), stack.leave(b)]);
  await stack.stopIdleWorkers();

  const u2r = percentiles(m.userToRoom.latencies);
  const r2u = percentiles(m.roomToUser.latencies);
  const direct = percentiles(aToB.latencies.concat(bToA.latencies));
  const diff = (x: Percentiles) => ({
    p50: x.p50 - direct.p50,
    p95: x.p95 - direct.p95,
    p99: x.p99 - direct.p99,
  });
  return {
    windowSeconds,
    bridge: {
      userToRoom: u2r,
      roomToUser: r2u,
      lossUserToRoom: m.userToRoom.framesMissing / Math.max(1, m.userToRoom.framesExpected),
      lossRoomToUser: m.roomToUser.framesMissing / Math.max(1, m.roomToUser.framesExpected),
    },
    direct: {
      aToB: percentiles(aToB.latencies),
      bToA: percentiles(bToA.latencies),
      combined: direct,
    },
    addedUserToRoom: diff(u2r),
    addedRoomToUser: diff(r2u),
    ratioUserToRoomP50: u2r.p50 / direct.p50,
    ratioRoomToUserP50: r2u.p50 / direct.p50,
  };
}
