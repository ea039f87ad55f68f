import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import { StoreUnavailableError } from '../store-errors.js';

/**
 * Redis error codes (the first word of an error reply) that mean "not now": the server is
 * loading, read-only, out of memory, busy with a script, or its cluster is degraded.
 */
const TRANSIENT_REPLY_CODES = new Set([
  'LOADING',
  'READONLY',
  'OOM',
  'BUSY',
  'MASTERDOWN',
  'CLUSTERDOWN',
  'TRYAGAIN',
  'NOREPLICAS',
]);

/** The Redis error code of an error reply, e.g. `NOGROUP`; undefined for other errors. */
export function replyCode(err: unknown): string | undefined {
  if ((err as { name?: unknown }).name !== 'ReplyError') return undefined;
  return /^([A-Z]+)\b/.exec((err as Error).message)?.[1];
}

/**
 * Run a Redis operation, turning connection failures (down, timing out, offline) and transient
 * error replies into {@link StoreUnavailableError}; other error replies are bugs and pass through.
 */
export async function guardRedis<T>(what: string, op: () => Promise<T>): Promise<T> {
  try {
    return await op();
  } catch (err) {
    const code = replyCode(err);
    if (code === undefined || TRANSIENT_REPLY_CODES.has(code)) {
      throw new StoreUnavailableError(`Redis unavailable (${what}): ${(err as Error).message}`, {
        cause: err,
      });
    }
    throw err;
  }
}

/** A Lua script run by its SHA1, loaded on first use and again after a Redis restart. */
export class RedisScript {
  readonly #lua: string;
  readonly #sha: string;
  readonly #keys: number;

  constructor(lua: string, numberOfKeys: number) {
    this.#lua = lua;
    this.#keys = numberOfKeys;
    this.#sha = createHash('sha1').update(lua).digest('hex');
  }

  async run(redis: Redis, keys: string[], args: (string | number)[]): Promise<unknown> {
    if (keys.length !== this.#keys) throw new Error(`script takes ${this.#keys} keys`);
    try {
      return await redis.evalsha(this.#sha, this.#keys, ...keys, ...args);
    } catch (err) {
      if (replyCode(err) !== 'NOSCRIPT') throw err;
      return redis.eval(this.#lua, this.#keys, ...keys, ...args);
    }
  }
}
