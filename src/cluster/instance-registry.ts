import type { Redis } from 'ioredis';
import type { ClusterKeys } from './cluster-keys.js';

/** What an instance advertises in its heartbeat. */
export interface InstanceInfo {
  id: string;
  /** Base URL of its HTTP listener as other instances reach it (internal endpoint included). */
  url: string;
  /** Calls not yet ended. */
  activeCalls: number;
  /** Its `MAX_CONCURRENT_CALLS`. */
  maxCalls: number;
  /** Its region (`REGION`); absent when it has none. */
  region?: string | undefined;
  /**
   * False while its admission control refuses new calls (event-loop lag or CPU over the limit);
   * absent from instances that do not say (counted as accepting).
   */
  accepting?: boolean | undefined;
  /** True when it serves ConnectTwilioCall on its own `PUBLIC_URL` (peers may place Twilio calls on it). */
  twilio?: boolean | undefined;
  /** Epoch ms of start and of this heartbeat. */
  startedAt: number;
  updatedAt: number;
  /** Shutting down: serves its live calls, takes no new ones. */
  draining?: boolean;
}

export interface InstanceRegistryOptions {
  redis: Redis;
  keys: ClusterKeys;
  /** How long an instance counts as alive after its last heartbeat, ms. */
  ttlMs: number;
}

/** Live instances of the cluster and their load, kept alive by heartbeats. */
export class InstanceRegistry {
  private readonly redis: Redis;
  private readonly keys: ClusterKeys;
  private readonly ttlMs: number;

  constructor(options: InstanceRegistryOptions) {
    this.redis = options.redis;
    this.keys = options.keys;
    this.ttlMs = options.ttlMs;
  }

  /** Publish (or refresh) an instance's record. */
  async announce(info: InstanceInfo): Promise<void> {
    await this.redis
      .multi()
      .set(this.keys.instance(info.id), JSON.stringify(info), 'PX', this.ttlMs)
      .sadd(this.keys.instances(), info.id)
      .exec();
  }

  /** The record of a live instance; undefined once its heartbeats lapsed. */
  async get(instanceId: string): Promise<InstanceInfo | undefined> {
    return parseInfo(await this.redis.get(this.keys.instance(instanceId)));
  }

  /** Every live instance; stale members of the id set are pruned on the way. */
  async list(): Promise<InstanceInfo[]> {
    const ids = await this.redis.smembers(this.keys.instances());
    if (ids.length === 0) return [];
    const values = await this.redis.mget(ids.map((id) => this.keys.instance(id)));
    const live: InstanceInfo[] = [];
    const stale: string[] = [];
    ids.forEach((id, i) => {
      const info = parseInfo(values[i] ?? null);
      if (info) live.push(info);
      else stale.push(id);
    });
    if (stale.length > 0) await this.redis.srem(this.keys.instances(), ...stale);
    return live;
  }

  /** Withdraw an instance (orderly shutdown). */
  async remove(instanceId: string): Promise<void> {
    await this.redis
      .multi()
      .del(this.keys.instance(instanceId))
      .srem(this.keys.instances(), instanceId)
      .exec();
  }
}

function parseInfo(raw: string | null): InstanceInfo | undefined {
  if (!raw) return undefined;
  try {
    const v = JSON.parse(raw) as Partial<InstanceInfo>;
    if (typeof v.id !== 'string' || typeof v.url !== 'string') return undefined;
    return {
      id: v.id,
      url: v.url,
      activeCalls: Number(v.activeCalls) || 0,
      maxCalls: Number(v.maxCalls) || 0,
      startedAt: Number(v.startedAt) || 0,
      updatedAt: Number(v.updatedAt) || 0,
      ...(typeof v.region === 'string' && v.region ? { region: v.region } : {}),
      ...(typeof v.accepting === 'boolean' ? { accepting: v.accepting } : {}),
      ...(v.twilio === true ? { twilio: true } : {}),
      ...(v.draining === true ? { draining: true } : {}),
    };
  } catch {
    return undefined;
  }
}
