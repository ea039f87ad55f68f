/**
 * `make bench`: drives real calls (simulator users as Meta, livekit-server, the connector,
 * rtc-node room participants — each in its own process) and reports capacity, codec floor,
 * latency against a direct-path baseline, call setup, churn/leaks and quality under
 * impairment; prints a table against the goals, writes JSON and an SVG chart under
 * bench/results/. See bench/README.md.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { BenchStack } from './lib/bench-stack.js';
import { measureCodecFloor, type CodecFloor } from './lib/codec-floor.js';
import { renderProfile, summariseProfileDir, type ProfileSummary } from './lib/profile-summary.js';
import { machineInfo, renderChart, renderTable, type Figure } from './lib/report.js';
import { runCapacity, type CapacityResult } from './sections/capacity.js';
import { runChurn, type ChurnResult } from './sections/churn.js';
import { runImpairment, type ImpairmentLevel } from './sections/impairment.js';
import { runLatency, type LatencyResult } from './sections/latency.js';
import { runSetup, type SetupResult } from './sections/setup.js';

const SECTIONS = ['floor', 'latency', 'capacity', 'setup', 'churn', 'impairment'] as const;
type Section = (typeof SECTIONS)[number];
const ROOM_WORKER_SETTING = 'ROOM_WORKER_CALLS_PER_PROCESS';

const USAGE = `usage: npx tsx bench/run.ts [options]   (make bench BENCH_ARGS="...")
  --only <list>            sections, comma-separated: ${SECTIONS.join(',')}
  --long                   soak: churn for 10 minutes, 100 setup calls, longer holds
  --max-calls <n>          capacity cap (default 24)
  --steps <list>           capacity steps (default 1,2,4,6,8,10,12,16,20,24,28,32 up to the cap)
  --hold <s>               capacity measurement window per step (default 12)
  --setup-calls <n>        calls per direction for setup times (default 50)
  --latency-seconds <s>    latency window (default 25)
  --churn-seconds <s>      churn duration (default 90; --long 600)
  --churn-rate <n>         churn calls per minute (default 20)
  --connector-env K=V      extra connector environment (repeatable)
  --compare-env K=V        also run capacity and latency with this connector environment
                           (default, when the connector supports it: ${ROOM_WORKER_SETTING}=<n>)
  --no-compare             measure one connector configuration only
  --cpu-prof               write a V8 CPU profile of the connector under bench/results/
  --out <dir>              results directory (default bench/results)
  -h, --help`;

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

function envPairs(list: string[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of list ?? []) {
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
      hold: { type: 'string' },
      'setup-calls': { type: 'string' },
      'latency-seconds': { type: 'string' },
      'churn-seconds': { type: 'string' },
      'churn-rate': { type: 'string' },
      'connector-env': { type: 'string', multiple: true },
      'compare-env': { type: 'string', multiple: true },
      'no-compare': { type: 'boolean', default: false },
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
    ? SECTIONS
    : parsed.only.split(',').map((s) => {
        const name = s.trim();
        if (!(SECTIONS as readonly string[]).includes(name))
          fail(`unknown section ${JSON.stringify(name)}`);
        return name as Section;
      }),
);
const long = parsed.long;
const maxCalls = positive('max-calls', parsed['max-calls'], 24);
const steps = parsed.steps
  ? parsed.steps.split(',').map((s) => positive('steps', s, 1))
  : [1, 2, 4, 6, 8, 10, 12, 16, 20, 24, 28, 32].filter((n) => n <= maxCalls);
const holdSeconds = positive('hold', parsed.hold, long ? 30 : 12);
const setupCalls = positive('setup-calls', parsed['setup-calls'], long ? 100 : 50);
const latencySeconds = positive('latency-seconds', parsed['latency-seconds'], long ? 60 : 25);
const churnSeconds = positive('churn-seconds', parsed['churn-seconds'], long ? 600 : 90);
const churnRate = positive('churn-rate', parsed['churn-rate'], 20);
const connectorEnv = envPairs(parsed['connector-env']);
const outDir = parsed.out ?? join('bench', 'results');

/**
 * Does the connector run room legs in worker processes (builds with `roomWorkerCallsPerProcess`)?
 * Since the native media path the setting is accepted but ignored: no second mode to compare.
 */
function roomWorkerSettingSupported(): boolean {
  try {
    return readFileSync('src/config/config.ts', 'utf8').includes('roomWorkerCallsPerProcess');
  } catch {
    return false;
  }
}
const workerSupported = roomWorkerSettingSupported();
const compareEnv: Record<string, string> | undefined = parsed['no-compare']
  ? undefined
  : parsed['compare-env']
    ? envPairs(parsed['compare-env'])
    : workerSupported && connectorEnv[ROOM_WORKER_SETTING] === undefined
      ? { [ROOM_WORKER_SETTING]: '0' }
      : undefined;

function modeName(env: Record<string, string>, effective: number | null): string {
  const how = env[ROOM_WORKER_SETTING] === undefined ? 'default' : 'set';
  if (effective === null)
    return 'room legs in the connector process (native TypeScript participant, no room workers)';
  if (effective === 0)
    return `room legs in the connector process (${ROOM_WORKER_SETTING}=0, ${how})`;
  return `room legs in worker processes, ${effective} calls each (${ROOM_WORKER_SETTING}=${effective}, ${how})`;
}

const stamp = new Date().toISOString().replace(/[:.]/g, '-');
mkdirSync(outDir, { recursive: true });
const log = (s: string) => console.error(`[${new Date().toISOString().slice(11, 19)}] ${s}`);
const t0 = Date.now();

interface ModeResult {
  mode: string;
  connectorEnv: Record<string, string>;
  latency?: LatencyResult;
  capacity?: CapacityResult;
  setup?: SetupResult;
  churn?: ChurnResult;
  impairment?: ImpairmentLevel[];
  errors: Record<string, string>;
}

/** The stack running now, stopped on Ctrl+C so no livekit-server or worker outlives the bench. */
let activeStack: BenchStack | undefined;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    log(`${signal}: stopping`);
    void (activeStack?.stop() ?? Promise.resolve()).finally(() => process.exit(130));
  });
}

async function runMode(env: Record<string, string>, sections: Set<Section>): Promise<ModeResult> {
  log(`starting livekit-server, simulator and connector`);
  const stack = await BenchStack.start({
    connectorEnv: env,
    ...(parsed['cpu-prof'] ? { cpuProfileDir: join(outDir, `cpu-prof-${stamp}`) } : {}),
  });
  activeStack = stack;
  const result: ModeResult = {
    mode: modeName(env, stack.roomWorkerCallsPerProcess),
    connectorEnv: env,
    errors: {},
  };
  log(`connector mode: ${result.mode}`);
  const guard = async <T>(name: Section, fn: () => Promise<T>): Promise<T | undefined> => {
    if (!sections.has(name)) return undefined;
    try {
      return await fn();
    } catch (err) {
      result.errors[name] = err instanceof Error ? err.message : String(err);
      log(`${name} failed: ${result.errors[name]}`);
      await stack.stopIdleWorkers().catch(() => undefined);
      return undefined;
    }
  };
  try {
    result.latency = await guard('latency', () => runLatency(stack, latencySeconds, log));
    result.capacity = await guard('capacity', () =>
      runCapacity(
        stack,
        {
          steps,
          holdSeconds,
          settleSeconds: 3,
          // The room participant's own rtc-node playout delay is part of the direct baseline.
          latencyBaselineMs: result.latency?.direct.combined.p50 ?? 0,
        },
        log,
      ),
    );
    result.setup = await guard('setup', () => runSetup(stack, setupCalls, log));
    result.impairment = await guard('impairment', () =>
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
    result.churn = await guard('churn', () =>
      runChurn(
        stack,
        { durationSeconds: churnSeconds, callsPerMinute: churnRate, holdSeconds: 6 },
        log,
      ),
    );
  } finally {
    log('stopping');
    await stack.stop();
    activeStack = undefined;
  }
  return result;
}

let floor: CodecFloor | undefined;
if (only.has('floor')) {
  log('codec floor: Opus + SRTP, 2 call-minutes');
  measureCodecFloor(0.2); // JIT warm-up
  floor = measureCodecFloor(2);
}
const modes: ModeResult[] = [];
const stackSections = new Set([...only].filter((s) => s !== 'floor'));
if (stackSections.size > 0) {
  modes.push(await runMode(connectorEnv, stackSections));
  if (compareEnv) {
    const cmp = new Set([...stackSections].filter((s) => s === 'capacity' || s === 'latency'));
    if (cmp.size > 0) {
      const env = { ...connectorEnv, ...compareEnv };
      try {
        modes.push(await runMode(env, cmp));
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        log(`comparison run failed: ${message}`);
        modes.push({
          mode: `comparison ${JSON.stringify(env)}`,
          connectorEnv: env,
          errors: { capacity: message },
        });
      }
    }
  }
}

// ---- figures against goals ----
const figures: Figure[] = [];
const primary = modes[0];
const pct = (v: number) => v * 100;
if (floor) {
  figures.push({
    section: 'floor',
    name: 'codec+SRTP floor per call',
    value: floor.cpuSecondsPerCallMinute,
    unit: 'CPU-s/call-min',
  });
}
for (const m of modes) {
  const tag = modes.length > 1 ? ` [${m === primary ? 'A' : 'B'}]` : '';
  const cap = m.capacity;
  if (cap) {
    const mib = (b: number) => b / 2 ** 20;
    figures.push(
      {
        section: `capacity${tag}`,
        name: `calls held (≤ 1 % frames missing, p99 − ${cap.latencyBaselineMs.toFixed(0)} ms direct p50 ≤ 150 ms)`,
        value: `${cap.callsHeld} (stopped: ${cap.stoppedBecause})`,
        unit: '',
      },
      {
        section: `capacity${tag}`,
        name: `connector CPU per call at ${cap.callsHeld} calls`,
        value: cap.cpuSecondsPerCallMinute,
        unit: 'CPU-s/call-min',
        goal: '≤ 1.2',
        pass: cap.cpuSecondsPerCallMinute <= 1.2,
      },
      {
        section: `capacity${tag}`,
        name: 'connector CPU per added call (slope over steps)',
        value: cap.marginalCpuSecondsPerCallMinute,
        unit: 'CPU-s/call-min',
        goal: '≤ 1.2',
        pass: cap.marginalCpuSecondsPerCallMinute <= 1.2,
      },
      {
        section: `capacity${tag}`,
        name: 'connector calls per core (from the slope)',
        value: 60 / cap.marginalCpuSecondsPerCallMinute,
        unit: 'calls',
        goal: '≈ 50',
        pass: 60 / cap.marginalCpuSecondsPerCallMinute >= 50,
      },
      {
        section: `capacity${tag}`,
        name: 'connector CPU idle (no calls)',
        value: cap.connectorIdleCores * 100,
        unit: '% of a core',
      },
      {
        section: `capacity${tag}`,
        name: 'connector RSS idle / per call',
        value: `${mib(cap.connectorRssIdleBytes).toFixed(0)} MiB / ${mib(cap.rssPerCallBytes).toFixed(1)} MiB`,
        unit: '',
      },
    );
    if (floor) {
      const ratio = cap.cpuSecondsPerCallMinute / floor.cpuSecondsPerCallMinute;
      const slopeRatio = cap.marginalCpuSecondsPerCallMinute / floor.cpuSecondsPerCallMinute;
      figures.push(
        {
          section: `capacity${tag}`,
          name: `connector cost / codec floor at ${cap.callsHeld} calls`,
          value: ratio,
          unit: '×',
          goal: '≤ 3',
          pass: ratio <= 3,
        },
        {
          section: `capacity${tag}`,
          name: 'connector cost per added call / codec floor',
          value: slopeRatio,
          unit: '×',
          goal: '≤ 3',
          pass: slopeRatio <= 3,
        },
      );
    }
  }
  const lat = m.latency;
  if (lat) {
    for (const [dir, p, added, ratio] of [
      ['user→room', lat.bridge.userToRoom, lat.addedUserToRoom, lat.ratioUserToRoomP50],
      ['room→user', lat.bridge.roomToUser, lat.addedRoomToUser, lat.ratioRoomToUserP50],
    ] as const) {
      figures.push(
        {
          section: `latency${tag}`,
          name: `${dir} p50/p95/p99 (bridge)`,
          value: `${p.p50.toFixed(0)}/${p.p95.toFixed(0)}/${p.p99.toFixed(0)} ms (n=${p.count})`,
          unit: '',
        },
        {
          section: `latency${tag}`,
          name: `${dir} added p50 (bridge − direct)`,
          value: added.p50,
          unit: 'ms',
          goal: '≤ 40',
          pass: added.p50 <= 40,
        },
        {
          section: `latency${tag}`,
          name: `${dir} added p99 (bridge − direct)`,
          value: added.p99,
          unit: 'ms',
          goal: '≤ 80',
          pass: added.p99 <= 80,
        },
        {
          section: `latency${tag}`,
          name: `${dir} ratio p50 bridge/direct`,
          value: ratio,
          unit: '×',
        },
      );
    }
    const d = lat.direct.combined;
    figures.push({
      section: `latency${tag}`,
      name: 'direct path p50/p95/p99 (both directions)',
      value: `${d.p50.toFixed(0)}/${d.p95.toFixed(0)}/${d.p99.toFixed(0)} ms (n=${d.count})`,
      unit: '',
    });
  }
  const setup = m.setup;
  if (setup) {
    const a = setup.inbound.acceptToUserAudio;
    const o = setup.outbound;
    figures.push(
      {
        section: `setup${tag}`,
        name: `accept → user hears audio p50 (n=${a.count}, ${setup.inbound.failures} failed)`,
        value: a.p50,
        unit: 'ms',
        goal: '≤ 300',
        pass: a.p50 <= 300,
      },
      { section: `setup${tag}`, name: 'accept → user hears audio p95', value: a.p95, unit: 'ms' },
      {
        section: `setup${tag}`,
        name: 'accept → room hears audio p50/p95',
        value: `${setup.inbound.acceptToRoomAudio.p50.toFixed(0)}/${setup.inbound.acceptToRoomAudio.p95.toFixed(0)} ms`,
        unit: '',
      },
      {
        section: `setup${tag}`,
        name: `dial → connect → user hears audio p50 (n=${o.dialToUserAudio.count}, ${o.failures} failed)`,
        value: o.dialToUserAudio.p50,
        unit: 'ms',
        goal: '≤ 300',
        pass: o.dialToUserAudio.p50 <= 300,
      },
      {
        section: `setup${tag}`,
        name: 'dial → connect → user hears audio p95',
        value: o.dialToUserAudio.p95,
        unit: 'ms',
      },
      {
        section: `setup${tag}`,
        name: 'user answers → hears audio p50/p95',
        value: `${o.answerToUserAudio.p50.toFixed(0)}/${o.answerToUserAudio.p95.toFixed(0)} ms`,
        unit: '',
      },
    );
  }
  const ch = m.churn;
  if (ch) {
    const left = ch.leftBehind;
    const leftTotal =
      left.connectorActiveCalls +
      left.connectorOpenMediaLegs +
      left.simulatorActiveCalls +
      left.rooms;
    figures.push(
      {
        section: `churn${tag}`,
        name: `rate held (target ${ch.targetCallsPerMinute}/min, ${ch.callsStarted} calls, ${ch.failures} failed)`,
        value: ch.achievedCallsPerMinute,
        unit: 'calls/min',
      },
      {
        section: `churn${tag}`,
        name: 'left behind: calls/legs/sim calls/rooms',
        value: `${left.connectorActiveCalls}/${left.connectorOpenMediaLegs}/${left.simulatorActiveCalls}/${left.rooms}`,
        unit: '',
        goal: '0/0/0/0',
        pass: leftTotal === 0,
      },
      {
        section: `churn${tag}`,
        name: 'connector RSS before → after',
        value: `${(ch.before.rssBytes / 2 ** 20).toFixed(0)} → ${(ch.after.rssBytes / 2 ** 20).toFixed(0)} MiB`,
        unit: '',
      },
      {
        section: `churn${tag}`,
        name: 'connector heap after GC before → after',
        value: `${(ch.before.heapUsedBytes / 2 ** 20).toFixed(1)} → ${(ch.after.heapUsedBytes / 2 ** 20).toFixed(1)} MiB`,
        unit: '',
        goal: 'flat (< +10 %)',
        pass: ch.after.heapUsedBytes <= ch.before.heapUsedBytes * 1.1,
      },
      {
        section: `churn${tag}`,
        name: 'connector open fds before → after',
        value: `${ch.before.fds} → ${ch.after.fds}`,
        unit: '',
        goal: 'flat',
        pass: ch.after.fds <= ch.before.fds + 2,
      },
    );
  }
  for (const lvl of m.impairment ?? []) {
    figures.push({
      section: `impairment${tag}`,
      name: `${lvl.packetLossPercent} % loss, ${lvl.jitterMs} ms jitter: concealed / SNR user→room / room→user`,
      value: `${pct(lvl.concealedShare).toFixed(1)} % / ${lvl.snrUserToRoomDb.toFixed(1)} dB / ${lvl.snrRoomToUserDb.toFixed(1)} dB`,
      unit: '',
    });
  }
  for (const [section, message] of Object.entries(m.errors)) {
    figures.push({
      section: `${section}${tag}`,
      name: 'ERROR',
      value: message,
      unit: '',
      pass: false,
    });
  }
}

let profiles: ProfileSummary[] = [];
if (parsed['cpu-prof']) profiles = summariseProfileDir(join(outDir, `cpu-prof-${stamp}`));

const table = renderTable(figures);
const json = {
  startedAt: new Date(t0).toISOString(),
  durationSeconds: (Date.now() - t0) / 1000,
  machine: machineInfo(),
  options: {
    sections: [...only],
    long,
    steps,
    holdSeconds,
    setupCalls,
    latencySeconds,
    churnSeconds,
    churnRate,
  },
  codecFloor: floor,
  modes,
  figures,
  profiles,
};
const base = join(outDir, `bench-${stamp}`);
writeFileSync(`${base}.json`, JSON.stringify(json, null, 2));
writeFileSync(`${base}.txt`, `${table}\n`);
const charted = modes.filter((m) => m.capacity && m.capacity.steps.length > 0);
for (const [i, m] of charted.entries()) {
  const svg = renderChart(m.capacity!.steps, m.mode, m.capacity!.latencyBaselineMs);
  writeFileSync(`${base}${charted.length > 1 ? `-${String.fromCharCode(65 + i)}` : ''}.svg`, svg);
}
console.log(
  `\nwhatsapp-connector bench — ${modes.map((m, i) => `${modes.length > 1 ? `[${String.fromCharCode(65 + i)}] ` : ''}${m.mode}`).join('; ')}`,
);
console.log(table);
for (const p of profiles) console.log(`\n${renderProfile(p)}`);
console.log(
  `\nwrote ${base}.json, .txt${charted.length ? ', .svg' : ''} in ${((Date.now() - t0) / 60_000).toFixed(1)} min`,
);
process.exit(0);
