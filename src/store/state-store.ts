/**
 * The connector's persistent state: call records and durable queues, in Redis when `REDIS_URL`
 * is set (shared by the cluster), else in a SQLite database under `STATE_DIR` (one instance per
 * directory). Both implementations live behind the same two interfaces; the drivers load only
 * when a store is opened.
 */
import type { CallStore } from './call-store.js';
import type { DurableQueue, QueuePolicy } from './durable-queue.js';

/** The queue Meta's webhook events wait in between their 200 and their processing. */
export const WEBHOOK_QUEUE = 'webhooks';
/** The queue of webhooks waiting to be forwarded to `WHATSAPP_FORWARD_URL`. */
export const FORWARD_QUEUE = 'forwards';

export interface StateStore {
  /** Which implementation: `sqlite` (local) or `redis` (shared). */
  readonly kind: 'sqlite' | 'redis';
  /** Where the state is, for logs: the database file or the Redis host (never a password). */
  readonly location: string;
  readonly calls: CallStore;
  /** The queue `name` (created on first use); the same name always gives the same queue. */
  queue(name: string, policy?: Partial<QueuePolicy>): DurableQueue;
  /** Close connections and files. Idempotent. */
  close(): Promise<void>;
}

export interface StateStoreClock {
  /** Milliseconds since the epoch. Tests pass a fake one to drive backoff and leases. */
  now(): number;
}

export const systemClock: StateStoreClock = { now: () => Date.now() };
