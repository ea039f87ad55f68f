import type { Redis } from 'ioredis';
import type { CallRecord, CallRecordUpdate, TokenReference } from '../call-record.js';
import type { CallStore } from '../call-store.js';
import type { StateStoreClock } from '../state-store.js';
import { RedisScript, guardRedis } from './redis-script.js';

/**
 * Key layout (under the cluster's `REDIS_KEY_PREFIX`): a hash per call, a set of call ids per
 * owner, and the set of owners that have any. Records have no TTL: they must outlive their owner,
 * which is the point. Changes that touch several keys are Lua scripts, so they are atomic.
 */
export class RedisCallKeys {
  constructor(readonly prefix: string) {}
  call(callId: string): string {
    return `${this.prefix}store:call:${callId}`;
  }
  ownerPrefix(): string {
    return `${this.prefix}store:calls-of:`;
  }
  owner(owner: string): string {
    return `${this.ownerPrefix()}${owner}`;
  }
  owners(): string {
    return `${this.prefix}store:call-owners`;
  }
}

const FIELDS = [
  'callId',
  'phoneNumberId',
  'direction',
  'apiVersion',
  'token',
  'owner',
  'roomName',
  'participantIdentity',
  'state',
  'createdAt',
  'updatedAt',
] as const;

/** KEYS: call hash, owners set. ARGV: owner-set prefix, call id, owner, then field/value pairs. */
const PUT = new RedisScript(
  `local previous = redis.call('HGET', KEYS[1], 'owner')
if previous and previous ~= ARGV[3] then
  redis.call('SREM', ARGV[1] .. previous, ARGV[2])
  if redis.call('SCARD', ARGV[1] .. previous) == 0 then redis.call('SREM', KEYS[2], previous) end
end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], unpack(ARGV, 4))
redis.call('SADD', ARGV[1] .. ARGV[3], ARGV[2])
redis.call('SADD', KEYS[2], ARGV[3])
return 1`,
  2,
);

/** KEYS: call hash. ARGV: field/value pairs. Only an existing record is changed. */
const UPDATE = new RedisScript(
  `if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV))
return 1`,
  1,
);

/** KEYS: call hash, owners set. ARGV: owner-set prefix, call id. */
const REMOVE = new RedisScript(
  `local owner = redis.call('HGET', KEYS[1], 'owner')
redis.call('DEL', KEYS[1])
if owner then
  redis.call('SREM', ARGV[1] .. owner, ARGV[2])
  if redis.call('SCARD', ARGV[1] .. owner) == 0 then redis.call('SREM', KEYS[2], owner) end
end
return 1`,
  2,
);

/** KEYS: call hash, owners set. ARGV: owner-set prefix, call id, from, to, now. */
const TRANSFER = new RedisScript(
  `if redis.call('HGET', KEYS[1], 'owner') ~= ARGV[3] then return 0 end
redis.call('HSET', KEYS[1], 'owner', ARGV[4], 'updatedAt', ARGV[5])
redis.call('SREM', ARGV[1] .. ARGV[3], ARGV[2])
if redis.call('SCARD', ARGV[1] .. ARGV[3]) == 0 then redis.call('SREM', KEYS[2], ARGV[3]) end
redis.call('SADD', ARGV[1] .. ARGV[4], ARGV[2])
redis.call('SADD', KEYS[2], ARGV[4])
return 1`,
  2,
);

function fieldValues(record: CallRecord): string[] {
  const out: string[] = [];
  for (const field of FIELDS) {
    const value = record[field];
    out.push(field, field === 'token' ? JSON.stringify(value) : String(value));
  }
  return out;
}

function toRecord(hash: Record<string, string>): CallRecord | undefined {
  if (!hash.callId || !hash.owner || !hash.token) return undefined;
  return {
    callId: hash.callId,
    phoneNumberId: hash.phoneNumberId ?? '',
    direction: hash.direction === 'outbound' ? 'outbound' : 'inbound',
    apiVersion: hash.apiVersion ?? '',
    token: JSON.parse(hash.token) as TokenReference,
    owner: hash.owner,
    roomName: hash.roomName ?? '',
    participantIdentity: hash.participantIdentity ?? '',
    state: hash.state ?? '',
    createdAt: Number(hash.createdAt),
    updatedAt: Number(hash.updatedAt),
  };
}

/** Call records in Redis, shared by every instance of the cluster. */
export class RedisCallStore implements CallStore {
  readonly #redis: Redis;
  readonly #keys: RedisCallKeys;
  readonly #clock: StateStoreClock;

  constructor(redis: Redis, keys: RedisCallKeys, clock: StateStoreClock) {
    this.#redis = redis;
    this.#keys = keys;
    this.#clock = clock;
  }

  async put(record: CallRecord): Promise<void> {
    const k = this.#keys;
    await guardRedis('put call record', () =>
      PUT.run(
        this.#redis,
        [k.call(record.callId), k.owners()],
        [k.ownerPrefix(), record.callId, record.owner, ...fieldValues(record)],
      ),
    );
  }

  async update(callId: string, changes: CallRecordUpdate): Promise<boolean> {
    const args: string[] = ['updatedAt', String(this.#clock.now())];
    for (const [field, value] of Object.entries(changes)) {
      if (value === undefined) continue;
      args.push(field, field === 'token' ? JSON.stringify(value) : String(value));
    }
    const done = await guardRedis('update call record', () =>
      UPDATE.run(this.#redis, [this.#keys.call(callId)], args),
    );
    return done === 1;
  }

  async remove(callId: string): Promise<void> {
    const k = this.#keys;
    await guardRedis('remove call record', () =>
      REMOVE.run(this.#redis, [k.call(callId), k.owners()], [k.ownerPrefix(), callId]),
    );
  }

  async get(callId: string): Promise<CallRecord | undefined> {
    const hash = await guardRedis('get call record', () =>
      this.#redis.hgetall(this.#keys.call(callId)),
    );
    return toRecord(hash);
  }

  async listByOwner(owner: string): Promise<CallRecord[]> {
    return guardRedis('list call records', async () => {
      const ids = await this.#redis.smembers(this.#keys.owner(owner));
      if (ids.length === 0) return [];
      const pipeline = this.#redis.pipeline();
      for (const id of ids) pipeline.hgetall(this.#keys.call(id));
      const results = (await pipeline.exec()) ?? [];
      const records: CallRecord[] = [];
      for (const [err, hash] of results) {
        if (err) throw err;
        const record = toRecord(hash as Record<string, string>);
        if (record && record.owner === owner) records.push(record);
      }
      return records.sort((a, b) => a.createdAt - b.createdAt || a.callId.localeCompare(b.callId));
    });
  }

  async owners(): Promise<string[]> {
    const owners = await guardRedis('list call owners', () =>
      this.#redis.smembers(this.#keys.owners()),
    );
    return owners.sort();
  }

  async transfer(callId: string, from: string, to: string): Promise<boolean> {
    const k = this.#keys;
    const done = await guardRedis('transfer call record', () =>
      TRANSFER.run(
        this.#redis,
        [k.call(callId), k.owners()],
        [k.ownerPrefix(), callId, from, to, this.#clock.now()],
      ),
    );
    return done === 1;
  }
}
