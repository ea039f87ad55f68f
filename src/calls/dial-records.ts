import type { DialResult } from './call-params.js';

/** How long the outcome of a Dial is kept for a retry with the same idempotency key, ms. */
export const DIAL_RECORD_TTL_MS = 10 * 60_000;
/**
 * How long a Dial may stay `pending` before its record lapses, ms. A dial settles within seconds
 * (Meta's connect, the room join); a record left pending by an instance that died must not block
 * retries for long.
 */
export const DIAL_PENDING_TTL_MS = 2 * 60_000;

/** What is known about a Dial with a given idempotency key. */
export type DialRecord =
  | { state: 'pending' }
  | { state: 'done'; result: DialResult }
  /** Failed in a way that may have reached Meta: a retry gets the same error, never a new call. */
  | { state: 'failed'; error: Error };

/** The outcome of claiming an idempotency key. */
export type DialClaim =
  /** No Dial had the key: this caller dials, then records the outcome. */
  | { claimed: true }
  /** A Dial had the key: its record. */
  | { claimed: false; record: DialRecord };

/**
 * Records of Dials by idempotency key, so that a Dial retried with the same key — here or on
 * another instance of a cluster — answers the first Dial's outcome instead of calling the user a
 * second time. Implemented in memory here and on Redis for a cluster (`src/cluster/`).
 */
export interface DialRecords {
  /** Claim `key` for a new Dial, or get the record of the Dial that has it. */
  claim(key: string): Promise<DialClaim>;
  /**
   * Wait until the Dial that has `key` settles, or until `signal` aborts or `timeoutMs` pass.
   * Resolves with the record (still `pending` when the wait ended first).
   */
  wait(key: string, timeoutMs: number, signal?: AbortSignal): Promise<DialRecord>;
  /** The Dial succeeded. */
  complete(key: string, result: DialResult): Promise<void>;
  /** The Dial failed in a way that may have reached Meta. */
  fail(key: string, error: Error): Promise<void>;
  /** The Dial failed before it had any effect: let a retry dial again. */
  forget(key: string): Promise<void>;
}

interface Entry {
  record: DialRecord;
  expiresAt: number;
  /** Resolves when a pending record settles. */
  settled: Promise<void>;
  settle: () => void;
}

/** {@link DialRecords} of one instance, in memory. */
export class InMemoryDialRecords implements DialRecords {
  readonly #entries = new Map<string, Entry>();

  async claim(key: string): Promise<DialClaim> {
    const entry = this.#live(key);
    if (entry) return { claimed: false, record: entry.record };
    this.#set(key, { state: 'pending' }, DIAL_PENDING_TTL_MS);
    return { claimed: true };
  }

  async wait(key: string, timeoutMs: number, signal?: AbortSignal): Promise<DialRecord> {
    const entry = this.#live(key);
    if (!entry) return { state: 'pending' };
    if (entry.record.state === 'pending' && timeoutMs > 0 && !signal?.aborted) {
      let timer: NodeJS.Timeout | undefined;
      let onAbort: (() => void) | undefined;
      await Promise.race([
        entry.settled,
        new Promise<void>((resolve) => {
          timer = setTimeout(resolve, timeoutMs);
          onAbort = resolve;
          signal?.addEventListener('abort', onAbort, { once: true });
        }),
      ]);
      clearTimeout(timer);
      if (onAbort) signal?.removeEventListener('abort', onAbort);
    }
    return this.#live(key)?.record ?? { state: 'pending' };
  }

  async complete(key: string, result: DialResult): Promise<void> {
    this.#settle(key, { state: 'done', result });
  }

  async fail(key: string, error: Error): Promise<void> {
    this.#settle(key, { state: 'failed', error });
  }

  async forget(key: string): Promise<void> {
    this.#entries.get(key)?.settle();
    this.#entries.delete(key);
  }

  #settle(key: string, record: DialRecord): void {
    const previous = this.#entries.get(key);
    this.#set(key, record, DIAL_RECORD_TTL_MS);
    previous?.settle();
  }

  #set(key: string, record: DialRecord, ttlMs: number): void {
    this.#sweep();
    let settle = () => {};
    const settled = new Promise<void>((resolve) => (settle = resolve));
    this.#entries.set(key, { record, expiresAt: Date.now() + ttlMs, settled, settle });
  }

  #live(key: string): Entry | undefined {
    const entry = this.#entries.get(key);
    if (entry && entry.expiresAt <= Date.now()) {
      entry.settle();
      this.#entries.delete(key);
      return undefined;
    }
    return entry;
  }

  /** Drop expired records (on every write: the map cannot grow without bound). */
  #sweep(): void {
    const now = Date.now();
    for (const [key, entry] of this.#entries) {
      if (entry.expiresAt <= now) {
        entry.settle();
        this.#entries.delete(key);
      }
    }
  }
}
