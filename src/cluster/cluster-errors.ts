import { DirectoryUnavailableError } from '../calls/call-errors.js';

/**
 * Redis could not be asked (down, unreachable, timing out) about who holds a call or where to
 * place one. Calls held by this instance keep working; retry shortly.
 */
export class RedisUnavailableError extends DirectoryUnavailableError {
  override readonly name = 'RedisUnavailableError';

  constructor(what: string, cause?: unknown) {
    super(
      `cluster directory (Redis) unreachable while ${what}; retry shortly, or send the request to the instance that holds the call (check REDIS_URL and that Redis is up)`,
      { cause },
    );
  }
}
