/**
 * What SIGTERM and SIGINT do to a running connector: a drain, so that a deploy drops no call.
 *
 * 1. At once: `/readyz` answers 503 (`/healthz` stays 200), new calls are refused (`unavailable`,
 *    or placed on a peer that is not draining), webhooks for other calls answer 503 so that Meta
 *    retries them elsewhere.
 * 2. Live calls go on until they end, for up to `drainMs` (`SHUTDOWN_DRAIN_SECONDS`).
 * 3. Then the leftovers are ended at Meta (end reason `shutdown`) and everything is closed.
 * 4. Exit 0.
 *
 * A second signal cuts step 2 short. Every step has its own deadline, and the whole sequence an
 * overall one, so a shutdown never hangs: past it the process exits anyway (code 1).
 */
import type { Logger } from '../log/index.js';

/** What a drain needs of the service (`ConnectorServer`). */
export interface DrainableService {
  /** Step 1; resolves once peers were told (bounded by {@link DRAIN_START_TIMEOUT_MS}). */
  drain(): Promise<void>;
  /** Calls still live here. */
  liveCalls(): number;
  /** Step 3: end what is left and close. */
  close(): Promise<void>;
}

/** Longest step 1 may take, ms (telling the cluster may hang on Redis). */
export const DRAIN_START_TIMEOUT_MS = 5000;
/** Longest step 3 may take, ms: calls ended at Meta (5 s of retries) and everything closed. */
export const CLOSE_TIMEOUT_MS = 20_000;
/** How often step 2 looks at the live calls, ms. */
const POLL_MS = 250;

export interface GracefulShutdownOptions {
  /** Required - the service to drain. */
  service: DrainableService;
  /** Required - how long live calls may go on, ms (`SHUTDOWN_DRAIN_SECONDS` × 1000). */
  drainMs: number;
  logger: Logger;
  /** Optional - ends the process. Default `process.exit`. */
  exit?: (code: number) => void;
  /** Optional - longest step 3 may take, ms. Default {@link CLOSE_TIMEOUT_MS}. */
  closeTimeoutMs?: number;
  /** Optional - longest step 1 may take, ms. Default {@link DRAIN_START_TIMEOUT_MS}. */
  drainStartTimeoutMs?: number;
}

export class GracefulShutdown {
  readonly #options: GracefulShutdownOptions;
  readonly #log: Logger;
  readonly #cut = new AbortController();
  #running: Promise<number> | undefined;
  #signals = 0;

  constructor(options: GracefulShutdownOptions) {
    this.#options = options;
    this.#log = options.logger.child({ component: 'shutdown' });
  }

  /** Handle SIGTERM and SIGINT on `proc` from now on. */
  install(proc: NodeJS.Process = process): void {
    const onSignal = (signal: NodeJS.Signals) => this.signal(signal);
    proc.on('SIGTERM', onSignal);
    proc.on('SIGINT', onSignal);
  }

  /** A signal arrived: the first starts the drain, the second cuts it short. */
  signal(signal: string): void {
    this.#signals++;
    if (this.#signals === 1) {
      this.#log.info(
        { signal, drainSeconds: this.#options.drainMs / 1000 },
        'shutting down: draining (send the signal again to end the remaining calls now)',
      );
      void this.run().then((code) => (this.#options.exit ?? process.exit)(code));
      return;
    }
    this.#log.warn({ signal }, 'second signal: drain cut short, ending the remaining calls');
    this.#cut.abort();
  }

  /** The whole sequence; resolves with the exit code. Idempotent. */
  run(): Promise<number> {
    this.#running ??= this.#sequence();
    return this.#running;
  }

  async #sequence(): Promise<number> {
    const { service, drainMs } = this.#options;
    const started = Date.now();
    const drainStartMs = this.#options.drainStartTimeoutMs ?? DRAIN_START_TIMEOUT_MS;
    if (!(await step(service.drain(), drainStartMs, this.#log))) {
      this.#log.warn('telling the cluster about the drain timed out; going on');
    }
    const left = await this.#waitForCalls(drainMs - (Date.now() - started));
    if (left > 0) {
      this.#log.warn({ calls: left }, 'drain over: ending the remaining calls at Meta');
    } else {
      this.#log.info('no calls left');
    }
    const closeTimeoutMs = this.#options.closeTimeoutMs ?? CLOSE_TIMEOUT_MS;
    if (!(await step(service.close(), closeTimeoutMs, this.#log))) {
      this.#log.error({ closeTimeoutMs }, 'closing did not finish in time; exiting anyway');
      return 1;
    }
    this.#log.info({ seconds: Math.round((Date.now() - started) / 100) / 10 }, 'shut down');
    return 0;
  }

  /** Wait until no call is live, `ms` pass, or a second signal; resolves with the calls left. */
  async #waitForCalls(ms: number): Promise<number> {
    const deadline = Date.now() + Math.max(0, ms);
    let lastLogged = 0;
    for (;;) {
      const live = this.#options.service.liveCalls();
      if (live === 0 || this.#cut.signal.aborted || Date.now() >= deadline) return live;
      if (Date.now() - lastLogged >= 30_000) {
        this.#log.info(
          { calls: live, secondsLeft: Math.round((deadline - Date.now()) / 1000) },
          'draining: waiting for live calls to end',
        );
        lastLogged = Date.now();
      }
      await sleep(Math.min(POLL_MS, deadline - Date.now()), this.#cut.signal);
    }
  }
}

/** True when `work` settled within `ms` (a rejection is logged and counts as settled). */
async function step(work: Promise<unknown>, ms: number, log: Logger): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    const settled = work.then(
      () => true,
      (err: unknown) => {
        log.error({ err }, 'shutdown step failed');
        return true;
      },
    );
    return await Promise.race([settled, expired]);
  } finally {
    clearTimeout(timer);
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, Math.max(0, ms));
    signal.addEventListener('abort', done, { once: true });
  });
}
