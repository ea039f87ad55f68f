import { ConnectorError } from '../errors/connector-error.js';
import type { Logger } from '../log/logger.js';
import type { RemoteRoomLeg } from './remote-room-leg.js';
import type { RoomLegOptions } from './room-leg.js';
import type { RoomLegFactory } from './room-leg-factory.js';
import { RoomWorker } from './room-worker.js';

/** Default calls per worker process (see `calls.room_worker_calls_per_process`). */
export const DEFAULT_ROOM_WORKER_CALLS_PER_PROCESS = 6;

export interface RoomLegPoolOptions {
  /** Optional - most calls (room legs, joins in flight included) per worker process. Default 6. */
  callsPerProcess?: number | undefined;
  /**
   * Optional - a worker without legs for this long exits, in ms. Default 30000. Keeping one warm
   * for a while saves the next call the worker's start-up (hundreds of ms).
   */
  idleTimeoutMs?: number | undefined;
  /**
   * Optional - once the pool is in use, keep one started worker with room for a call at all
   * times, so calls do not wait for a worker to start (1-5 s on a loaded machine); only the first
   * call does. Costs one idle process. Default true.
   */
  spareWorker?: boolean | undefined;
  /** Optional - log level of the workers' own log lines. Default `info`. */
  logLevel?: string | undefined;
  /** Optional - mask phone numbers in the workers' logs. Default true. */
  redactPhoneNumbers?: boolean | undefined;
  logger?: Logger | undefined;
}

/**
 * Runs the LiveKit legs of calls in child processes, `callsPerProcess` per process. rtc-node has
 * one native client per process that hands every event to every listener, so one process's cost
 * grows with the square of its calls; spreading calls over processes keeps it linear. Workers are
 * started when every running one is full (ahead of need with `spareWorker`) and stopped after
 * being idle for `idleTimeoutMs`, except the spare.
 *
 * `close()` (idempotent) stops every worker; legs still open report `disconnected`
 * (`server-shutdown`). Workers also exit on their own when this process dies.
 */
export class RoomLegPool {
  readonly callsPerProcess: number;
  readonly #idleTimeoutMs: number;
  readonly #spareWorker: boolean;
  readonly #workerOptions: ConstructorParameters<typeof RoomWorker>[0];
  readonly #log: Logger | undefined;
  readonly #workers = new Set<RoomWorker>();
  readonly #idleTimers = new Map<RoomWorker, NodeJS.Timeout>();
  readonly #onProcessExit = () => {
    for (const worker of this.#workers) worker.killNow();
  };
  #closing: Promise<void> | undefined;

  constructor(options: RoomLegPoolOptions = {}) {
    const perProcess = options.callsPerProcess ?? DEFAULT_ROOM_WORKER_CALLS_PER_PROCESS;
    if (!Number.isInteger(perProcess) || perProcess < 1) {
      throw new ConnectorError('invalid_argument', 'callsPerProcess must be an integer >= 1');
    }
    this.callsPerProcess = perProcess;
    this.#idleTimeoutMs = options.idleTimeoutMs ?? 30_000;
    this.#spareWorker = options.spareWorker ?? true;
    this.#log = options.logger?.child({ component: 'room-leg-pool' });
    this.#workerOptions = {
      logLevel: options.logLevel,
      redactPhoneNumbers: options.redactPhoneNumbers,
      logger: options.logger,
    };
    process.once('exit', this.#onProcessExit);
  }

  /** A factory for `CallManager` that joins through this pool. */
  get factory(): RoomLegFactory {
    return (options) => this.join(options);
  }

  /** OS process ids of the running workers. */
  get workerPids(): number[] {
    return [...this.#workers].flatMap((w) => (w.pid === undefined ? [] : [w.pid]));
  }

  /** Legs hosted (and joining) across all workers. */
  get load(): number {
    let n = 0;
    for (const w of this.#workers) n += w.load;
    return n;
  }

  /**
   * Join a room in the least loaded worker with room for another call, starting a worker when
   * all are full. Rejects like `RoomLeg.join` (ConnectorError `invalid_argument`/`unavailable`).
   */
  async join(options: RoomLegOptions): Promise<RemoteRoomLeg> {
    if (this.#closing) throw new ConnectorError('unavailable', 'room leg pool is closed');
    const worker = this.#pick() ?? this.#spawn();
    this.#clearIdle(worker);
    const joining = worker.join(options);
    this.#ensureSpare();
    return joining;
  }

  /** Stop every worker (each leaves its rooms first, or is killed). Idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      for (const timer of this.#idleTimers.values()) clearTimeout(timer);
      this.#idleTimers.clear();
      await Promise.all([...this.#workers].map((w) => w.close()));
      this.#workers.clear();
      process.off('exit', this.#onProcessExit);
    })();
    return this.#closing;
  }

  #pick(): RoomWorker | undefined {
    let best: RoomWorker | undefined;
    for (const worker of this.#workers) {
      if (!worker.alive || worker.load >= this.callsPerProcess) continue;
      if (!best || worker.load < best.load) best = worker;
    }
    return best;
  }

  /** With `spareWorker`, start a worker if none has room for another call. */
  #ensureSpare(): void {
    if (!this.#spareWorker || this.#closing) return;
    if (!this.#pick()) this.#spawn();
  }

  /** Whether another worker has room for a call (so `worker` is not the last spare). */
  #otherHasRoom(worker: RoomWorker): boolean {
    for (const w of this.#workers) {
      if (w !== worker && w.alive && w.load < this.callsPerProcess) return true;
    }
    return false;
  }

  #spawn(): RoomWorker {
    const worker = new RoomWorker(this.#workerOptions);
    this.#workers.add(worker);
    this.#log?.info({ workerPid: worker.pid, workers: this.#workers.size }, 'room worker started');
    worker.onLoadChanged = () => this.#loadChanged(worker);
    this.#loadChanged(worker);
    void worker.exited().then(() => {
      this.#workers.delete(worker);
      this.#clearIdle(worker);
      this.#ensureSpare();
    });
    return worker;
  }

  #loadChanged(worker: RoomWorker): void {
    if (!worker.alive || this.#closing || worker.load > 0) {
      this.#clearIdle(worker);
      return;
    }
    if (this.#idleTimers.has(worker)) return;
    const timer = setTimeout(() => {
      this.#idleTimers.delete(worker);
      if (worker.load > 0) return;
      if (this.#spareWorker && !this.#otherHasRoom(worker)) {
        // The spare stays; look again later in case another worker gains room.
        this.#loadChanged(worker);
        return;
      }
      this.#workers.delete(worker);
      this.#log?.info({ workerPid: worker.pid }, 'stopping idle room worker');
      void worker.close();
    }, this.#idleTimeoutMs);
    timer.unref();
    this.#idleTimers.set(worker, timer);
  }

  #clearIdle(worker: RoomWorker): void {
    const timer = this.#idleTimers.get(worker);
    if (timer) clearTimeout(timer);
    this.#idleTimers.delete(worker);
  }
}
