import type { Redis } from 'ioredis';
import type { ClusterKeys } from './cluster-keys.js';

/** Deletes a call entry only while it still names the given owner (no lost updates). */
const RELEASE_SCRIPT = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end`;

export interface CallDirectoryOptions {
  redis: Redis;
  keys: ClusterKeys;
  /** How long an entry lives without a refresh, ms (three heartbeats). */
  ttlMs: number;
}

/**
 * Call id → owning instance, in Redis. Entries expire unless their owner refreshes them, so the
 * calls of an instance that died vanish on their own; an owner deletes its entry when the call
 * leaves its registry. Every method may reject with the Redis client's error (Redis down).
 */
export class CallDirectory {
  private readonly redis: Redis;
  private readonly keys: ClusterKeys;
  readonly ttlMs: number;

  constructor(options: CallDirectoryOptions) {
    this.redis = options.redis;
    this.keys = options.keys;
    this.ttlMs = options.ttlMs;
  }

  /** The instance owning `callId`, if any. */
  async owner(callId: string): Promise<string | undefined> {
    return (await this.redis.get(this.keys.call(callId))) ?? undefined;
  }

  /**
   * Claim `callId` for `instanceId` unless someone holds it. Resolves with the owner afterwards:
   * `instanceId` when the claim won (or it already held the call), another id when it lost.
   */
  async claim(callId: string, instanceId: string): Promise<string> {
    const key = this.keys.call(callId);
    const won = await this.redis.set(key, instanceId, 'PX', this.ttlMs, 'NX');
    if (won === 'OK') return instanceId;
    const owner = await this.redis.get(key);
    // Expired between the two commands: nobody holds it now, so try once more.
    if (owner === null) return this.claim(callId, instanceId);
    return owner;
  }

  /** Record (or refresh) calls owned by `instanceId`, each with a fresh TTL. */
  async register(instanceId: string, callIds: Iterable<string>): Promise<void> {
    const pipeline = this.redis.pipeline();
    let n = 0;
    for (const id of callIds) {
      pipeline.set(this.keys.call(id), instanceId, 'PX', this.ttlMs);
      n++;
    }
    if (n === 0) return;
    const results = (await pipeline.exec()) ?? [];
    const failed = results.find(([err]) => err);
    if (failed?.[0]) throw failed[0];
  }

  /** Delete the entry of `callId` if `instanceId` still owns it. Resolves true when deleted. */
  async release(callId: string, instanceId: string): Promise<boolean> {
    const deleted = await this.redis.eval(RELEASE_SCRIPT, 1, this.keys.call(callId), instanceId);
    return deleted === 1;
  }
}
