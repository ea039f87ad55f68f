import type { Logger } from '../log/index.js';
import type { DurableQueue, QueueEntry } from './durable-queue.js';

/** What became of one delivery. */
export type DeliveryOutcome = 'acked' | 'retried' | 'dead';

export interface QueueConsumerOptions {
  /** Required - the queue to drain. */
  queue: DurableQueue;
  /** Required - this consumer's name (the instance id): leases are held in its name. */
  consumer: string;
  /**
   * Required - process one entry. Resolving acknowledges it; throwing retries it after the
   * queue's backoff, or dead-letters it at once when the error says `retryable: false`.
   */
  handle(entry: QueueEntry): Promise<void>;
  /** Optional - entries processed at once. Default 4. */
  concurrency?: number;
  /** Optional - how often an idle consumer looks for due entries, ms. Default 250. */
  idlePollMs?: number;
  /** Optional - told of every delivery (metrics: retried, dead-lettered). */
  onOutcome?(outcome: DeliveryOutcome, entry: QueueEntry, error?: unknown): void;
  logger?: Logger;
}

/**
 * Drains a durable queue: claims due entries, runs the handler on each (at most `concurrency` at
 * a time) and settles it. Polls while idle; `wake()` (after an enqueue) skips the wait. A store
 * that fails is retried at the next poll. `stop()` ends claiming and waits for the handlers
 * running, up to a deadline; their entries stay leased and are redelivered after the lease.
 */
export class QueueConsumer {
  readonly #options: QueueConsumerOptions;
  readonly #concurrency: number;
  readonly #idlePollMs: number;
  readonly #running = new Set<Promise<void>>();
  #timer: NodeJS.Timeout | undefined;
  #pumping = false;
  #again = false;
  #stopped = true;
  /** The store failed at the last claim: later failures are logged at debug until it answers. */
  #storeFailing = false;

  constructor(options: QueueConsumerOptions) {
    this.#options = options;
    this.#concurrency = options.concurrency ?? 4;
    this.#idlePollMs = options.idlePollMs ?? 250;
  }

  start(): void {
    if (!this.#stopped) return;
    this.#stopped = false;
    this.wake();
  }

  /** Look for due entries now. */
  wake(): void {
    if (this.#stopped) return;
    if (this.#pumping) {
      this.#again = true;
      return;
    }
    clearTimeout(this.#timer);
    this.#timer = undefined;
    void this.#pump();
  }

  /** Handlers running right now. */
  get busy(): number {
    return this.#running.size;
  }

  async #pump(): Promise<void> {
    this.#pumping = true;
    try {
      do {
        this.#again = false;
        const free = this.#concurrency - this.#running.size;
        if (free <= 0) break;
        let entries: QueueEntry[];
        try {
          entries = await this.#options.queue.claim(this.#options.consumer, free);
        } catch (err) {
          // Polled 4 times a second: an outage is reported once, not at every poll.
          const log = this.#options.logger;
          const fields = { err, queue: this.#options.queue.name };
          if (this.#storeFailing) log?.debug(fields, 'queue claim failed; retrying');
          else log?.warn(fields, 'queue claim failed; retrying until the store answers');
          this.#storeFailing = true;
          break;
        }
        if (this.#storeFailing) {
          this.#storeFailing = false;
          this.#options.logger?.info(
            { queue: this.#options.queue.name },
            'queue store answers again',
          );
        }
        if (this.#stopped) break;
        for (const entry of entries) this.#track(this.#deliver(entry));
        // A full batch suggests more are waiting.
        if (entries.length === free) this.#again = true;
      } while (this.#again && !this.#stopped);
    } finally {
      this.#pumping = false;
      if (!this.#stopped) {
        this.#timer = setTimeout(() => this.wake(), this.#idlePollMs);
        this.#timer.unref();
      }
    }
  }

  #track(task: Promise<void>): void {
    this.#running.add(task);
    void task.finally(() => {
      this.#running.delete(task);
      // A slot is free: there may be more to do.
      this.wake();
    });
  }

  async #deliver(entry: QueueEntry): Promise<void> {
    const { queue, logger, onOutcome } = this.#options;
    let failure: unknown;
    try {
      await this.#options.handle(entry);
    } catch (err) {
      failure = err ?? new Error('handler failed');
    }
    try {
      if (failure === undefined) {
        await queue.ack(entry);
        onOutcome?.('acked', entry);
        return;
      }
      const reason = failure instanceof Error ? failure.message : String(failure);
      const retryable = (failure as { retryable?: unknown }).retryable !== false;
      const outcome = retryable ? await queue.retry(entry, reason) : 'dead';
      if (!retryable) await queue.deadLetter(entry, reason);
      onOutcome?.(outcome === 'dead' ? 'dead' : 'retried', entry, failure);
      logger?.warn(
        { queue: queue.name, entryId: entry.id, attempts: entry.attempts, outcome, reason },
        outcome === 'dead' ? 'queue entry dead-lettered' : 'queue entry will be retried',
      );
    } catch (err) {
      // The entry stays leased and is delivered again once the lease runs out.
      logger?.warn({ err, queue: queue.name, entryId: entry.id }, 'could not settle a queue entry');
    }
  }

  /**
   * Stop claiming and wait for the handlers running, at most `timeoutMs` (default 10 s).
   * Idempotent.
   */
  async stop(timeoutMs = 10_000): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)));
    await Promise.race([Promise.allSettled([...this.#running]), deadline]);
    clearTimeout(timer);
  }
}
