/**
 * Churn: calls set up and torn down continuously at a steady rate (alternating business
 * hang-up via DisconnectWhatsAppCall and user hang-up at Meta), then a check that nothing is
 * left: calls and media legs in the connector, calls at the simulator, rooms at livekit-server,
 * and the connector's RSS, heap and open descriptors before and after (after a forced GC).
 */
import { USER_TONE, ROOM_TONE, type BenchStack, type BenchCall } from '../lib/bench-stack.js';
import { sampleTree } from '../lib/proc-stats.js';
import { sleep } from '../lib/stats.js';

export interface ChurnSnapshot {
  rssBytes: number;
  heapUsedBytes: number;
  fds: number;
  activeCalls: number;
  openMediaLegs: number;
}

export interface ChurnResult {
  durationSeconds: number;
  targetCallsPerMinute: number;
  /** Calls started per minute, as held over the run. */
  achievedCallsPerMinute: number;
  callsStarted: number;
  callsCompleted: number;
  failures: number;
  holdSeconds: number;
  before: ChurnSnapshot;
  after: ChurnSnapshot;
  /** RSS samples (s since start, bytes) during the run. */
  rssSeries: [number, number][];
  leftBehind: {
    connectorActiveCalls: number;
    connectorOpenMediaLegs: number;
    simulatorActiveCalls: number;
    /** Bench rooms that still exist at livekit-server 40 s after the last call ended. */
    rooms: number;
    /** Of those, rooms that still have a participant (someone never left). */
    roomsWithParticipants: number;
    roomNames: string[];
  };
  /** Time until livekit-server had closed every bench room (≤ 40 s). */
  roomsDrainedSeconds: number;
}

async function snapshot(stack: BenchStack): Promise<ChurnSnapshot> {
  await stack.connector.call('gc').catch(() => undefined);
  await sleep(500);
  const stats = await stack.connectorStats();
  const tree = sampleTree(stack.connector.pid);
  return {
    rssBytes: tree.rssBytes,
    heapUsedBytes: stats?.memory.heapUsed ?? NaN,
    fds: tree.fds,
    activeCalls: stats?.activeCalls ?? NaN,
    openMediaLegs: stats?.openMediaLegs ?? NaN,
  };
}

export async function runChurn(
  stack: BenchStack,
  opts: { durationSeconds: number; callsPerMinute: number; holdSeconds: number },
  log: (s: string) => void,
): Promise<ChurnResult> {
  log(
    `churn: ${opts.callsPerMinute} calls/min for ${opts.durationSeconds} s, each held ${opts.holdSeconds} s`,
  );
  // Warm up: the first calls load native code and caches that are not leaks.
  for (let i = 0; i < 2; i++) {
    const c = await stack.inboundCall({ userSpeaks: USER_TONE, roomSpeaks: ROOM_TONE });
    await sleep(1000);
    await stack.endCall(c);
  }
  await stack.stopIdleWorkers();
  await sleep(2000);
  const before = await snapshot(stack);

  const interval = 60_000 / opts.callsPerMinute;
  const start = Date.now();
  const running: Promise<void>[] = [];
  const rssSeries: [number, number][] = [];
  let started = 0;
  let completed = 0;
  let failures = 0;
  const oneCall = async (i: number) => {
    let call: BenchCall | undefined;
    try {
      call = await stack.inboundCall({ userSpeaks: USER_TONE, roomSpeaks: ROOM_TONE });
      await sleep(opts.holdSeconds * 1000);
      await stack.endCall(call, i % 2 === 0 ? 'business' : 'user');
      completed++;
    } catch (err) {
      failures++;
      log(`  churn call ${i} failed: ${err instanceof Error ? err.message : String(err)}`);
      if (call) await stack.endCall(call).catch(() => undefined);
    }
  };
  let lastSample = 0;
  while (Date.now() - start < opts.durationSeconds * 1000) {
    const due = start + started * interval;
    if (Date.now() >= due) {
      running.push(oneCall(started));
      started++;
    }
    if (Date.now() - lastSample >= 5000) {
      lastSample = Date.now();
      rssSeries.push([(lastSample - start) / 1000, sampleTree(stack.connector.pid).rssBytes]);
    }
    await sleep(Math.max(10, Math.min(1000, start + started * interval - Date.now())));
  }
  const elapsed = (Date.now() - start) / 1000;
  await Promise.all(running);
  await stack.stopIdleWorkers();
  // livekit-server closes a room 5 s after its last participant left (departure timeout), or
  // 30 s after creation if nobody ever joined (empty timeout): poll up to 40 s.
  const endedAt = Date.now();
  let churnRooms = await benchRooms(stack);
  while (churnRooms.length > 0 && Date.now() - endedAt < 40_000) {
    await sleep(1000);
    churnRooms = await benchRooms(stack);
  }
  const roomsDrainedSeconds = (Date.now() - endedAt) / 1000;
  const after = await snapshot(stack);
  return {
    durationSeconds: elapsed,
    targetCallsPerMinute: opts.callsPerMinute,
    achievedCallsPerMinute: (started / elapsed) * 60,
    callsStarted: started,
    callsCompleted: completed,
    failures,
    holdSeconds: opts.holdSeconds,
    before,
    after,
    rssSeries,
    leftBehind: {
      connectorActiveCalls: after.activeCalls,
      connectorOpenMediaLegs: after.openMediaLegs,
      simulatorActiveCalls: await stack.sim.call<number>('activeCalls'),
      rooms: churnRooms.length,
      roomsWithParticipants: churnRooms.filter((r) => r.numParticipants > 0).length,
      roomNames: churnRooms.map((r) => `${r.name} (${r.numParticipants} participants)`),
    },
    roomsDrainedSeconds,
  };
}

export async function benchRooms(stack: BenchStack) {
  return (await stack.rooms.listRooms()).filter((r) => r.name.startsWith('bench-'));
}
