import { networkInterfaces } from 'node:os';
import { Redis } from 'ioredis';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { CallRegistry } from '../calls/call-registry.js';
import type { Config } from '../config/index.js';
import type { Logger } from '../log/index.js';
import { CallDirectory } from './call-directory.js';
import { RedisUnavailableError } from './cluster-errors.js';
import { ClusterKeys } from './cluster-keys.js';
import { InstanceRegistry, type InstanceInfo } from './instance-registry.js';

/** Heartbeats an entry survives without a refresh before its instance (and calls) count as gone. */
export const HEARTBEATS_PER_TTL = 3;
/** Per-command Redis timeout, ms: a lookup fails fast rather than hanging a request. */
const REDIS_COMMAND_TIMEOUT_MS = 1000;

/** Who owns a call, as the directory says. */
export type CallOwner =
  | { kind: 'none' }
  | { kind: 'self' }
  | { kind: 'peer'; info: InstanceInfo }
  /** The directory named an instance whose heartbeats lapsed; its entry was dropped. */
  | { kind: 'gone'; instanceId: string };

export interface ClusterNodeOptions {
  /** `redisUrl` must be set; `cluster`, `livekit`, `bindAddress`, `calls.maxConcurrentCalls` used. */
  config: Config;
  /** The registry of the local call bridge: its calls are published as owned here. */
  registry: CallRegistry;
  logger: Logger;
  /** Prometheus registry to add the cluster metrics to (e.g. `ConnectorServer.metrics`). */
  metrics?: Registry;
  /**
   * Optional - whether admission control lets new calls in now; published in the heartbeat so
   * peers do not send new calls to a busy instance. Default: always.
   */
  accepting?: () => boolean;
}

/**
 * This instance's membership of the cluster: a Redis connection, the heartbeat that keeps the
 * instance record and its calls' directory entries alive, and lookups of call owners and peers.
 * Without Redis the calls it owns keep working; lookups fail with `unavailable` until ioredis
 * reconnects, and the next heartbeat then republishes everything this instance owns.
 */
export class ClusterNode {
  readonly instanceId: string;
  readonly redis: Redis;
  readonly directory: CallDirectory;
  readonly instances: InstanceRegistry;
  /** Redis key layout of this cluster. */
  readonly keys: ClusterKeys;
  private readonly config: Config;
  private readonly registry: CallRegistry;
  private readonly logger: Logger;
  private readonly accepting: () => boolean;
  /** Calls this instance owns or has claimed (accepts in flight). */
  private readonly owned = new Set<string>();
  private readonly startedAt = Date.now();
  private readonly heartbeatMs: number;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private advertisedUrl = '';
  private redisUp = false;
  private draining = false;
  private closed = false;
  private closing: Promise<void> | undefined;
  private readonly forwardedCounter: Counter<'operation' | 'outcome'> | undefined;
  private readonly instancesGauge: Gauge | undefined;
  /** Redis writes under way: `close()` waits for them so none lands after the withdrawal. */
  private readonly writes = new Set<Promise<unknown>>();
  private readonly onAdded = (call: { callId: string }) => void this.register(call.callId);
  private readonly onRemoved = (callId: string) => void this.release(callId);

  constructor(options: ClusterNodeOptions) {
    const { config } = options;
    if (!config.redisUrl) throw new Error('ClusterNode needs config.redisUrl');
    this.config = config;
    this.registry = options.registry;
    this.accepting = options.accepting ?? (() => true);
    this.logger = options.logger.child({
      component: 'cluster',
      instance: config.cluster.instanceId,
    });
    this.instanceId = config.cluster.instanceId;
    this.heartbeatMs = config.cluster.heartbeatSeconds * 1000;
    const ttlMs = Math.ceil(this.heartbeatMs * HEARTBEATS_PER_TTL);
    const keys = new ClusterKeys(config.cluster.keyPrefix);
    this.keys = keys;
    this.redis = new Redis(config.redisUrl, {
      lazyConnect: true,
      // Fail commands at once while disconnected instead of queueing them behind a reconnect:
      // a request waiting on Redis is worse than a clear `unavailable`.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      commandTimeout: REDIS_COMMAND_TIMEOUT_MS,
      retryStrategy: (times) => Math.min(times * 200, 2000),
    });
    this.redis.on('ready', () => {
      if (!this.redisUp) this.logger.info('connected to Redis');
      this.redisUp = true;
      // After an outage (or a Redis restart that lost data) republish what we own right away.
      if (this.heartbeatTimer) void this.heartbeat();
    });
    this.redis.on('error', (err: Error) => {
      // ioredis repeats this on every reconnect attempt: report the transition only. The URL
      // may hold a password, so it is never logged.
      if (this.redisUp || !this.heartbeatTimer) {
        this.logger.warn({ reason: err.message }, 'Redis unreachable (REDIS_URL); retrying');
      }
      this.redisUp = false;
    });
    this.redis.on('close', () => (this.redisUp = false));
    this.directory = new CallDirectory({ redis: this.redis, keys, ttlMs });
    this.instances = new InstanceRegistry({ redis: this.redis, keys, ttlMs });
    this.registry.on('added', this.onAdded);
    this.registry.on('removed', this.onRemoved);

    if (options.metrics) {
      const registers = [options.metrics];
      const registry = options.registry;
      const redisUp = () => this.redisUp;
      new Gauge({
        name: 'whatsapp_connector_cluster_active_calls',
        help: 'Calls not yet ended on this instance (also published in its heartbeat)',
        registers,
        collect() {
          this.set(registry.activeCount);
        },
      });
      new Gauge({
        name: 'whatsapp_connector_cluster_redis_connected',
        help: '1 while the connection to Redis is up',
        registers,
        collect() {
          this.set(redisUp() ? 1 : 0);
        },
      });
      this.instancesGauge = new Gauge({
        name: 'whatsapp_connector_cluster_instances',
        help: 'Live instances seen at the last heartbeat (this one included)',
        registers,
      });
      this.forwardedCounter = new Counter({
        name: 'whatsapp_connector_cluster_forwarded_requests_total',
        help: 'Requests and webhook events forwarded to the instance owning the call',
        labelNames: ['operation', 'outcome'],
        registers,
      });
    }
  }

  /** URL other instances reach this one at. */
  get url(): string {
    return this.advertisedUrl;
  }

  get isRedisConnected(): boolean {
    return this.redisUp;
  }

  /**
   * Connect and start heartbeats once the listener is up (`port` is the bound one). Redis being
   * down is not fatal: the instance serves its own calls and joins once Redis is back.
   */
  async start(port: number): Promise<void> {
    this.advertisedUrl = this.config.cluster.instanceUrl ?? defaultInstanceUrl(this.config, port);
    try {
      await this.redis.connect();
    } catch (err) {
      this.logger.warn(
        { reason: (err as Error).message },
        'Redis unreachable at start (REDIS_URL); serving local calls only until it is back',
      );
    }
    await this.warnOnDuplicateId();
    this.heartbeatTimer = setInterval(() => void this.heartbeat(), this.heartbeatMs);
    this.heartbeatTimer.unref();
    await this.heartbeat();
    this.logger.info({ url: this.advertisedUrl }, 'cluster instance started');
  }

  /** Publish this instance's record and refresh its calls' entries. Never throws. */
  async heartbeat(): Promise<void> {
    if (this.closed || !this.advertisedUrl) return;
    await this.track(async () => {
      try {
        await this.instances.announce(this.info());
        await this.directory.register(this.instanceId, this.owned);
        if (this.instancesGauge) this.instancesGauge.set((await this.instances.list()).length);
      } catch (err) {
        this.logger.debug({ reason: (err as Error).message }, 'heartbeat failed');
      }
    });
  }

  /** This instance's heartbeat record. */
  info(): InstanceInfo {
    return {
      id: this.instanceId,
      url: this.advertisedUrl,
      activeCalls: this.registry.activeCount,
      maxCalls: this.config.calls.maxConcurrentCalls,
      startedAt: this.startedAt,
      updatedAt: Date.now(),
      ...(this.config.regions.region ? { region: this.config.regions.region } : {}),
      accepting: this.accepting(),
      // Twilio connects to the URL the issuing instance built: only one with its own PUBLIC_URL
      // can take Twilio calls placed by a peer.
      ...(this.config.publicUrl ? { twilio: true } : {}),
      ...(this.draining ? { draining: true } : {}),
    };
  }

  /**
   * Shutting down: peers stop placing new calls (and inbound connects) here. Published at once,
   * then with every heartbeat.
   */
  async setDraining(): Promise<void> {
    if (this.draining) return;
    this.draining = true;
    await this.heartbeat();
  }

  /**
   * Ids of the live (heartbeating) instances, this one included.
   * @throws RedisUnavailableError when Redis cannot be asked.
   */
  async liveInstanceIds(): Promise<Set<string>> {
    try {
      return new Set((await this.instances.list()).map((i) => i.id));
    } catch (err) {
      throw new RedisUnavailableError('listing live instances', err);
    }
  }

  /**
   * Who owns `callId`. An entry naming an instance whose heartbeats lapsed is dropped and
   * reported as `gone`.
   * @throws RedisUnavailableError when Redis cannot be asked.
   */
  async ownerOf(callId: string): Promise<CallOwner> {
    try {
      const id = await this.directory.owner(callId);
      return await this.describe(callId, id);
    } catch (err) {
      throw new RedisUnavailableError('looking up which instance holds the call', err);
    }
  }

  /**
   * Claim `callId` for this instance unless another live instance holds it.
   * @throws RedisUnavailableError when Redis cannot be asked.
   */
  async claim(callId: string): Promise<CallOwner> {
    try {
      for (let attempt = 0; attempt < 3; attempt++) {
        const id = await this.directory.claim(callId, this.instanceId);
        if (id === this.instanceId) {
          this.owned.add(callId);
          return { kind: 'self' };
        }
        const owner = await this.describe(callId, id);
        // A dead owner's entry was just dropped: the call is free to claim again.
        if (owner.kind !== 'gone') return owner;
      }
    } catch (err) {
      throw new RedisUnavailableError('claiming the call for this instance', err);
    }
    return { kind: 'none' };
  }

  /** Publish that this instance owns `callId`. Best effort: the heartbeat retries. */
  async register(callId: string): Promise<void> {
    if (this.closed) return;
    this.owned.add(callId);
    await this.track(async () => {
      try {
        await this.directory.register(this.instanceId, [callId]);
      } catch (err) {
        this.logger.warn(
          { callId, reason: (err as Error).message },
          'could not publish call ownership; retried at the next heartbeat',
        );
      }
    });
  }

  /** Drop this instance's entry for `callId`. Best effort: an unrefreshed entry expires. */
  async release(callId: string): Promise<void> {
    this.owned.delete(callId);
    try {
      await this.directory.release(callId, this.instanceId);
    } catch (err) {
      this.logger.debug({ callId, reason: (err as Error).message }, 'could not release call');
    }
  }

  /**
   * Other live instances with room for a call (and admitting calls), least loaded first.
   * @throws RedisUnavailableError when Redis cannot be asked.
   */
  async peersWithCapacity(): Promise<InstanceInfo[]> {
    let all: InstanceInfo[];
    try {
      all = await this.instances.list();
    } catch (err) {
      throw new RedisUnavailableError('looking for an instance with capacity', err);
    }
    return all
      .filter(
        (i) =>
          i.id !== this.instanceId &&
          !i.draining &&
          i.activeCalls < i.maxCalls &&
          i.accepting !== false,
      )
      .sort((a, b) => a.activeCalls / a.maxCalls - b.activeCalls / b.maxCalls);
  }

  /**
   * Publish that this instance holds the Twilio call of connect-URL session `sessionId`, until
   * the URL expires (a stream reaching another instance is relayed here).
   * @throws RedisUnavailableError when Redis cannot be written.
   */
  async publishTwilioStream(sessionId: string, expiresAtMs: number): Promise<void> {
    const ttlMs = Math.max(1000, expiresAtMs - Date.now());
    try {
      await this.redis.set(this.keys.twilioStream(sessionId), this.instanceId, 'PX', ttlMs);
    } catch (err) {
      throw new RedisUnavailableError('publishing a Twilio connect URL', err);
    }
  }

  /**
   * The live peer holding the Twilio call of connect-URL session `sessionId`; undefined when it
   * is this instance, nobody, or an instance that is gone.
   * @throws RedisUnavailableError when Redis cannot be asked.
   */
  async twilioStreamHolder(sessionId: string): Promise<InstanceInfo | undefined> {
    try {
      const id = await this.redis.get(this.keys.twilioStream(sessionId));
      if (id === null || id === this.instanceId) return undefined;
      return await this.instances.get(id);
    } catch (err) {
      throw new RedisUnavailableError('looking up a Twilio connect URL', err);
    }
  }

  /** Count a forwarded request for `/metrics`. */
  recordForward(operation: string, outcome: string): void {
    this.forwardedCounter?.inc({ operation, outcome });
  }

  /** Withdraw this instance and its calls' entries, then disconnect. Idempotent. */
  async close(): Promise<void> {
    this.closing ??= (async () => {
      this.closed = true;
      if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
      this.registry.off('added', this.onAdded);
      this.registry.off('removed', this.onRemoved);
      while (this.writes.size > 0) await Promise.allSettled([...this.writes]);
      if (this.redisUp) {
        try {
          await Promise.all(
            [...this.owned].map((id) => this.directory.release(id, this.instanceId)),
          );
          await this.instances.remove(this.instanceId);
        } catch (err) {
          this.logger.warn(
            { reason: (err as Error).message },
            'could not withdraw from Redis; entries expire on their own',
          );
        }
      }
      this.owned.clear();
      this.redis.disconnect();
    })();
    return this.closing;
  }

  /** Two live instances with one INSTANCE_ID would serve each other's calls as their own. */
  private async warnOnDuplicateId(): Promise<void> {
    try {
      const existing = await this.instances.get(this.instanceId);
      if (existing && existing.url !== this.advertisedUrl) {
        this.logger.error(
          { otherUrl: existing.url, url: this.advertisedUrl },
          'another live instance uses the same INSTANCE_ID; give every instance its own',
        );
      }
    } catch {
      // Redis down: nothing to compare with; the heartbeat will report it.
    }
  }

  private async track(work: () => Promise<void>): Promise<void> {
    const write = work();
    this.writes.add(write);
    try {
      await write;
    } finally {
      this.writes.delete(write);
    }
  }

  private async describe(callId: string, ownerId: string | undefined): Promise<CallOwner> {
    if (ownerId === undefined) return { kind: 'none' };
    if (ownerId === this.instanceId) return { kind: 'self' };
    const info = await this.instances.get(ownerId);
    if (info) return { kind: 'peer', info };
    await this.directory.release(callId, ownerId);
    return { kind: 'gone', instanceId: ownerId };
  }
}

/** `http://<address>:<port>` of this listener as seen from other hosts. */
export function defaultInstanceUrl(config: Config, port: number): string {
  let host = config.bindAddress;
  if (host === '0.0.0.0' || host === '::' || host === '') {
    const addresses = Object.values(networkInterfaces()).flatMap((list) => list ?? []);
    host = addresses.find((a) => a.family === 'IPv4' && !a.internal)?.address ?? '127.0.0.1';
  }
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
}
