import { ConnectorError } from '../errors/index.js';

/** Redis could not be asked (down, unreachable, timing out): `unavailable`, retry shortly. */
export class RedisUnavailableError extends ConnectorError {
  override readonly name = 'RedisUnavailableError';

  constructor(what: string, cause?: unknown) {
    super(
      'unavailable',
      `cluster directory (Redis) unreachable while ${what}; retry shortly, or send the request to the instance that holds the call (check REDIS_URL and that Redis is up)`,
      {},
      { cause },
    );
  }
}

/**
 * The ConnectorErrors of scale-out. Messages say what to do, since they reach API clients through
 * any instance and the operator reading them may not know which instance answered.
 */
export const clusterErrors = {
  /** Redis could not be asked who owns a call (or where to place one). */
  redisUnavailable: (what: string, cause?: unknown): RedisUnavailableError =>
    new RedisUnavailableError(what, cause),

  /** The call's owner stopped heartbeating: its calls are gone with it. */
  ownerGone: (instanceId: string): ConnectorError =>
    new ConnectorError(
      'not_found',
      `whatsapp call not found: instance ${instanceId} that held it is no longer running`,
      { instance: instanceId },
    ),

  /** The owner is registered but could not be reached over the internal endpoint. */
  ownerUnreachable: (instanceId: string, url: string, cause?: unknown): ConnectorError =>
    new ConnectorError(
      'unavailable',
      `instance ${instanceId} holding this call is unreachable at ${url} (check INSTANCE_URL and that instances can reach each other); retry shortly`,
      { instance: instanceId },
      { cause },
    ),

  /** A forwarded request would be forwarded again: the directory changed under it. */
  ownershipMoved: (): ConnectorError =>
    new ConnectorError(
      'aborted',
      'the call changed owner while the request was forwarded between instances; retry',
    ),
} as const;
