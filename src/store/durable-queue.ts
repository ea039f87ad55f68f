/**
 * A bounded, durable work queue: webhook events are enqueued before Meta gets its 200, and
 * forwards to the business's own webhook URL wait here between attempts. Entries survive a crash
 * of the process (SQLite: committed to disk; Redis: as durable as the Redis server is configured).
 *
 * Delivery is at least once. A consumer claims entries under a lease; it acknowledges each
 * (`ack`), or hands it back for a later attempt (`retry`, with exponential backoff), or gives up
 * on it (`deadLetter`). An entry whose consumer died is claimable again when its lease runs out.
 * Attempts are counted at claim, so an entry that crashes its consumer every time still ends in
 * the dead-letter list after `maxAttempts`.
 */

/** How a queue behaves. Units: entries and milliseconds. */
export interface QueuePolicy {
  /** Entries held (ready, delayed and in flight) before `enqueue` refuses with `QueueFullError`. */
  capacity: number;
  /** Deliveries of one entry before it goes to the dead-letter list. */
  maxAttempts: number;
  /** Wait before the second attempt, ms; doubles per attempt up to `maxBackoffMs`. */
  initialBackoffMs: number;
  /** Longest wait between attempts, ms. */
  maxBackoffMs: number;
  /** A claimed entry that is neither acknowledged nor retried within this is claimable again, ms. */
  leaseMs: number;
  /** Dead letters kept; the oldest are dropped beyond this. */
  deadLetterCapacity: number;
}

/** Defaults: 10 000 entries, 5 attempts 0.5 s → 8 s apart, 60 s lease, 1 000 dead letters. */
export const DEFAULT_QUEUE_POLICY: QueuePolicy = {
  capacity: 10_000,
  maxAttempts: 5,
  initialBackoffMs: 500,
  maxBackoffMs: 30_000,
  leaseMs: 60_000,
  deadLetterCapacity: 1_000,
};

/** One claimed entry. */
export interface QueueEntry {
  /** Store-assigned id (opaque). */
  readonly id: string;
  /** The bytes enqueued, unchanged (a webhook body must be forwarded byte for byte). */
  readonly payload: Buffer;
  /** Deliveries so far, this one included (1 on the first claim). */
  readonly attempts: number;
  /** When it was enqueued, ms since the epoch. */
  readonly enqueuedAt: number;
  /** Why the previous attempt failed, if it did. */
  readonly lastError: string | undefined;
  /** The consumer that holds the lease. */
  readonly consumer: string;
}

/** An entry that was given up on. */
export interface DeadLetter {
  readonly id: string;
  readonly payload: Buffer;
  readonly attempts: number;
  readonly enqueuedAt: number;
  /** When it was given up on, ms since the epoch. */
  readonly failedAt: number;
  readonly reason: string;
}

/** Entries by state, as metrics and the CLI show them. */
export interface QueueSizes {
  /** Waiting to be claimed now. */
  ready: number;
  /** Claimed, not yet acknowledged. */
  inFlight: number;
  /** Waiting for a retry's backoff to pass. */
  delayed: number;
  /** In the dead-letter list. */
  dead: number;
}

/** What a retry led to. */
export type RetryOutcome = 'scheduled' | 'dead';

export interface DurableQueue {
  readonly name: string;
  readonly policy: QueuePolicy;
  /**
   * Store `payload` durably; resolves once it is. Returns the entry id.
   * @throws QueueFullError when `capacity` entries are held; StoreUnavailableError.
   */
  enqueue(payload: Buffer | string): Promise<string>;
  /** Up to `max` entries whose time has come, leased to `consumer` (an instance id). */
  claim(consumer: string, max?: number): Promise<QueueEntry[]>;
  /** The entry is done: remove it. */
  ack(entry: QueueEntry): Promise<void>;
  /**
   * The attempt failed: try again after the backoff, or dead-letter it after the last attempt.
   * An entry another consumer re-claimed meanwhile (this lease ran out) is left to that consumer.
   */
  retry(entry: QueueEntry, reason: string): Promise<RetryOutcome>;
  /** Give up on the entry now (a failure no retry can fix). */
  deadLetter(entry: QueueEntry, reason: string): Promise<void>;
  sizes(): Promise<QueueSizes>;
  /** The most recent dead letters, newest first. */
  deadLetters(limit?: number): Promise<DeadLetter[]>;
  /**
   * Put dead letters back in the queue for a fresh round of attempts (an operator fixed the
   * cause): those with `ids`, or every one when `ids` is undefined. Resolves with how many.
   */
  requeueDead(ids?: readonly string[]): Promise<number>;
  /** Delete dead letters: those with `ids`, or every one when undefined. Resolves with how many. */
  dropDead(ids?: readonly string[]): Promise<number>;
}

/** Wait before attempt `attempts + 1`, ms: exponential from `initialBackoffMs`, capped. */
export function backoffMs(policy: QueuePolicy, attempts: number): number {
  const exponent = Math.max(0, attempts - 1);
  return Math.min(policy.maxBackoffMs, policy.initialBackoffMs * 2 ** Math.min(exponent, 30));
}

/** A complete policy from defaults and overrides; refuses values that cannot work. */
export function queuePolicy(overrides: Partial<QueuePolicy> = {}): QueuePolicy {
  const policy = { ...DEFAULT_QUEUE_POLICY, ...overrides };
  for (const [key, value] of Object.entries(policy)) {
    if (!Number.isFinite(value) || value < 1) {
      throw new RangeError(`queue policy ${key} must be a number >= 1, got ${String(value)}`);
    }
  }
  return policy;
}
