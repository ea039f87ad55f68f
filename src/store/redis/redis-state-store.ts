import { Redis } from 'ioredis';
import type { Logger } from '../../log/index.js';
import { queuePolicy, type QueuePolicy } from '../durable-queue.js';
import { systemClock, type StateStore, type StateStoreClock } from '../state-store.js';
import { RedisCallKeys, RedisCallStore } from './redis-call-store.js';
import { RedisQueue } from './redis-queue.js';

/** Per-command timeout, ms: a request waiting on the store fails (503, retried) rather than hangs. */
const COMMAND_TIMEOUT_MS = 2000;

export interface RedisStateStoreOptions {
  url: string;
  /** Prefix of every key, the cluster's (`REDIS_KEY_PREFIX`). */
  keyPrefix: string;
  logger?: Logger | undefined;
  clock?: StateStoreClock;
}

/**
 * The shared state store on Redis. Its own connection (the cluster's heartbeat traffic is
 * separate); commands fail at once while Redis is unreachable (`StoreUnavailableError`) and the
 * connection is retried in the background. Durability is that of the Redis server: run it with
 * `appendonly yes` (and `appendfsync everysec` or `always`) to keep queued webhooks across a Redis
 * restart.
 */
export class RedisStateStore implements StateStore {
  readonly kind = 'redis';
  readonly location: string;
  readonly calls: RedisCallStore;
  readonly redis: Redis;
  readonly #prefix: string;
  readonly #clock: StateStoreClock;
  readonly #queues = new Map<string, RedisQueue>();
  #closed = false;

  private constructor(options: RedisStateStoreOptions) {
    const logger = options.logger;
    this.#prefix = options.keyPrefix;
    this.#clock = options.clock ?? systemClock;
    const url = new URL(options.url);
    // Host and port only: the URL may carry a password.
    this.location = `${url.protocol}//${url.host}`;
    let up = false;
    this.redis = new Redis(options.url, {
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      commandTimeout: COMMAND_TIMEOUT_MS,
      retryStrategy: (times) => Math.min(times * 200, 2000),
    });
    this.redis.on('ready', () => {
      if (!up) logger?.info({ store: this.location }, 'state store connected to Redis');
      up = true;
    });
    this.redis.on('error', (err: Error) => {
      // ioredis repeats this on every reconnect attempt: report the transition only.
      if (up) logger?.warn({ reason: err.message }, 'state store lost Redis (REDIS_URL); retrying');
      up = false;
    });
    this.calls = new RedisCallStore(this.redis, new RedisCallKeys(this.#prefix), this.#clock);
  }

  /**
   * Connect; resolves once connected, or after the first failed attempt (the store then answers
   * `StoreUnavailableError` until Redis is back). Never hangs the start-up.
   */
  static async open(options: RedisStateStoreOptions): Promise<RedisStateStore> {
    const store = new RedisStateStore(options);
    await store.redis.connect().catch((err: unknown) => {
      options.logger?.warn(
        { reason: (err as Error).message, store: store.location },
        'Redis unreachable at start (REDIS_URL); the state store retries in the background',
      );
    });
    return store;
  }

  queue(name: string, policy: Partial<QueuePolicy> = {}): RedisQueue {
    let queue = this.#queues.get(name);
    if (!queue) {
      queue = new RedisQueue(this.redis, this.#prefix, name, queuePolicy(policy), this.#clock);
      this.#queues.set(name, queue);
    }
    return queue;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.redis.quit().catch(() => this.redis.disconnect());
  }
}
