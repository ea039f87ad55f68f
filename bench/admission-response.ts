/**
 * How fast admission control closes and reopens the door on this machine, with the real load
 * source (event-loop delay and utilization of this process's main thread).
 *
 *   node --import tsx bench/admission-response.ts [--busy 0.95] [--seconds 10]
 *
 * 3 s idle, then `--seconds` with the main thread busy `--busy` of the time (19 ms slices of work
 * between timer turns), then idle again. Prints when the door closed and reopened, relative to
 * the start and the end of the load, with the windowed load at each change.
 */
import { silentLogger } from '../src/log/index.js';
import {
  DEFAULT_ADMISSION_MAX_CPU,
  DEFAULT_ADMISSION_MAX_EVENT_LOOP_LAG_MS,
} from '../src/config/index.js';
import { AdmissionControl } from '../src/server/admission-control.js';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
}

const busyShare = arg('busy', 0.95);
const seconds = arg('seconds', 10);
const control = new AdmissionControl({
  settings: {
    enabled: true,
    maxEventLoopLagMs: DEFAULT_ADMISSION_MAX_EVENT_LOOP_LAG_MS,
    maxCpu: DEFAULT_ADMISSION_MAX_CPU,
  },
  logger: silentLogger,
});
control.start();
const t0 = Date.now();
const loadStart = t0 + 3000;
const loadEnd = loadStart + seconds * 1000;
const changes: Record<string, unknown>[] = [];
let open = true;
const watch = setInterval(() => {
  if (control.open === open) return;
  open = control.open;
  const now = Date.now();
  const load = control.load();
  changes.push({
    door: open ? 'open' : 'closed',
    reason: control.overload()?.reason,
    afterLoadStartS: (now - loadStart) / 1000,
    afterLoadEndS: now >= loadEnd ? (now - loadEnd) / 1000 : undefined,
    eventLoopLagMs: Math.round(load.eventLoopLagMs * 10) / 10,
    cpu: Math.round(load.cpu * 100) / 100,
  });
}, 50);
const workMs = 19;
const gapMs = Math.max(1, Math.round((workMs * (1 - busyShare)) / busyShare));
function slice(): void {
  const now = Date.now();
  if (now >= loadEnd) return;
  if (now >= loadStart) {
    const end = now + workMs;
    while (Date.now() < end);
  }
  setTimeout(slice, now >= loadStart ? gapMs : 10);
}
slice();
setTimeout(
  () => {
    clearInterval(watch);
    control.close();
    console.log(JSON.stringify({ busyShare, seconds, changes }));
  },
  loadEnd - t0 + 8000,
);
