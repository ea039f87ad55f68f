import type { Redis } from 'ioredis';
import {
  backoffMs,
  type DeadLetter,
  type DurableQueue,
  type QueueEntry,
  type QueuePolicy,
  type QueueSizes,
  type RetryOutcome,
} from '../durable-queue.js';
import type { StateStoreClock } from '../state-store.js';
import { QueueFullError } from '../store-errors.js';
import { RedisScript, guardRedis, replyCode } from './redis-script.js';

/**
 * A durable queue on Redis: a stream read through a consumer group (`workers`), so an entry a
 * consumer claimed stays pending until acknowledged and is reclaimed (XAUTOCLAIM) once idle for
 * the lease; a sorted set of entries waiting for a retry's backoff; a hash counting deliveries
 * per stream entry; and a capped stream of dead letters. The keys of one queue share a hash tag.
 *
 * Stream fields: `p` payload (base64, bytes kept exactly), `a` attempts before this stream entry
 * (a retried entry is added anew), `t` enqueue time (ms), `e` the last error.
 */
export class RedisQueueKeys {
  readonly stream: string;
  readonly delayed: string;
  readonly deliveries: string;
  readonly dead: string;
  constructor(prefix: string, name: string) {
    const base = `${prefix}store:queue:{${name}}`;
    this.stream = `${base}:stream`;
    this.delayed = `${base}:delayed`;
    this.deliveries = `${base}:deliveries`;
    this.dead = `${base}:dead`;
  }
}

const GROUP = 'workers';

/** KEYS: stream, delayed. ARGV: capacity, payload, now. Nil when full. */
const ENQUEUE = new RedisScript(
  `if redis.call('XLEN', KEYS[1]) + redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[1]) then
  return false
end
return redis.call('XADD', KEYS[1], '*', 'p', ARGV[2], 'a', '0', 't', ARGV[3], 'e', '')`,
  2,
);

/**
 * KEYS: stream, delayed, deliveries, dead.
 * ARGV: group, consumer, now, count, lease ms, max attempts, dead-letter cap.
 * Returns {id, payload, attempts, enqueued at, last error}[].
 */
const CLAIM = new RedisScript(
  `local stream, delayed, deliveries, dead = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local group, consumer, now = ARGV[1], ARGV[2], ARGV[3]
local count, lease, maxAttempts = tonumber(ARGV[4]), ARGV[5], tonumber(ARGV[6])
-- Retries whose backoff has passed go back into the stream.
for _, member in ipairs(redis.call('ZRANGEBYSCORE', delayed, '-inf', now, 'LIMIT', 0, 100)) do
  local e = cjson.decode(member)
  redis.call('XADD', stream, '*', 'p', e.p, 'a', tostring(e.a), 't', tostring(e.t), 'e', e.e)
  redis.call('ZREM', delayed, member)
end
local out = {}
local function take(entries, reclaimed)
  for _, entry in ipairs(entries) do
    local id, list = entry[1], entry[2]
    if list then
      local f = {}
      for i = 1, #list, 2 do f[list[i]] = list[i + 1] end
      local attempts = tonumber(f.a) + redis.call('HINCRBY', deliveries, id, 1)
      if reclaimed and attempts > maxAttempts then
        -- Its consumer stopped during the last attempt allowed: no further delivery.
        redis.call('XADD', dead, 'MAXLEN', ARGV[7], '*', 'p', f.p, 'a', tostring(attempts - 1),
          't', f.t, 'f', now, 'r', 'abandoned after ' .. (attempts - 1) .. ' attempts: lease ran out')
        redis.call('XACK', stream, group, id)
        redis.call('XDEL', stream, id)
        redis.call('HDEL', deliveries, id)
      else
        table.insert(out, {id, f.p, attempts, f.t, f.e})
      end
    end
  end
end
take(redis.call('XAUTOCLAIM', stream, group, consumer, lease, '0-0', 'COUNT', count)[2], true)
if #out < count then
  local fresh = redis.call('XREADGROUP', 'GROUP', group, consumer, 'COUNT', count - #out,
    'STREAMS', stream, '>')
  if fresh then take(fresh[1][2], false) end
end
return out`,
  4,
);

/** KEYS: stream, deliveries. ARGV: group, id. */
const ACK = new RedisScript(
  `redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
redis.call('XDEL', KEYS[1], ARGV[2])
redis.call('HDEL', KEYS[2], ARGV[2])
return 1`,
  2,
);

/**
 * KEYS: stream, delayed, deliveries, dead.
 * ARGV: group, id, consumer, action ('retry'|'dead'), payload, attempts, enqueued at, reason,
 * due at, now, dead-letter cap.
 * Returns 'scheduled', 'dead', or 'gone' when the entry is no longer this consumer's.
 */
const SETTLE = new RedisScript(
  `local stream, delayed, deliveries, dead = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local pending = redis.call('XPENDING', stream, ARGV[1], ARGV[2], ARGV[2], 1)
if #pending == 0 or pending[1][2] ~= ARGV[3] then return 'gone' end
redis.call('XACK', stream, ARGV[1], ARGV[2])
redis.call('XDEL', stream, ARGV[2])
redis.call('HDEL', deliveries, ARGV[2])
if ARGV[4] == 'dead' then
  redis.call('XADD', dead, 'MAXLEN', ARGV[11], '*', 'p', ARGV[5], 'a', ARGV[6], 't', ARGV[7],
    'f', ARGV[10], 'r', ARGV[8])
  return 'dead'
end
redis.call('ZADD', delayed, ARGV[9],
  cjson.encode({p = ARGV[5], a = tonumber(ARGV[6]), t = tonumber(ARGV[7]), e = ARGV[8], u = ARGV[2]}))
return 'scheduled'`,
  4,
);

/**
 * KEYS: stream, dead. ARGV: dead-letter ids (none: all). Moves them back into the stream with
 * their attempts reset; returns how many.
 */
const REQUEUE_DEAD = new RedisScript(
  `local stream, dead = KEYS[1], KEYS[2]
local entries = {}
if #ARGV == 0 then
  entries = redis.call('XRANGE', dead, '-', '+')
else
  for _, id in ipairs(ARGV) do
    local found = redis.call('XRANGE', dead, id, id)
    if found[1] then table.insert(entries, found[1]) end
  end
end
for _, entry in ipairs(entries) do
  local f = {}
  local list = entry[2]
  for i = 1, #list, 2 do f[list[i]] = list[i + 1] end
  redis.call('XADD', stream, '*', 'p', f.p, 'a', '0', 't', f.t,
    'e', 'requeued from dead letters: ' .. (f.r or ''))
  redis.call('XDEL', dead, entry[1])
end
return #entries`,
  2,
);

type ClaimedRow = [string, string, number, string, string];

export class RedisQueue implements DurableQueue {
  readonly name: string;
  readonly policy: QueuePolicy;
  readonly #redis: Redis;
  readonly #keys: RedisQueueKeys;
  readonly #clock: StateStoreClock;
  #groupReady = false;

  constructor(
    redis: Redis,
    prefix: string,
    name: string,
    policy: QueuePolicy,
    clock: StateStoreClock,
  ) {
    this.#redis = redis;
    this.name = name;
    this.policy = policy;
    this.#clock = clock;
    this.#keys = new RedisQueueKeys(prefix, name);
  }

  /** Create the stream and its consumer group if missing (also after Redis lost its data). */
  async #ensureGroup(force = false): Promise<void> {
    if (this.#groupReady && !force) return;
    try {
      await this.#redis.xgroup('CREATE', this.#keys.stream, GROUP, '0', 'MKSTREAM');
    } catch (err) {
      if (replyCode(err) !== 'BUSYGROUP') throw err;
    }
    this.#groupReady = true;
  }

  /** Run `op` with the group in place; recreate it once if Redis forgot it (NOGROUP). */
  async #withGroup<T>(what: string, op: () => Promise<T>): Promise<T> {
    return guardRedis(what, async () => {
      await this.#ensureGroup();
      try {
        return await op();
      } catch (err) {
        if (replyCode(err) !== 'NOGROUP') throw err;
        await this.#ensureGroup(true);
        return op();
      }
    });
  }

  async enqueue(payload: Buffer | string): Promise<string> {
    const bytes = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload;
    const id = await this.#withGroup('enqueue', () =>
      ENQUEUE.run(
        this.#redis,
        [this.#keys.stream, this.#keys.delayed],
        [this.policy.capacity, bytes.toString('base64'), this.#clock.now()],
      ),
    );
    if (id === null) throw new QueueFullError(this.name, this.policy.capacity);
    return String(id);
  }

  async claim(consumer: string, max = 16): Promise<QueueEntry[]> {
    const k = this.#keys;
    const rows = (await this.#withGroup('claim', () =>
      CLAIM.run(
        this.#redis,
        [k.stream, k.delayed, k.deliveries, k.dead],
        [
          GROUP,
          consumer,
          this.#clock.now(),
          max,
          this.policy.leaseMs,
          this.policy.maxAttempts,
          this.policy.deadLetterCapacity,
        ],
      ),
    )) as ClaimedRow[];
    return rows.map(([id, payload, attempts, enqueuedAt, lastError]) => ({
      id,
      payload: Buffer.from(payload, 'base64'),
      attempts: Number(attempts),
      enqueuedAt: Number(enqueuedAt),
      lastError: lastError || undefined,
      consumer,
    }));
  }

  async ack(entry: QueueEntry): Promise<void> {
    await this.#withGroup('ack', () =>
      ACK.run(this.#redis, [this.#keys.stream, this.#keys.deliveries], [GROUP, entry.id]),
    );
  }

  async #settle(entry: QueueEntry, action: 'retry' | 'dead', reason: string, dueAt: number) {
    const k = this.#keys;
    return (await this.#withGroup(action, () =>
      SETTLE.run(
        this.#redis,
        [k.stream, k.delayed, k.deliveries, k.dead],
        [
          GROUP,
          entry.id,
          entry.consumer,
          action,
          entry.payload.toString('base64'),
          entry.attempts,
          entry.enqueuedAt,
          reason,
          dueAt,
          this.#clock.now(),
          this.policy.deadLetterCapacity,
        ],
      ),
    )) as 'scheduled' | 'dead' | 'gone';
  }

  async retry(entry: QueueEntry, reason: string): Promise<RetryOutcome> {
    if (entry.attempts >= this.policy.maxAttempts) {
      await this.#settle(entry, 'dead', `gave up after ${entry.attempts} attempts: ${reason}`, 0);
      return 'dead';
    }
    const due = this.#clock.now() + backoffMs(this.policy, entry.attempts);
    await this.#settle(entry, 'retry', reason, due);
    return 'scheduled';
  }

  async deadLetter(entry: QueueEntry, reason: string): Promise<void> {
    await this.#settle(entry, 'dead', reason, 0);
  }

  async sizes(): Promise<QueueSizes> {
    const k = this.#keys;
    return this.#withGroup('sizes', async () => {
      const results = (await this.#redis
        .pipeline()
        .xlen(k.stream)
        .xpending(k.stream, GROUP)
        .zcard(k.delayed)
        .xlen(k.dead)
        .exec()) as [Error | null, unknown][];
      for (const [err] of results) if (err) throw err;
      const [streamLength, pending, delayed, dead] = results.map(([, v]) => v) as [
        number,
        [number, ...unknown[]],
        number,
        number,
      ];
      const inFlight = Number(pending[0] ?? 0);
      return { ready: streamLength - inFlight, inFlight, delayed, dead };
    });
  }

  async requeueDead(ids?: readonly string[]): Promise<number> {
    const k = this.#keys;
    if (ids !== undefined && streamIds(ids).length === 0) return 0;
    const moved = await this.#withGroup('requeue dead letters', () =>
      REQUEUE_DEAD.run(this.#redis, [k.stream, k.dead], ids ? streamIds(ids) : []),
    );
    return Number(moved);
  }

  async dropDead(ids?: readonly string[]): Promise<number> {
    const dead = this.#keys.dead;
    return guardRedis('drop dead letters', async () => {
      if (ids !== undefined) {
        const valid = streamIds(ids);
        return valid.length === 0 ? 0 : this.#redis.xdel(dead, ...valid);
      }
      const n = await this.#redis.xlen(dead);
      await this.#redis.del(dead);
      return n;
    });
  }

  async deadLetters(limit = 50): Promise<DeadLetter[]> {
    const rows = await guardRedis('dead letters', () =>
      this.#redis.xrevrange(this.#keys.dead, '+', '-', 'COUNT', limit),
    );
    return rows.map(([id, list]) => {
      const f: Record<string, string> = {};
      for (let i = 0; i + 1 < list.length; i += 2) f[list[i]!] = list[i + 1]!;
      return {
        id,
        payload: Buffer.from(f.p ?? '', 'base64'),
        attempts: Number(f.a),
        enqueuedAt: Number(f.t),
        failedAt: Number(f.f),
        reason: f.r ?? '',
      };
    });
  }
}

/** The ids that are stream ids (`<ms>-<seq>`); others name no dead letter here. */
function streamIds(ids: readonly string[]): string[] {
  return ids.filter((id) => /^\d+-\d+$/.test(id));
}
