/** Redis key layout of one cluster, under a common prefix (`REDIS_KEY_PREFIX`). */
export class ClusterKeys {
  constructor(readonly prefix: string) {}

  /** String: id of the instance that owns the call. Expires unless its owner refreshes it. */
  call(callId: string): string {
    return `${this.prefix}call:${callId}`;
  }

  /**
   * String: JSON record of a Dial by its idempotency key (pending, its result, or its error).
   * Expires (see `DIAL_RECORD_TTL_MS`).
   */
  dial(idempotencyKey: string): string {
    return `${this.prefix}dial:${idempotencyKey}`;
  }

  /**
   * String: id of the instance holding the Twilio call of a connect URL (its session id).
   * Expires with the URL.
   */
  twilioStream(sessionId: string): string {
    return `${this.prefix}twilio-stream:${sessionId}`;
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
