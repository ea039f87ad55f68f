/**
 * Admission control: refuse new calls while this instance is too busy to set up another one
 * without hurting the calls it has. Two signals, each averaged over a short window so one GC
 * pause or one burst of work does not flap the door:
 *
 * - event-loop lag: how late the main thread runs its timers (perf_hooks
 *   `monitorEventLoopDelay`). The media legs to Meta pace 20 ms audio frames on this loop, so a
 *   loop that is late on average is a loop whose calls already sound bad;
 * - CPU: how busy the main thread is, as a share of one core (perf_hooks event-loop utilization:
 *   the time the loop spent running rather than waiting). The connector's media path (legs to
 *   Meta and to the room, Opus, SRTP) runs on that one thread, so one core is its ceiling
 *   whatever the machine has; other threads (libuv's pool, native modules of a test's own room
 *   listeners) are not counted.
 *
 * The call limit (`MAX_CONCURRENT_CALLS`) stays the call manager's; this adds the measured load.
 * Refusals surface as `OverloadedError` (Twirp `resource_exhausted`; a webhook's call goes to a peer
 * or is rejected at Meta).
 */
import {
  monitorEventLoopDelay,
  performance,
  type EventLoopUtilization,
  type IntervalHistogram,
} from 'node:perf_hooks';
import { OverloadedError, type OverloadReason } from '../calls/call-errors.js';
import type { AdmissionPort } from '../calls/call-ports.js';
import type { AdmissionSettings } from '../config/admission-settings.js';
import { toTwirpError } from '../connector/connector-errors.js';
import type { TwilioCallBackend } from '../connector/twilio-call-backend.js';
import type { Logger } from '../log/index.js';
import type { ConnectorMetrics } from '../metrics/index.js';

/** Period of one load sample, ms. */
export const ADMISSION_SAMPLE_INTERVAL_MS = 1000;
/** Samples averaged: the window is 5 s. */
export const ADMISSION_WINDOW_SAMPLES = 5;
/**
 * A closed door opens again only once the load is below this share of its limit, so a load
 * hovering at the limit does not open and close it every second.
 */
export const ADMISSION_REOPEN_RATIO = 0.8;

/** One sample of the load, taken every {@link ADMISSION_SAMPLE_INTERVAL_MS}. */
export interface LoadSample {
  /** Mean event-loop lag since the previous sample, ms. */
  eventLoopLagMs: number;
  /** Busy share of the main thread since the previous sample (event-loop utilization, 0..1). */
  cpu: number;
}

/** Where samples come from; tests pass fakes. */
export interface LoadSource {
  /** The load since the previous call (the first call: since the source started). */
  sample(): LoadSample;
  /** Release what the source holds (timers, histograms). */
  close(): void;
}

/** Resolution of the event-loop delay histogram, ms; its own period is subtracted from samples. */
const EVENT_LOOP_RESOLUTION_MS = 10;

/** The main thread's own load: `monitorEventLoopDelay` and `eventLoopUtilization`. */
export class ProcessLoadSource implements LoadSource {
  private readonly histogram: IntervalHistogram;
  private lastUtilization: EventLoopUtilization = performance.eventLoopUtilization();

  constructor() {
    this.histogram = monitorEventLoopDelay({ resolution: EVENT_LOOP_RESOLUTION_MS });
    this.histogram.enable();
  }

  sample(): LoadSample {
    const utilization = performance.eventLoopUtilization(this.lastUtilization);
    this.lastUtilization = performance.eventLoopUtilization();
    // The histogram measures timer periods: an idle loop reports its own resolution.
    const meanMs =
      this.histogram.count > 0 ? this.histogram.mean / 1e6 - EVENT_LOOP_RESOLUTION_MS : 0;
    this.histogram.reset();
    return {
      eventLoopLagMs: Math.max(0, meanMs),
      cpu: Number.isFinite(utilization.utilization) ? utilization.utilization : 0,
    };
  }

  close(): void {
    this.histogram.disable();
  }
}

export interface AdmissionControlOptions {
  settings: AdmissionSettings;
  logger: Logger;
  /** Optional - metrics to report the load, the door and refusals to. */
  metrics?: ConnectorMetrics;
  /** Optional - where samples come from. Default a {@link ProcessLoadSource}. */
  source?: LoadSource;
}

/**
 * Watches the load and answers whether a new call may start. `start()` samples every second;
 * tests call {@link sampleNow} with a fake source instead. Disabled, it still measures (for
 * `/metrics`) but never refuses.
 */
export class AdmissionControl implements AdmissionPort {
  readonly settings: AdmissionSettings;
  private readonly logger: Logger;
  private readonly metrics: ConnectorMetrics | undefined;
  private readonly source: LoadSource;
  private readonly samples: LoadSample[] = [];
  private timer: NodeJS.Timeout | undefined;
  private refusal: OverloadedError | undefined;

  constructor(options: AdmissionControlOptions) {
    this.settings = options.settings;
    this.logger = options.logger.child({ component: 'admission-control' });
    this.metrics = options.metrics;
    this.source = options.source ?? new ProcessLoadSource();
    this.metrics?.setLoadSource(() => {
      const load = this.load();
      return { eventLoopLagSeconds: load.eventLoopLagMs / 1000, cpuRatio: load.cpu };
    });
  }

  /** Sample every {@link ADMISSION_SAMPLE_INTERVAL_MS}; the timer does not keep the process up. */
  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.sampleNow(), ADMISSION_SAMPLE_INTERVAL_MS);
    this.timer.unref();
  }

  /** Take one sample and open or close the door. */
  sampleNow(): void {
    this.samples.push(this.source.sample());
    if (this.samples.length > ADMISSION_WINDOW_SAMPLES) this.samples.shift();
    this.decide();
  }

  /** The load averaged over the window (zeros before the first sample). */
  load(): LoadSample {
    const n = this.samples.length;
    if (n === 0) return { eventLoopLagMs: 0, cpu: 0 };
    let lag = 0;
    let cpu = 0;
    for (const s of this.samples) {
      lag += s.eventLoopLagMs;
      cpu += s.cpu;
    }
    return { eventLoopLagMs: lag / n, cpu: cpu / n };
  }

  /** Whether new calls are let in now. */
  get open(): boolean {
    return this.refusal === undefined;
  }

  overload(): OverloadedError | undefined {
    return this.refusal;
  }

  refused(reason: 'calls' | 'draining' | OverloadReason): void {
    this.metrics?.countAdmissionRefused(reason);
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.source.close();
  }

  private decide(): void {
    const { enabled, maxEventLoopLagMs, maxCpu } = this.settings;
    const load = this.load();
    if (!enabled) {
      // Turned off while closed: open the door.
      if (this.refusal) {
        this.refusal = undefined;
        this.metrics?.setAdmissionOpen(true);
      }
      return;
    }
    // Closed: stay closed until both signals are clearly below their limits.
    const factor = this.refusal ? ADMISSION_REOPEN_RATIO : 1;
    let next: OverloadedError | undefined;
    if (load.eventLoopLagMs > maxEventLoopLagMs * factor) {
      next = new OverloadedError('event_loop_lag', load.eventLoopLagMs, maxEventLoopLagMs);
    } else if (load.cpu > maxCpu * factor) {
      next = new OverloadedError('cpu', load.cpu, maxCpu);
    }
    const wasOpen = this.refusal === undefined;
    this.refusal = next;
    if (wasOpen && next) {
      this.logger.warn(
        { reason: next.reason, eventLoopLagMs: round(load.eventLoopLagMs), cpu: round(load.cpu) },
        'admission control: refusing new calls',
      );
      this.metrics?.setAdmissionOpen(false);
    } else if (!wasOpen && !next) {
      this.logger.info(
        { eventLoopLagMs: round(load.eventLoopLagMs), cpu: round(load.cpu) },
        'admission control: taking new calls again',
      );
      this.metrics?.setAdmissionOpen(true);
    }
  }
}

/**
 * `ConnectTwilioCall` behind admission control: refused with `resource_exhausted` (and the reason)
 * while the instance is busy, before anything joins a room. In a cluster the regional placement
 * then tries the next instance.
 */
export function admittedTwilioCalls(
  inner: TwilioCallBackend,
  admission: AdmissionPort,
): TwilioCallBackend {
  return {
    connectTwilioCall(req, ctx) {
      const overload = admission.overload();
      if (overload) {
        admission.refused(overload.reason);
        return Promise.reject(toTwirpError(overload));
      }
      return inner.connectTwilioCall(req, ctx);
    },
  };
}

function round(n: number): number {
  return Math.round(n * 100) / 100;
}
