import type { Config } from '../config/index.js';
import type { Logger } from '../log/index.js';
import { systemClock, type StateStore, type StateStoreClock } from './state-store.js';

export interface OpenStateStoreOptions {
  logger?: Logger;
  /** Tests drive backoff and leases with a fake clock. */
  clock?: StateStoreClock;
  /**
   * The connector's own store (not a reader such as the CLI): with SQLite, hold `STATE_DIR`'s
   * lock so no second process uses it. Default false.
   */
  exclusive?: boolean;
}

/**
 * Open the state store the configuration names: Redis when `redisUrl` is set (keys under the
 * cluster's prefix), else SQLite in `stateDir`. The driver is loaded here, on demand.
 * @throws StoreUnavailableError when the local store cannot be opened (Redis being down is not
 * an error here: its operations fail until it is back).
 */
export async function openStateStore(
  config: Pick<Config, 'redisUrl' | 'stateDir'> & { cluster: Pick<Config['cluster'], 'keyPrefix'> },
  options: OpenStateStoreOptions = {},
): Promise<StateStore> {
  const clock = options.clock ?? systemClock;
  if (config.redisUrl) {
    const { RedisStateStore } = await import('./redis/redis-state-store.js');
    return RedisStateStore.open({
      url: config.redisUrl,
      keyPrefix: config.cluster.keyPrefix,
      logger: options.logger,
      clock,
    });
  }
  const { SqliteStateStore } = await import('./sqlite/sqlite-state-store.js');
  return SqliteStateStore.open(config.stateDir, clock, { exclusive: options.exclusive ?? false });
}
