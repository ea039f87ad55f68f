/**
 * Capacity ramp: concurrent full-duplex calls (tone bursts both ways, detected at both ends),
 * stepped up until quality breaks (> 1 % of 20 ms tone frames missing at either end, or one-way
 * p99 > 150 ms) or the cap. At each step: CPU per process group from /proc (the connector is a
 * black box process), connector RSS, and what the load side (simulator + room agents) costs.
 * `speakers: 1` is the passthrough case (one agent speaking), 2 the mixing case.
 */
import { ROOM_BURSTS, USER_BURSTS, type BenchCall, type BenchStack } from '../lib/bench-stack.js';
import type { ReceivedBurst } from '../lib/burst-signal.js';
import {
  mapLimit,
  matchBursts,
  mergeDirections,
  percentiles,
  sleep,
  type Percentiles,
} from '../lib/stats.js';

export const LOSS_LIMIT = 0.01;
export const P99_LIMIT_MS = 150;

export interface CapacityStep {
  calls: number;
  windowSeconds: number;
  cpuSeconds: Record<string, number>;
  machineBusyShare: number;
  connectorCpuSecondsPerCallMinute: number;
  /** Connector CPU as a share of one core. */
  connectorCoreShare: number;
  connectorRssBytes: number;
  /** Simulator + room participant processes + bench driver, CPU-s per call-minute. */
  loadSideCpuSecondsPerCallMinute: number;
  userToRoom: Percentiles & { loss: number };
  roomToUser: Percentiles & { loss: number };
  /** Calls whose audio failed in at least one direction in this window (no burst matched). */
  deadCalls: number;
  /** Per call (in set-up order): one-way p50 and max each direction, ms (where a p99 comes from). */
  perCall: {
    userToRoom: [number, number];
    roomToUser: [number, number];
    /** Connector media leg at the end of the window: send backlog, drops, jitter buffer. */
    leg?: {
      sendQueueFrames: number | null;
      sendQueueDrops?: number;
      jitterBufferMs?: number;
      clockResyncs?: number;
    };
  }[];
  ok: boolean;
  failure?: string;
}

export interface CapacityResult {
  steps: CapacityStep[];
  /** Largest step that met both quality limits. */
  callsHeld: number;
  stoppedBecause: string;
  connectorRssIdleBytes: number;
  /** Connector CPU with no call (timers, rtc-node runtime), cores. */
  connectorIdleCores: number;
  /** (RSS at the largest good step − RSS at the 1-call step) / (calls − 1). */
  rssPerCallBytes: number;
  /** Connector CPU-s per call-minute at the largest good step (fixed cost shared out). */
  cpuSecondsPerCallMinute: number;
  /** Least-squares slope of connector CPU against calls over the good steps, CPU-s per call-minute. */
  marginalCpuSecondsPerCallMinute: number;
  /** Subtracted from p99 before the 150 ms limit: the direct-path p50 of the same run. */
  latencyBaselineMs: number;
  setupFailures: number;
  speakers: number;
  /** Load side CPU-s per call-minute at the largest step measured, and its slope. */
  loadSideCpuSecondsPerCallMinute: number;
  marginalLoadSideCpuSecondsPerCallMinute: number;
  /** Slope per process group (simulator, agents, livekitServer...), CPU-s per added call-minute. */
  marginalByGroup: Record<string, number>;
  /** The rtc-node listener in the first call's room: bursts of the user it heard. */
  rtcNodeCheck?: {
    burstsSent: number;
    burstsMatched: number;
    framesMissingShare: number;
    p50Ms: number;
  };
}

export async function runCapacity(
  stack: BenchStack,
  opts: {
    steps: number[];
    holdSeconds: number;
    settleSeconds: number;
    latencyBaselineMs: number;
    /** Room speakers per call (1: passthrough, 2: mixing). Default 1. */
    speakers?: number;
    /** Put an rtc-node listener in the first call's room (audio check). Default false. */
    rtcNodeCheck?: boolean;
  },
  log: (s: string) => void,
): Promise<CapacityResult> {
  const speakers = opts.speakers ?? 1;
  const calls: BenchCall[] = [];
  const steps: CapacityStep[] = [];
  let stoppedBecause = 'reached the cap';
  let setupFailures = 0;
  await stack.connector.call('gc').catch(() => undefined);
  const idle = (await stack.connectorStats())?.memory.rss ?? NaN;
  stack.meter.reset();
  await sleep(5000);
  const idleCpu = stack.meter.read();
  let checkAdded = false;
  let failedInRow = 0;
  let rtcNodeCheck: CapacityResult['rtcNodeCheck'];
  const connectorIdleCores = (idleCpu.cpuSeconds.connector ?? 0) / idleCpu.wallSeconds;
  try {
    for (const target of opts.steps) {
      const missing = target - calls.length;
      log(`capacity: ramp to ${target} calls`);
      const added = await mapLimit(Array.from({ length: missing }), 2, async () => {
        const withCheck = opts.rtcNodeCheck === true && !checkAdded;
        checkAdded ||= withCheck;
        try {
          const c = await stack.inboundCall({
            userSpeaks: USER_BURSTS,
            roomSpeaks: ROOM_BURSTS,
            speakers,
            rtcNodeListener: withCheck,
          });
          await c.listener.worker.call('waitTrack', { key: c.listener.key, timeoutMs: 10_000 });
          return c;
        } catch (err) {
          setupFailures++;
          log(`  call setup failed: ${err instanceof Error ? err.message : String(err)}`);
          return undefined;
        }
      });
      for (const c of added) if (c) calls.push(c);
      if (calls.length < target) {
        stoppedBecause = `call setup failed at ${target} calls`;
        break;
      }
      await sleep(opts.settleSeconds * 1000);
      stack.meter.reset();
      const from = Date.now();
      await sleep(opts.holdSeconds * 1000);
      const to = Date.now();
      const cpu = stack.meter.read();
      const measured = await mapLimit(calls, 4, (c) => stack.measureCall(c, from, to));
      const legs = (await stack.connectorStats())?.legs ?? [];
      const checkIndex = calls.findIndex((c) => c.extras.length >= speakers);
      const checker = calls[checkIndex]?.extras[speakers - 1];
      if (checker) {
        const r = await checker.worker.call<{ received: ReceivedBurst[]; sent: number[] }>(
          'analyse',
          { key: checker.key, listen: USER_BURSTS, fromMs: from - 1000, toMs: to },
        );
        const m = matchBursts(measured[checkIndex]?.userSent ?? [], r.received, {
          fromMs: from,
          toMs: to,
          tailMs: 1000,
          maxMs: USER_BURSTS.periodMs * 0.9,
          framesPerBurst: USER_BURSTS.onMs / 20,
        });
        rtcNodeCheck = {
          burstsSent: m.burstsSent,
          burstsMatched: m.burstsMatched,
          framesMissingShare: m.framesMissing / Math.max(1, m.framesExpected),
          p50Ms: percentiles(m.latencies).p50,
        };
      }
      const u2r = mergeDirections(measured.map((m) => m.userToRoom));
      const r2u = mergeDirections(measured.map((m) => m.roomToUser));
      const dead = measured.filter(
        (m) => m.userToRoom.burstsMatched === 0 || m.roomToUser.burstsMatched === 0,
      ).length;
      const lossU = u2r.framesMissing / Math.max(1, u2r.framesExpected);
      const lossR = r2u.framesMissing / Math.max(1, r2u.framesExpected);
      const pu = percentiles(u2r.latencies);
      const pr = percentiles(r2u.latencies);
      const connectorCpu = cpu.cpuSeconds.connector ?? 0;
      const loadCpu =
        (cpu.cpuSeconds.simulator ?? 0) +
        (cpu.cpuSeconds.agents ?? 0) +
        (cpu.cpuSeconds.rtcNodeListeners ?? 0) +
        (cpu.cpuSeconds.benchDriver ?? 0);
      const failures: string[] = [];
      if (lossU > LOSS_LIMIT)
        failures.push(`user→room frames missing ${(lossU * 100).toFixed(1)} %`);
      if (lossR > LOSS_LIMIT)
        failures.push(`room→user frames missing ${(lossR * 100).toFixed(1)} %`);
      const base = opts.latencyBaselineMs;
      if (!(pu.p99 - base <= P99_LIMIT_MS)) failures.push(`user→room p99 ${pu.p99.toFixed(0)} ms`);
      if (!(pr.p99 - base <= P99_LIMIT_MS)) failures.push(`room→user p99 ${pr.p99.toFixed(0)} ms`);
      const step: CapacityStep = {
        calls: target,
        windowSeconds: cpu.wallSeconds,
        cpuSeconds: cpu.cpuSeconds,
        machineBusyShare: cpu.machineBusyShare,
        connectorCpuSecondsPerCallMinute: connectorCpu / (target * (cpu.wallSeconds / 60)),
        connectorCoreShare: connectorCpu / cpu.wallSeconds,
        connectorRssBytes: cpu.rssBytes.connector ?? 0,
        loadSideCpuSecondsPerCallMinute: loadCpu / (target * (cpu.wallSeconds / 60)),
        userToRoom: { ...pu, loss: lossU },
        roomToUser: { ...pr, loss: lossR },
        deadCalls: dead,
        perCall: measured.map((m, i) => {
          const u = percentiles(m.userToRoom.latencies);
          const r = percentiles(m.roomToUser.latencies);
          const leg = legs.find((l) => l.callId === calls[i]?.callId);
          return {
            userToRoom: [u.p50, u.max],
            roomToUser: [r.p50, r.max],
            ...(leg
              ? {
                  leg: {
                    sendQueueFrames: leg.sendQueueFrames,
                    sendQueueDrops: leg.media.sendQueueDrops,
                    jitterBufferMs: leg.media.jitterBufferMs,
                    clockResyncs: leg.media.clockResyncs,
                  },
                }
              : {}),
          };
        }),
        ok: failures.length === 0,
        ...(failures.length ? { failure: failures.join('; ') } : {}),
      };
      steps.push(step);
      log(
        `  ${target} calls: connector ${step.connectorCpuSecondsPerCallMinute.toFixed(2)} CPU-s/call-min, ` +
          `machine ${(cpu.machineBusyShare * 100).toFixed(0)} % busy, u→r p50/p99 ${pu.p50.toFixed(0)}/${pu.p99.toFixed(0)} ms, ` +
          `r→u ${pr.p50.toFixed(0)}/${pr.p99.toFixed(0)} ms, missing ${(lossU * 100).toFixed(2)}/${(lossR * 100).toFixed(2)} %, ` +
          `load side ${step.loadSideCpuSecondsPerCallMinute.toFixed(2)} (sim ${(cpu.cpuSeconds.simulator ?? 0).toFixed(1)} s, agents ${(cpu.cpuSeconds.agents ?? 0).toFixed(1)} s, lk ${(cpu.cpuSeconds.livekitServer ?? 0).toFixed(1)} s in ${cpu.wallSeconds.toFixed(0)} s)` +
          (step.ok ? '' : `  BREAK: ${step.failure}`),
      );
      // One bad window on a shared machine is often someone else's load: stop after two in a row.
      if (!step.ok) {
        failedInRow++;
        if (failedInRow >= 2) {
          stoppedBecause = `${step.failure ?? 'quality'} (2 steps in a row)`;
          break;
        }
      } else {
        failedInRow = 0;
      }
    }
  } finally {
    log(`capacity: tearing down ${calls.length} calls`);
    await mapLimit(calls, 4, (c) => stack.endCall(c));
    await stack.stopIdleWorkers();
  }
  const good = steps.filter((s) => s.ok);
  const best = good[good.length - 1];
  const one = steps.find((s) => s.calls === 1);
  return {
    steps,
    callsHeld: best?.calls ?? 0,
    stoppedBecause,
    connectorRssIdleBytes: idle,
    connectorIdleCores,
    rssPerCallBytes:
      best && one && best.calls > 1
        ? (best.connectorRssBytes - one.connectorRssBytes) / (best.calls - 1)
        : NaN,
    cpuSecondsPerCallMinute: best?.connectorCpuSecondsPerCallMinute ?? NaN,
    marginalCpuSecondsPerCallMinute: slope(good.length >= 2 ? good : steps) * 60,
    latencyBaselineMs: opts.latencyBaselineMs,
    setupFailures,
    speakers,
    loadSideCpuSecondsPerCallMinute:
      steps[steps.length - 1]?.loadSideCpuSecondsPerCallMinute ?? NaN,
    marginalLoadSideCpuSecondsPerCallMinute:
      slope(steps, (s) => (s.loadSideCpuSecondsPerCallMinute * s.calls) / 60) * 60,
    marginalByGroup: Object.fromEntries(
      Object.keys(steps[0]?.cpuSeconds ?? {}).map((g) => [
        g,
        slope(steps, (s) => (s.cpuSeconds[g] ?? 0) / s.windowSeconds) * 60,
      ]),
    ),
    ...(rtcNodeCheck ? { rtcNodeCheck } : {}),
  };
}

/** Least-squares slope of cores used (default: the connector's) against calls (cores per call). */
function slope(
  steps: readonly CapacityStep[],
  y: (s: CapacityStep) => number = (s) => s.connectorCoreShare,
): number {
  if (steps.length < 2) return NaN;
  const n = steps.length;
  const mx = steps.reduce((a, s) => a + s.calls, 0) / n;
  const my = steps.reduce((a, s) => a + y(s), 0) / n;
  let num = 0;
  let den = 0;
  for (const s of steps) {
    num += (s.calls - mx) * (y(s) - my);
    den += (s.calls - mx) ** 2;
  }
  return den === 0 ? NaN : num / den;
}
