/** Redis key layout of one cluster, under a common prefix (`REDIS_KEY_PREFIX`). */
export class ClusterKeys {
  constructor(readonly prefix: string) {}

  /** String: id of the instance that owns the call. Expires unless its owner refreshes it. */
  call(callId: string): string {
    return `${this.prefix}call:${callId}`;
  }

  /** String: JSON {@link InstanceInfo} of a live instance. Expires unless heartbeats refresh it. */
  instance(instanceId: string): string {
    return `${this.prefix}instance:${instanceId}`;
  }

  /** Set: ids of instances that announced themselves (members may be stale; the key decides). */
  instances(): string {
    return `${this.prefix}instances`;
  }
}
