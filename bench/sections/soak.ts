/**
 * Soak (`--long`): a steady number of concurrent calls (half the measured capacity by default)
 * for a long time, each call replaced when it ends, alternating business and user hang-up. Every
 * sample: connector RSS and open fds (from /proc, the whole process tree), heap after a forced GC,
 * listeners on live EventEmitters and libuv handles (connector-host side door), calls in the
 * connector and at the simulator, and bench rooms at livekit-server beyond the live calls. The
 * verdict is on the least-squares slope of each series after warm-up: what it would add over the
 * run must stay within a small tolerance.
 */
import { USER_TONE, ROOM_TONE, type BenchCall, type BenchStack } from '../lib/bench-stack.js';
import { sampleTree } from '../lib/proc-stats.js';
import { sleep } from '../lib/stats.js';
import { benchRooms } from './churn.js';

export interface SoakSample {
  /** Seconds since the soak started. */
  t: number;
  liveCalls: number;
  rssBytes: number;
  heapUsedBytes: number;
  fds: number;
  listeners: number;
  handles: number;
  connectorActiveCalls: number;
  simulatorActiveCalls: number;
  /** Bench rooms at livekit-server minus the calls live now (rooms close 5 s after the last participant left). */
  extraRooms: number;
}

export interface SeriesVerdict {
  /** First and last sample after warm-up. */
  first: number;
  last: number;
  /** Least-squares slope, units per hour. */
  slopePerHour: number;
  /** Slope × the measured duration: what the trend adds over the run. */
  trendOverRun: number;
  tolerance: number;
  flat: boolean;
}

export interface SoakResult {
  minutes: number;
  concurrentCalls: number;
  callSeconds: number;
  callsStarted: number;
  callsCompleted: number;
  failures: number;
  samples: SoakSample[];
  verdicts: Record<'rssBytes' | 'heapUsedBytes' | 'fds' | 'listeners' | 'handles', SeriesVerdict>;
  leftBehind: {
    connectorActiveCalls: number;
    simulatorActiveCalls: number;
    rooms: number;
    roomNames: string[];
  };
  flat: boolean;
}

export async function runSoak(
  stack: BenchStack,
  opts: { minutes: number; concurrentCalls: number; callSeconds: number; sampleSeconds: number },
  log: (s: string) => void,
): Promise<SoakResult> {
  const n = Math.max(1, Math.round(opts.concurrentCalls));
  log(
    `soak: ${n} concurrent calls for ${opts.minutes} min, each ${opts.callSeconds} s, sample every ${opts.sampleSeconds} s`,
  );
  const start = Date.now();
  const endAt = start + opts.minutes * 60_000;
  const live = new Set<BenchCall>();
  let started = 0;
  let completed = 0;
  let failures = 0;
  const samples: SoakSample[] = [];

  /** One slot: calls back to back until the end; the first call is shortened to stagger ends. */
  const slot = async (index: number) => {
    let first = true;
    while (Date.now() < endAt) {
      const k = started++;
      let call: BenchCall | undefined;
      try {
        call = await stack.inboundCall({ userSpeaks: USER_TONE, roomSpeaks: ROOM_TONE });
        live.add(call);
        const hold = first ? ((index + 1) / n) * opts.callSeconds : opts.callSeconds;
        first = false;
        await sleep(Math.max(0, Math.min(hold * 1000, endAt - Date.now())));
        live.delete(call);
        await stack.endCall(call, k % 2 === 0 ? 'business' : 'user');
        completed++;
      } catch (err) {
        failures++;
        log(`  soak call ${k} failed: ${err instanceof Error ? err.message : String(err)}`);
        if (call) {
          live.delete(call);
          await stack.endCall(call).catch(() => undefined);
        }
        await sleep(2000);
      }
    }
  };

  const sample = async (): Promise<SoakSample> => {
    await stack.connector.call('gc').catch(() => undefined);
    const stats = await stack.connectorStats();
    const tree = sampleTree(stack.connector.pid);
    const rooms = await benchRooms(stack).catch(() => []);
    return {
      t: (Date.now() - start) / 1000,
      liveCalls: live.size,
      rssBytes: tree.rssBytes,
      heapUsedBytes: stats?.memory.heapUsed ?? NaN,
      fds: tree.fds,
      listeners: stats?.listeners ?? NaN,
      handles: stats?.handles ?? NaN,
      connectorActiveCalls: stats?.activeCalls ?? NaN,
      simulatorActiveCalls: await stack.sim.call<number>('activeCalls').catch(() => NaN),
      extraRooms: rooms.length - live.size,
    };
  };

  // Calls start spread over the first call length (setup at a steady rate, not a burst).
  const slots: Promise<void>[] = [];
  for (let i = 0; i < n; i++) {
    slots.push(slot(i));
    await sleep(Math.min(500, (opts.callSeconds * 1000) / n / 2));
  }
  let nextSample = Date.now();
  let lastLog = 0;
  while (Date.now() < endAt) {
    if (Date.now() >= nextSample) {
      const s = await sample();
      samples.push(s);
      nextSample += opts.sampleSeconds * 1000;
      if (Date.now() - lastLog >= 60_000) {
        lastLog = Date.now();
        log(
          `  ${(s.t / 60).toFixed(1)} min: ${s.liveCalls} live, RSS ${(s.rssBytes / 2 ** 20).toFixed(0)} MiB, heap ${(s.heapUsedBytes / 2 ** 20).toFixed(1)} MiB, fds ${s.fds}, listeners ${s.listeners}, handles ${s.handles}, extra rooms ${s.extraRooms}`,
        );
      }
    }
    await sleep(Math.max(50, Math.min(1000, nextSample - Date.now(), endAt - Date.now())));
  }
  await Promise.all(slots);
  const minutes = (Date.now() - start) / 60_000;
  // Drain: livekit-server closes a room 5 s after its last participant left.
  const endedAt = Date.now();
  let rooms = await benchRooms(stack);
  while (rooms.length > 0 && Date.now() - endedAt < 40_000) {
    await sleep(1000);
    rooms = await benchRooms(stack);
  }
  await stack.stopIdleWorkers();
  const final = await sample();
  const verdicts = {
    rssBytes: trendVerdict(
      samples,
      (s) => s.rssBytes,
      (mean) => mean * 0.1 + 16 * 2 ** 20,
    ),
    heapUsedBytes: trendVerdict(
      samples,
      (s) => s.heapUsedBytes,
      (mean) => mean * 0.1 + 4 * 2 ** 20,
    ),
    fds: trendVerdict(
      samples,
      (s) => s.fds,
      (mean) => mean * 0.05 + 4,
    ),
    listeners: trendVerdict(
      samples,
      (s) => s.listeners,
      (mean) => mean * 0.05 + 10,
    ),
    handles: trendVerdict(
      samples,
      (s) => s.handles,
      (mean) => mean * 0.05 + 4,
    ),
  };
  const leftBehind = {
    connectorActiveCalls: final.connectorActiveCalls,
    simulatorActiveCalls: final.simulatorActiveCalls,
    rooms: rooms.length,
    roomNames: rooms.map((r) => `${r.name} (${r.numParticipants} participants)`),
  };
  const leftTotal =
    (leftBehind.connectorActiveCalls || 0) + (leftBehind.simulatorActiveCalls || 0) + rooms.length;
  return {
    minutes,
    concurrentCalls: n,
    callSeconds: opts.callSeconds,
    callsStarted: started,
    callsCompleted: completed,
    failures,
    samples: [...samples, final],
    verdicts,
    leftBehind,
    flat: Object.values(verdicts).every((v) => v.flat) && leftTotal === 0,
  };
}

/**
 * The trend of one series after warm-up (the first fifth of the samples, at least one, is
 * skipped: caches, JIT and pools fill there). A series the side door does not report (NaN) is
 * flat by default, and says so with NaN figures.
 */
export function trendVerdict(
  samples: readonly SoakSample[],
  y: (s: SoakSample) => number,
  tolerance: (mean: number) => number,
): SeriesVerdict {
  const use = samples.slice(Math.max(1, Math.floor(samples.length / 5)));
  const pts = use.map((s) => [s.t / 3600, y(s)] as const).filter(([, v]) => Number.isFinite(v));
  if (pts.length < 3) {
    return {
      first: NaN,
      last: NaN,
      slopePerHour: NaN,
      trendOverRun: NaN,
      tolerance: NaN,
      flat: true,
    };
  }
  const n = pts.length;
  const mx = pts.reduce((a, [x]) => a + x, 0) / n;
  const my = pts.reduce((a, [, v]) => a + v, 0) / n;
  let num = 0;
  let den = 0;
  for (const [x, v] of pts) {
    num += (x - mx) * (v - my);
    den += (x - mx) ** 2;
  }
  const slopePerHour = den === 0 ? 0 : num / den;
  const span = pts[n - 1]![0] - pts[0]![0];
  const trendOverRun = slopePerHour * span;
  const tol = tolerance(my);
  return {
    first: pts[0]![1],
    last: pts[n - 1]![1],
    slopePerHour,
    trendOverRun,
    tolerance: tol,
    flat: trendOverRun <= tol,
  };
}
