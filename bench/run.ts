/**
 * `make bench`: drives real calls (simulator users as Meta replaying pre-encoded Opus,
 * livekit-server, the connector as a black box process, room agents on the project's own
 * TypeScript LiveKit participant, a few rtc-node listeners — each in its own process) and reports
 * the issue-13 goals (connector CPU per added call, calls per core, added latency, setup, churn)
 * next to a peer row (another commit's connector, by default today's rtc-node/transcoding design,
 * in the same run against the same servers), what the load side costs, and with `--long` a
 * 30-minute soak. Prints tables, writes JSON and SVG charts under bench/results/.
 * See bench/README.md.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { BenchStack, ourConnector, AGENTS_PER_WORKER } from './lib/bench-stack.js';
import { measureCodecFloor, type CodecFloor } from './lib/codec-floor.js';
import { checkoutPeer, DEFAULT_PEER_COMMIT, type PeerCheckout } from './lib/peer-checkout.js';
import { renderProfile, summariseProfileDir, type ProfileSummary } from './lib/profile-summary.js';
import { machineInfo, renderChart, renderColumns, renderTable, type Figure } from './lib/report.js';
import { runCapacity, type CapacityResult } from './sections/capacity.js';
import { runChurn, type ChurnResult } from './sections/churn.js';
import { runImpairment, type ImpairmentLevel } from './sections/impairment.js';
import { runLatency, type LatencyResult } from './sections/latency.js';
import { runSetup, type SetupResult } from './sections/setup.js';
import { runSoak, type SoakResult } from './sections/soak.js';

const SECTIONS = [
  'floor',
  'latency',
  'capacity',
  'mixing',
  'setup',
  'impairment',
  'churn',
  'peer',
  'soak',
] as const;
type Section = (typeof SECTIONS)[number];
/** What runs without --only (soak only with --long). */
const DEFAULT_SECTIONS: Section[] = SECTIONS.filter((s) => s !== 'soak');

const USAGE = `usage: npx tsx bench/run.ts [options]   (make bench BENCH_ARGS="...", make bench-long)
  --only <list>              sections, comma-separated: ${SECTIONS.join(',')}
                             (default all but soak; --long adds soak)
                             floor       Opus + SRTP cost of transcoding, in-process
                             latency     added one-way latency, one room speaker and two (mixing)
                             capacity    passthrough ramp: one agent speaking per call
                             mixing      mixing ramp: two agents speaking per call
                             setup       Accept → audio, Dial/Connect/answer → audio
                             impairment  loss and jitter on the WhatsApp leg: concealment, SNR
                             churn       calls set up and torn down; what is left behind
                             peer        latency, capacity ramp and setup with the peer connector
                             soak        long run at constant concurrency: RSS, heap, fds,
                                         listeners, handles, leftovers; flatness verdict
  --long                     also run the soak: --soak-minutes at half the measured capacity
  --max-calls <n>            passthrough ramp cap (default 40)
  --steps <list>             passthrough ramp steps (default 1,2,4,8,12,16,24,32,40 up to the cap)
  --mixing-steps <list>      mixing ramp steps (default 1,2,4,8,12,16 up to the cap)
  --hold <s>                 measurement window per ramp step (default 12)
  --setup-calls <n>          calls per direction for setup times (default 40)
  --latency-seconds <s>      latency window, each of the two cases (default 20)
  --churn-seconds <s>        churn duration (default 90)
  --churn-rate <n>           churn calls per minute (default 20)
  --peer-commit <rev>        the peer row's commit (default ${DEFAULT_PEER_COMMIT}: main before the
                             native media path = rtc-node room legs, full transcoding)
  --peer-max-calls <n>       peer ramp cap (default 12)
  --peer-steps <list>        peer ramp steps (default 1,2,4,6,8,12,16,24,32,40 up to the cap)
  --peer-setup-calls <n>     peer setup calls per direction (default 20)
  --peer-env K=V             extra environment of the peer connector (repeatable)
  --no-peer                  same as leaving peer out of --only
  --keep-peer-checkout       keep the peer's git worktree under the results directory
  --soak-minutes <n>         soak duration (default 30)
  --soak-calls <n>           soak concurrency (default half the passthrough calls held in this
                             run; 8 when the capacity section did not run)
  --soak-call-seconds <s>    each soak call's length (default 60)
  --soak-sample-seconds <s>  soak sample interval (default 30)
  --connector-env K=V        extra environment of our connector (repeatable)
  --cpu-prof                 write V8 CPU profiles of the connectors under the results directory
  --out <dir>                results directory (default bench/results)
  -h, --help
environment: BENCH_AGENTS_PER_WORKER (room agents per process, default ${AGENTS_PER_WORKER}),
  BENCH_CONNECTOR_LOG_LEVEL (default error)`;

function fail(message: string): never {
  console.error(`bench: ${message}\n${USAGE}`);
  process.exit(2);
}

function positive(name: string, v: string | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0)
    fail(`--${name} must be a positive number, got ${JSON.stringify(v)}`);
  return n;
}

function list(name: string, v: string | undefined, dflt: number[], cap: number): number[] {
  const out = v ? v.split(',').map((s) => positive(name, s, 1)) : dflt.filter((n) => n <= cap);
  if (out.length === 0) fail(`--${name} is empty`);
  return out;
}

function envPairs(items: string[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of items ?? []) {
    const eq = item.indexOf('=');
    if (eq <= 0) fail(`expected KEY=VALUE, got ${JSON.stringify(item)}`);
    out[item.slice(0, eq)] = item.slice(eq + 1);
  }
  return out;
}

function parseCli() {
  return parseArgs({
    options: {
      only: { type: 'string' },
      long: { type: 'boolean', default: false },
      'max-calls': { type: 'string' },
      steps: { type: 'string' },
      'mixing-steps': { type: 'string' },
      hold: { type: 'string' },
      'setup-calls': { type: 'string' },
      'latency-seconds': { type: 'string' },
      'churn-seconds': { type: 'string' },
      'churn-rate': { type: 'string' },
      'peer-commit': { type: 'string' },
      'peer-max-calls': { type: 'string' },
      'peer-steps': { type: 'string' },
      'peer-setup-calls': { type: 'string' },
      'peer-env': { type: 'string', multiple: true },
      'no-peer': { type: 'boolean', default: false },
      'keep-peer-checkout': { type: 'boolean', default: false },
      'soak-minutes': { type: 'string' },
      'soak-calls': { type: 'string' },
      'soak-call-seconds': { type: 'string' },
      'soak-sample-seconds': { type: 'string' },
      'connector-env': { type: 'string', multiple: true },
      'cpu-prof': { type: 'boolean', default: false },
      out: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    allowPositionals: false,
  }).values;
}
let parsed: ReturnType<typeof parseCli>;
try {
  parsed = parseCli();
} catch (err) {
  fail(err instanceof Error ? err.message : String(err));
}
if (parsed.help) {
  console.log(USAGE);
  process.exit(0);
}
const only = new Set<Section>(
  parsed.only === undefined
    ? [...DEFAULT_SECTIONS, ...(parsed.long ? (['soak'] as const) : [])]
    : parsed.only.split(',').map((s) => {
        const name = s.trim();
        if (!(SECTIONS as readonly string[]).includes(name))
          fail(`unknown section ${JSON.stringify(name)}`);
        return name as Section;
      }),
);
if (parsed['no-peer']) only.delete('peer');
if (parsed.long) only.add('soak');
const maxCalls = positive('max-calls', parsed['max-calls'], 40);
const steps = list('steps', parsed.steps, [1, 2, 4, 8, 12, 16, 24, 32, 40, 48, 56, 64], maxCalls);
const mixingSteps = list('mixing-steps', parsed['mixing-steps'], [1, 2, 4, 8, 12, 16], maxCalls);
const holdSeconds = positive('hold', parsed.hold, 12);
const setupCalls = positive('setup-calls', parsed['setup-calls'], 40);
const latencySeconds = positive('latency-seconds', parsed['latency-seconds'], 20);
const churnSeconds = positive('churn-seconds', parsed['churn-seconds'], 90);
const churnRate = positive('churn-rate', parsed['churn-rate'], 20);
const peerCommit = parsed['peer-commit'] ?? DEFAULT_PEER_COMMIT;
const peerMaxCalls = positive('peer-max-calls', parsed['peer-max-calls'], 12);
const peerSteps = list(
  'peer-steps',
  parsed['peer-steps'],
  [1, 2, 4, 6, 8, 12, 16, 24, 32, 40],
  peerMaxCalls,
);
const peerSetupCalls = positive('peer-setup-calls', parsed['peer-setup-calls'], 20);
const soakMinutes = positive('soak-minutes', parsed['soak-minutes'], 30);
const soakCallSeconds = positive('soak-call-seconds', parsed['soak-call-seconds'], 60);
const soakSampleSeconds = positive('soak-sample-seconds', parsed['soak-sample-seconds'], 30);
const soakCallsGiven =
  parsed['soak-calls'] === undefined ? undefined : positive('soak-calls', parsed['soak-calls'], 1);
const connectorEnv = envPairs(parsed['connector-env']);
const peerEnv = envPairs(parsed['peer-env']);
const outDir = parsed.out ?? join('bench', 'results');

const stamp = new Date().toISOString().replace(/[:.]/g, '-');
mkdirSync(outDir, { recursive: true });
const log = (s: string) => console.error(`[${new Date().toISOString().slice(11, 19)}] ${s}`);
const t0 = Date.now();

/** Everything measured with one connector. */
interface ConnectorResult {
  name: 'ours' | 'peer';
  commit: string;
  connectorEnv: Record<string, string>;
  latency?: LatencyResult;
  latencyMixing?: LatencyResult;
  capacity?: CapacityResult;
  mixing?: CapacityResult;
  setup?: SetupResult;
  impairment?: ImpairmentLevel[];
  churn?: ChurnResult;
  soak?: SoakResult;
  errors: Record<string, string>;
}

/** The stack running now, stopped on Ctrl+C so no livekit-server or worker outlives the bench. */
let activeStack: BenchStack | undefined;
let peer: PeerCheckout | undefined;
const keepPeer = parsed['keep-peer-checkout'];
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    log(`${signal}: stopping`);
    void (activeStack?.stop() ?? Promise.resolve()).finally(() => {
      if (!keepPeer) peer?.remove();
      process.exit(130);
    });
  });
}

async function guarded<T>(
  result: ConnectorResult,
  stack: BenchStack,
  name: string,
  fn: () => Promise<T>,
): Promise<T | undefined> {
  try {
    return await fn();
  } catch (err) {
    result.errors[name] = err instanceof Error ? err.message : String(err);
    log(`${result.name} ${name} failed: ${result.errors[name]}`);
    await stack.stopIdleWorkers().catch(() => undefined);
    return undefined;
  }
}

async function runOurs(stack: BenchStack): Promise<ConnectorResult> {
  const r: ConnectorResult = {
    name: 'ours',
    commit: String(machineInfo().commit),
    connectorEnv,
    errors: {},
  };
  if (only.has('latency')) {
    r.latency = await guarded(r, stack, 'latency', () =>
      runLatency(stack, latencySeconds, log, { speakers: 1 }),
    );
    r.latencyMixing = await guarded(r, stack, 'latency-mixing', () =>
      runLatency(stack, latencySeconds, log, { speakers: 2, rtcNodeCheck: false }),
    );
  }
  const baseline = () => r.latency?.direct.combined.p50 ?? 0;
  if (only.has('capacity')) {
    r.capacity = await guarded(r, stack, 'capacity', () =>
      runCapacity(
        stack,
        {
          steps,
          holdSeconds,
          settleSeconds: 3,
          latencyBaselineMs: baseline(),
          speakers: 1,
          rtcNodeCheck: true,
        },
        log,
      ),
    );
  }
  if (only.has('mixing')) {
    log('mixing ramp: two agents speaking per call');
    r.mixing = await guarded(r, stack, 'mixing', () =>
      runCapacity(
        stack,
        {
          steps: mixingSteps,
          holdSeconds,
          settleSeconds: 3,
          latencyBaselineMs: baseline(),
          speakers: 2,
        },
        log,
      ),
    );
  }
  if (only.has('setup'))
    r.setup = await guarded(r, stack, 'setup', () => runSetup(stack, setupCalls, log));
  if (only.has('impairment')) {
    r.impairment = await guarded(r, stack, 'impairment', () =>
      runImpairment(
        stack,
        {
          levels: [
            { lossPercent: 0, jitterMs: 0 },
            { lossPercent: 0, jitterMs: 30 },
            { lossPercent: 3, jitterMs: 30 },
            { lossPercent: 10, jitterMs: 30 },
          ],
          windowSeconds: 10,
        },
        log,
      ),
    );
  }
  if (only.has('churn')) {
    r.churn = await guarded(r, stack, 'churn', () =>
      runChurn(
        stack,
        { durationSeconds: churnSeconds, callsPerMinute: churnRate, holdSeconds: 6 },
        log,
      ),
    );
  }
  if (only.has('soak')) {
    const held = r.capacity?.callsHeld;
    const calls = soakCallsGiven ?? (held ? Math.max(1, Math.floor(held / 2)) : 8);
    r.soak = await guarded(r, stack, 'soak', () =>
      runSoak(
        stack,
        {
          minutes: soakMinutes,
          concurrentCalls: calls,
          callSeconds: soakCallSeconds,
          sampleSeconds: soakSampleSeconds,
        },
        log,
      ),
    );
  }
  return r;
}

async function runPeer(stack: BenchStack, checkout: PeerCheckout): Promise<ConnectorResult> {
  const r: ConnectorResult = {
    name: 'peer',
    commit: checkout.commit,
    connectorEnv: peerEnv,
    errors: {},
  };
  log(`peer: connector of ${checkout.commit.slice(0, 12)} (${checkout.dir})`);
  await stack.useConnector(checkout.spec);
  r.latency = await guarded(r, stack, 'latency', () =>
    runLatency(stack, latencySeconds, log, { speakers: 1, rtcNodeCheck: false }),
  );
  r.capacity = await guarded(r, stack, 'capacity', () =>
    runCapacity(
      stack,
      {
        steps: peerSteps,
        holdSeconds,
        settleSeconds: 3,
        latencyBaselineMs: r.latency?.direct.combined.p50 ?? 0,
        speakers: 1,
      },
      log,
    ),
  );
  r.setup = await guarded(r, stack, 'setup', () => runSetup(stack, peerSetupCalls, log));
  return r;
}

let floor: CodecFloor | undefined;
if (only.has('floor')) {
  log('codec floor: Opus + SRTP, 2 call-minutes');
  measureCodecFloor(0.2); // JIT warm-up
  floor = measureCodecFloor(2);
}
const results: ConnectorResult[] = [];
const oursSections = [...only].filter((s) => s !== 'floor' && s !== 'peer');
if (oursSections.length > 0 || only.has('peer')) {
  if (only.has('peer')) {
    try {
      peer = checkoutPeer(peerCommit, outDir, peerEnv);
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      log(`peer checkout failed: ${message}`);
      results.push({
        name: 'peer',
        commit: peerCommit,
        connectorEnv: peerEnv,
        errors: { checkout: message },
      });
    }
  }
  log('starting livekit-server, simulator and our connector');
  const stack = await BenchStack.start({
    connector: ourConnector(connectorEnv),
    ...(parsed['cpu-prof'] ? { cpuProfileDir: join(outDir, `cpu-prof-${stamp}`) } : {}),
  });
  activeStack = stack;
  try {
    if (oursSections.length > 0) results.unshift(await runOurs(stack));
    if (peer) {
      try {
        results.push(await runPeer(stack, peer));
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        log(`peer run failed: ${message}`);
        results.push({
          name: 'peer',
          commit: peer.commit,
          connectorEnv: peerEnv,
          errors: { peer: message },
        });
      }
    }
  } finally {
    log('stopping');
    await stack.stop();
    activeStack = undefined;
    if (peer && !keepPeer) peer.remove();
  }
}
const ours = results.find((r) => r.name === 'ours');
const peerResult = results.find((r) => r.name === 'peer');

// ---- goals of issue 13, ours next to the peer ----
interface GoalSpec {
  measure: string;
  goal: string;
  unit: string;
  /** The figure of one connector's results; undefined when its section did not run. */
  value: (r: ConnectorResult) => number | undefined;
  /** Extra words after ours' value (e.g. the two directions). */
  detail?: (r: ConnectorResult) => string | undefined;
  met: (v: number) => boolean;
}
interface Goal {
  measure: string;
  goal: string;
  unit: string;
  value: number;
  display: string;
  /** null: not measured. */
  met: boolean | null;
  /** The same figure of the peer connector in this run, and ours / peer. */
  peer?: number;
  ratio?: number;
}
const maxOf = (...v: number[]) => (v.some((x) => !Number.isFinite(x)) ? NaN : Math.max(...v));
const leftTotal = (c: ChurnResult) =>
  c.leftBehind.connectorActiveCalls +
  c.leftBehind.connectorOpenMediaLegs +
  c.leftBehind.simulatorActiveCalls +
  c.leftBehind.rooms;
const GOALS: GoalSpec[] = [
  {
    measure: 'connector CPU per added call, passthrough (one agent speaking)',
    goal: '≤ 0.9',
    unit: 'CPU-s/call-min',
    value: (r) => r.capacity?.marginalCpuSecondsPerCallMinute,
    met: (v) => v <= 0.9,
  },
  {
    measure: 'connector CPU per added call, mixing (two speakers)',
    goal: '≤ 1.6',
    unit: 'CPU-s/call-min',
    value: (r) => r.mixing?.marginalCpuSecondsPerCallMinute,
    met: (v) => v <= 1.6,
  },
  {
    measure: 'calls per core, passthrough (60 / CPU per added call)',
    goal: '≥ 60',
    unit: 'calls',
    value: (r) => (r.capacity ? 60 / r.capacity.marginalCpuSecondsPerCallMinute : undefined),
    detail: (r) => (r.capacity ? `held ${r.capacity.callsHeld} on this machine` : undefined),
    met: (v) => v >= 60,
  },
  {
    measure: 'added one-way latency p50, passthrough, both directions',
    goal: '≤ 10 ms',
    unit: 'ms',
    value: (r) =>
      r.latency ? maxOf(r.latency.addedUserToRoom.p50, r.latency.addedRoomToUser.p50) : undefined,
    detail: (r) =>
      r.latency
        ? `user→room ${r.latency.addedUserToRoom.p50.toFixed(0)}, room→user ${r.latency.addedRoomToUser.p50.toFixed(0)}`
        : undefined,
    met: (v) => v <= 10,
  },
  {
    measure: 'added one-way latency p50, mixing',
    goal: '≤ 40 ms',
    unit: 'ms',
    value: (r) =>
      r.latencyMixing
        ? maxOf(r.latencyMixing.addedUserToRoom.p50, r.latencyMixing.addedRoomToUser.p50)
        : undefined,
    detail: (r) =>
      r.latencyMixing
        ? `user→room ${r.latencyMixing.addedUserToRoom.p50.toFixed(0)}, room→user ${r.latencyMixing.addedRoomToUser.p50.toFixed(0)}`
        : undefined,
    met: (v) => v <= 40,
  },
  {
    measure: 'Accept → user hears audio, p50',
    goal: '≤ 150 ms',
    unit: 'ms',
    value: (r) => r.setup?.inbound.acceptToUserAudio.p50,
    detail: (r) => (r.setup ? `n=${r.setup.inbound.acceptToUserAudio.count}` : undefined),
    met: (v) => v <= 150,
  },
  {
    measure: 'Connect → audio once the user answers, p50',
    goal: '≤ 100 ms',
    unit: 'ms',
    value: (r) => r.setup?.outbound.answerToUserAudio.p50,
    detail: (r) => (r.setup ? `n=${r.setup.outbound.answerToUserAudio.count}` : undefined),
    met: (v) => v <= 100,
  },
  {
    measure: 'churn: calls, legs, simulator calls, rooms left behind',
    goal: '0',
    unit: '',
    value: (r) => (r.churn ? leftTotal(r.churn) : undefined),
    detail: (r) => {
      const c = r.churn;
      if (!c) return undefined;
      const l = c.leftBehind;
      return `${l.connectorActiveCalls}/${l.connectorOpenMediaLegs}/${l.simulatorActiveCalls}/${l.rooms} after ${c.callsStarted} calls`;
    },
    met: (v) => v === 0,
  },
  {
    measure: 'soak: RSS, heap, fds, listeners, handles flat; nothing left (series not flat)',
    goal: 'flat, 0 left',
    unit: '',
    // Series that are not flat, plus one when something was left behind.
    value: (r) => {
      const soak = r.soak;
      if (!soak) return undefined;
      const l = soak.leftBehind;
      const left = (l.connectorActiveCalls || 0) + (l.simulatorActiveCalls || 0) + l.rooms;
      return Object.values(soak.verdicts).filter((x) => !x.flat).length + (left > 0 ? 1 : 0);
    },
    detail: (r) => {
      const soak = r.soak;
      if (!soak) return undefined;
      const v = soak.verdicts;
      const m = (b: number) => (b / 2 ** 20).toFixed(1);
      return (
        `${soak.minutes.toFixed(0)} min at ${soak.concurrentCalls} calls; trend RSS ${m(v.rssBytes.trendOverRun)} MiB, ` +
        `heap ${m(v.heapUsedBytes.trendOverRun)} MiB, fds ${v.fds.trendOverRun.toFixed(1)}, listeners ` +
        `${v.listeners.trendOverRun.toFixed(0)}, handles ${v.handles.trendOverRun.toFixed(1)}; left ` +
        `${soak.leftBehind.connectorActiveCalls}/${soak.leftBehind.simulatorActiveCalls}/${soak.leftBehind.rooms}`
      );
    },
    met: (v) => v === 0,
  },
];
function fmtValue(v: number, unit: string): string {
  if (!Number.isFinite(v)) return String(v);
  const n = Number.isInteger(v) || Math.abs(v) >= 10 ? v.toFixed(0) : v.toFixed(2);
  return unit && unit !== 'calls' ? `${n} ${unit}` : n;
}
const goals: Goal[] = [];
if (ours) {
  for (const spec of GOALS) {
    const v = spec.value(ours);
    if (v === undefined) continue;
    const detail = spec.detail?.(ours);
    const p = peerResult ? spec.value(peerResult) : undefined;
    goals.push({
      measure: spec.measure,
      goal: spec.goal,
      unit: spec.unit,
      value: v,
      display: `${fmtValue(v, spec.unit)}${detail ? ` (${detail})` : ''}`,
      met: Number.isFinite(v) ? spec.met(v) : null,
      ...(p === undefined ? {} : { peer: p, ratio: v / p }),
    });
  }
}

// ---- ours next to the peer ----
interface Comparison {
  measure: string;
  ours: number;
  peer: number;
  /** ours / peer (< 1: ours is cheaper/faster). */
  ratio: number;
  unit: string;
}
const comparisons: Comparison[] = [];
if (ours && peerResult) {
  const add = (measure: string, o: number | undefined, p: number | undefined, unit: string) => {
    if (o === undefined || p === undefined) return;
    comparisons.push({ measure, ours: o, peer: p, ratio: o / p, unit });
  };
  add(
    'connector CPU per call at 1 call',
    ours.capacity?.steps[0]?.connectorCpuSecondsPerCallMinute,
    peerResult.capacity?.steps[0]?.connectorCpuSecondsPerCallMinute,
    'CPU-s/call-min',
  );
  add(
    'calls held on this machine',
    ours.capacity?.callsHeld,
    peerResult.capacity?.callsHeld,
    'calls',
  );
  add(
    'added latency p50 user→room',
    ours.latency?.addedUserToRoom.p50,
    peerResult.latency?.addedUserToRoom.p50,
    'ms',
  );
  add(
    'added latency p50 room→user',
    ours.latency?.addedRoomToUser.p50,
    peerResult.latency?.addedRoomToUser.p50,
    'ms',
  );
  add(
    'one-way latency p50 user→room (bridge)',
    ours.latency?.bridge.userToRoom.p50,
    peerResult.latency?.bridge.userToRoom.p50,
    'ms',
  );
  add(
    'one-way latency p50 room→user (bridge)',
    ours.latency?.bridge.roomToUser.p50,
    peerResult.latency?.bridge.roomToUser.p50,
    'ms',
  );
}

// ---- every figure (details) ----
const figures: Figure[] = [];
const mib = (b: number) => b / 2 ** 20;
if (floor) {
  figures.push({
    section: 'floor',
    name: 'codec+SRTP floor per call (transcoding both ways)',
    value: floor.cpuSecondsPerCallMinute,
    unit: 'CPU-s/call-min',
  });
}
for (const r of results) {
  const tag = ` [${r.name}]`;
  for (const [label, cap] of [
    ['capacity', r.capacity],
    ['mixing', r.mixing],
  ] as const) {
    if (!cap) continue;
    figures.push(
      {
        section: `${label}${tag}`,
        name: `calls held (≤ 1 % frames missing, p99 − ${cap.latencyBaselineMs.toFixed(0)} ms direct p50 ≤ 150 ms)`,
        value: `${cap.callsHeld} (stopped: ${cap.stoppedBecause})`,
        unit: '',
      },
      {
        section: `${label}${tag}`,
        name: `connector CPU per call at ${cap.callsHeld} calls`,
        value: cap.cpuSecondsPerCallMinute,
        unit: 'CPU-s/call-min',
      },
      {
        section: `${label}${tag}`,
        name: 'connector CPU per added call (slope over steps)',
        value: cap.marginalCpuSecondsPerCallMinute,
        unit: 'CPU-s/call-min',
      },
      {
        section: `${label}${tag}`,
        name: 'connector CPU idle (no calls)',
        value: cap.connectorIdleCores * 100,
        unit: '% of a core',
      },
      {
        section: `${label}${tag}`,
        name: 'connector RSS idle / per call',
        value: `${mib(cap.connectorRssIdleBytes).toFixed(0)} MiB / ${mib(cap.rssPerCallBytes).toFixed(1)} MiB`,
        unit: '',
      },
      {
        section: `${label}${tag}`,
        name: `load side (simulator, room agents, rtc-node listener, driver) per call at ${cap.steps[cap.steps.length - 1]?.calls ?? 0} calls / per added call`,
        value: `${cap.loadSideCpuSecondsPerCallMinute.toFixed(2)} / ${cap.marginalLoadSideCpuSecondsPerCallMinute.toFixed(2)} CPU-s/call-min`,
        unit: '',
      },
    );
    const last = cap.steps[cap.steps.length - 1];
    if (last) {
      figures.push({
        section: `${label}${tag}`,
        name: `machine busy at ${last.calls} calls (2 cores = 100 %)`,
        value: last.machineBusyShare * 100,
        unit: '%',
      });
    }
    if (floor) {
      figures.push({
        section: `${label}${tag}`,
        name: 'connector CPU per added call / codec floor',
        value: cap.marginalCpuSecondsPerCallMinute / floor.cpuSecondsPerCallMinute,
        unit: '×',
      });
    }
    if (cap.rtcNodeCheck) {
      const c = cap.rtcNodeCheck;
      figures.push({
        section: `${label}${tag}`,
        name: 'rtc-node listener (1st call room): user bursts heard, frames missing, p50 (NetEQ incl.)',
        value: `${c.burstsMatched}/${c.burstsSent}, ${(c.framesMissingShare * 100).toFixed(1)} %, ${c.p50Ms.toFixed(0)} ms`,
        unit: '',
      });
    }
  }
  for (const [label, lat] of [
    ['latency', r.latency],
    ['latency mixing', r.latencyMixing],
  ] as const) {
    if (!lat) continue;
    for (const [dir, p, added] of [
      ['user→room', lat.bridge.userToRoom, lat.addedUserToRoom],
      ['room→user', lat.bridge.roomToUser, lat.addedRoomToUser],
    ] as const) {
      figures.push(
        {
          section: `${label}${tag}`,
          name: `${dir} p50/p95/p99 (bridge)`,
          value: `${p.p50.toFixed(0)}/${p.p95.toFixed(0)}/${p.p99.toFixed(0)} ms (n=${p.count})`,
          unit: '',
        },
        {
          section: `${label}${tag}`,
          name: `${dir} added p50/p99 (bridge − direct)`,
          value: `${added.p50.toFixed(0)}/${added.p99.toFixed(0)} ms`,
          unit: '',
        },
      );
    }
    const d = lat.direct.combined;
    figures.push({
      section: `${label}${tag}`,
      name: 'direct path agent↔agent p50/p95/p99',
      value: `${d.p50.toFixed(0)}/${d.p95.toFixed(0)}/${d.p99.toFixed(0)} ms (n=${d.count})`,
      unit: '',
    });
    if (lat.rtcNode) {
      const c = lat.rtcNode;
      figures.push({
        section: `${label}${tag}`,
        name: 'rtc-node listener: user bursts heard, frames missing, p50 (NetEQ incl.)',
        value: `${c.burstsMatched}/${c.burstsSent}, ${(c.framesMissingShare * 100).toFixed(1)} %, ${c.p50.toFixed(0)} ms`,
        unit: '',
      });
    }
  }
  const setup = r.setup;
  if (setup) {
    const a = setup.inbound.acceptToUserAudio;
    const o = setup.outbound;
    figures.push(
      {
        section: `setup${tag}`,
        name: `accept → user hears audio p50/p95 (n=${a.count}, ${setup.inbound.failures} failed)`,
        value: `${a.p50.toFixed(0)}/${a.p95.toFixed(0)} ms`,
        unit: '',
      },
      {
        section: `setup${tag}`,
        name: 'accept → room hears audio p50/p95',
        value: `${setup.inbound.acceptToRoomAudio.p50.toFixed(0)}/${setup.inbound.acceptToRoomAudio.p95.toFixed(0)} ms`,
        unit: '',
      },
      {
        section: `setup${tag}`,
        name: `dial → connect → user hears audio p50/p95 (n=${o.dialToUserAudio.count}, ${o.failures} failed)`,
        value: `${o.dialToUserAudio.p50.toFixed(0)}/${o.dialToUserAudio.p95.toFixed(0)} ms`,
        unit: '',
      },
      {
        section: `setup${tag}`,
        name: 'user answers → hears audio p50/p95',
        value: `${o.answerToUserAudio.p50.toFixed(0)}/${o.answerToUserAudio.p95.toFixed(0)} ms`,
        unit: '',
      },
    );
  }
  const ch = r.churn;
  if (ch) {
    figures.push(
      {
        section: `churn${tag}`,
        name: `rate held (target ${ch.targetCallsPerMinute}/min, ${ch.callsStarted} calls, ${ch.failures} failed)`,
        value: ch.achievedCallsPerMinute,
        unit: 'calls/min',
      },
      {
        section: `churn${tag}`,
        name: 'connector RSS before → after',
        value: `${mib(ch.before.rssBytes).toFixed(0)} → ${mib(ch.after.rssBytes).toFixed(0)} MiB`,
        unit: '',
      },
      {
        section: `churn${tag}`,
        name: 'connector heap after GC before → after',
        value: `${mib(ch.before.heapUsedBytes).toFixed(1)} → ${mib(ch.after.heapUsedBytes).toFixed(1)} MiB`,
        unit: '',
      },
      {
        section: `churn${tag}`,
        name: 'connector open fds before → after',
        value: `${ch.before.fds} → ${ch.after.fds}`,
        unit: '',
      },
    );
  }
  for (const lvl of r.impairment ?? []) {
    figures.push({
      section: `impairment${tag}`,
      name: `${lvl.packetLossPercent} % loss, ${lvl.jitterMs} ms jitter: concealed / SNR user→room / room→user`,
      value: `${(lvl.concealedShare * 100).toFixed(1)} % / ${lvl.snrUserToRoomDb.toFixed(1)} dB / ${lvl.snrRoomToUserDb.toFixed(1)} dB`,
      unit: '',
    });
  }
  const soak = r.soak;
  if (soak) {
    for (const [name, v] of Object.entries(soak.verdicts)) {
      const scale = name.endsWith('Bytes') ? 2 ** 20 : 1;
      const unit = name.endsWith('Bytes') ? ' MiB' : '';
      figures.push({
        section: `soak${tag}`,
        name: `${name}: first → last after warm-up, trend over the run (tolerance)`,
        value: `${(v.first / scale).toFixed(1)} → ${(v.last / scale).toFixed(1)}${unit}, ${(v.trendOverRun / scale).toFixed(1)}${unit} (${(v.tolerance / scale).toFixed(1)})`,
        unit: '',
        pass: v.flat,
      });
    }
    figures.push({
      section: `soak${tag}`,
      name: `calls started / completed / failed`,
      value: `${soak.callsStarted} / ${soak.callsCompleted} / ${soak.failures}`,
      unit: '',
    });
  }
  for (const [section, message] of Object.entries(r.errors)) {
    figures.push({
      section: `${section}${tag}`,
      name: 'ERROR',
      value: message,
      unit: '',
      pass: false,
    });
  }
}

const profiles: ProfileSummary[] = [];
if (parsed['cpu-prof']) {
  for (const r of results)
    profiles.push(...summariseProfileDir(join(outDir, `cpu-prof-${stamp}`, r.name)));
}

const goalsTable = renderColumns(
  [
    'measure',
    'ours',
    'goal',
    '',
    `peer${peerResult ? ` (${peerResult.commit.slice(0, 7)})` : ''}`,
    'ours / peer',
  ],
  goals.map((g) => [
    g.measure,
    g.display,
    g.goal,
    g.met === null ? '' : g.met ? 'met' : 'MISSED',
    g.peer === undefined ? '' : fmtValue(g.peer, g.unit),
    g.ratio === undefined || !Number.isFinite(g.ratio) ? '' : `${g.ratio.toFixed(2)}×`,
  ]),
);
const peerTable =
  comparisons.length > 0
    ? renderTable(
        comparisons.map((c) => ({
          section: 'ours / peer',
          name: c.measure,
          value: `${fmtNum(c.ours)} / ${fmtNum(c.peer)} ${c.unit} = ${Number.isFinite(c.ratio) ? c.ratio.toFixed(2) : 'n/a'}×`,
          unit: '',
        })),
      )
    : '';
const detailsTable = renderTable(figures);
/** What the load side costs, from our passthrough ramp (the peer's ramp is shorter). */
function loadSideLine(): string | undefined {
  const cap = ours?.capacity ?? peerResult?.capacity;
  if (!cap || cap.steps.length < 2) return undefined;
  const g = cap.marginalByGroup;
  const per = cap.marginalLoadSideCpuSecondsPerCallMinute;
  return (
    `Load side per added call: ${per.toFixed(2)} CPU-s per call-minute (simulator ${(g.simulator ?? NaN).toFixed(2)}, ` +
    `room agents ${(g.agents ?? NaN).toFixed(2)}, bench driver ${(g.benchDriver ?? NaN).toFixed(2)}; livekit-server ` +
    `${(g.livekitServer ?? NaN).toFixed(2)} besides) = ${((per * 40) / 60).toFixed(2)} cores for 40 calls`
  );
}
const loadSide = loadSideLine();
function fmtNum(v: number): string {
  if (!Number.isFinite(v) || Number.isInteger(v)) return String(v);
  return Math.abs(v) >= 10 ? v.toFixed(0) : v.toFixed(2);
}

const header = `whatsapp-connector bench — ours: ${ours?.commit.slice(0, 12) ?? '-'}${peerResult ? `; peer: ${peerResult.commit.slice(0, 12)}` : ''}`;
const text = [
  header,
  '',
  `Goals (issue 13; soak: issue 10)${peerResult ? ', next to the peer row measured in the same run' : ''}`,
  goalsTable,
  ...(loadSide ? ['', loadSide] : []),
  ...(peerTable
    ? [
        '',
        `More of ours next to the peer (${peerResult?.commit.slice(0, 12)}), same run, same livekit-server and simulator`,
        peerTable,
      ]
    : []),
  '',
  'Details',
  detailsTable,
].join('\n');
const json = {
  startedAt: new Date(t0).toISOString(),
  durationSeconds: (Date.now() - t0) / 1000,
  machine: machineInfo(),
  options: {
    sections: [...only],
    steps,
    mixingSteps,
    peerSteps,
    holdSeconds,
    setupCalls,
    peerSetupCalls,
    latencySeconds,
    churnSeconds,
    churnRate,
    peerCommit,
    soakMinutes,
    soakCallSeconds,
    agentsPerWorker: AGENTS_PER_WORKER,
  },
  goals,
  loadSide,
  comparisons,
  codecFloor: floor,
  results,
  figures,
  profiles,
};
const base = join(outDir, `bench-${stamp}`);
writeFileSync(`${base}.json`, JSON.stringify(json, null, 2));
writeFileSync(`${base}.txt`, `${text}\n`);
const charts: string[] = [];
for (const r of results) {
  for (const [label, cap] of [
    ['passthrough', r.capacity],
    ['mixing', r.mixing],
  ] as const) {
    if (!cap || cap.steps.length === 0) continue;
    const file = `${base}-${r.name}-${label}.svg`;
    writeFileSync(
      file,
      renderChart(
        cap.steps,
        `${r.name} (${r.commit.slice(0, 12)}), ${label}`,
        cap.latencyBaselineMs,
      ),
    );
    charts.push(file);
  }
}
console.log(`\n${text}`);
for (const p of profiles) console.log(`\n${renderProfile(p)}`);
console.log(
  `\nwrote ${base}.json, .txt${charts.length ? `, ${charts.length} .svg` : ''} in ${((Date.now() - t0) / 60_000).toFixed(1)} min`,
);
process.exit(0);
