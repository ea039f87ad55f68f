/**
 * One-way delay, each direction, through the bridge and — as the baseline — between two room
 * agents (the TypeScript participant) through the same livekit-server. Both use the same
 * pre-encoded burst sender and the same detector on packet arrival times (no playout buffer on
 * either end), so what they share (livekit-server, loopback, the agents' own send/receive path)
 * cancels out in the difference. With `speakers: 2` a second agent speaks in the bridged room
 * (the connector mixes). An rtc-node participant also listens in the bridged room: whether an
 * independent WebRTC stack hears the user's bursts, and its delay including NetEQ playout.
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
  speakers: number;
  /** The rtc-node listener in the bridged room (user → room), NetEQ playout included. */
  rtcNode?: { p50: number; framesMissingShare: number; burstsMatched: number; burstsSent: number };
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
  opts: { speakers?: number; rtcNodeCheck?: boolean } = {},
): Promise<LatencyResult> {
  const speakers = opts.speakers ?? 1;
  log(
    `latency (${speakers === 1 ? 'one room speaker' : `${speakers} room speakers`}): direct pair (2 agents) and one bridged call, together, ${windowSeconds} s`,
  );
  const wa = await stack.newWorker();
  const wb = await stack.newWorker();
  const room = `bench-direct-${stack.connectorName}-${speakers}-${process.pid}`;
  const a = await stack.join(room, 'direct-a', { speak: USER_BURSTS, worker: wa });
  const b = await stack.join(room, 'direct-b', { speak: ROOM_BURSTS, worker: wb });
  await Promise.all([
    a.worker.call('waitTrack', { key: a.key, timeoutMs: 10_000 }),
    b.worker.call('waitTrack', { key: b.key, timeoutMs: 10_000 }),
  ]);
  const call = await stack.inboundCall({
    userSpeaks: USER_BURSTS,
    roomSpeaks: ROOM_BURSTS,
    speakers,
    rtcNodeListener: opts.rtcNodeCheck ?? true,
  });
  await call.listener.worker.call('waitTrack', { key: call.listener.key, timeoutMs: 10_000 });
  const checker = call.extras[speakers - 1];
  await sleep(3000);
  const from = Date.now();
  await sleep(windowSeconds * 1000);
  const to = Date.now();
  const [ra, rb, m, rc] = await Promise.all([
    analyse(a, ROOM_BURSTS, from, to),
    analyse(b, USER_BURSTS, from, to),
    stack.measureCall(call, from, to),
    checker ? analyse(checker, USER_BURSTS, from, to) : undefined,
  ]);
  const match = (p: BurstPattern) => ({
    fromMs: from,
    toMs: to,
    tailMs: 1000,
    maxMs: p.periodMs * 0.9,
    framesPerBurst: p.onMs / 20,
  });
  const aToB = matchBursts(ra.sent, rb.received, match(USER_BURSTS));
  const bToA = matchBursts(rb.sent, ra.received, match(ROOM_BURSTS));
  const heard = rc ? matchBursts(m.userSent, rc.received, match(USER_BURSTS)) : undefined;
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
    speakers,
    ...(heard
      ? {
          rtcNode: {
            p50: percentiles(heard.latencies).p50,
            framesMissingShare: heard.framesMissing / Math.max(1, heard.framesExpected),
            burstsMatched: heard.burstsMatched,
            burstsSent: heard.burstsSent,
          },
        }
      : {}),
  };
}
