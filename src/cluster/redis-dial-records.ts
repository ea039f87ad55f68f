import type { Redis } from 'ioredis';
import type { DialResult } from '../calls/call-params.js';
import {
  DIAL_PENDING_TTL_MS,
  DIAL_RECORD_TTL_MS,
  type DialClaim,
  type DialRecord,
  type DialRecords,
} from '../calls/dial-records.js';
import { decodeError, encodeError, type EncodedError } from './cluster-error-codec.js';
import type { ClusterKeys } from './cluster-keys.js';

/** Poll period while waiting for a Dial running on another instance, ms. */
const WAIT_POLL_MS = 200;

type StoredRecord =
  | { state: 'pending' }
  | { state: 'done'; result: DialResult }
  | { state: 'failed'; error: EncodedError };

/**
 * Dial records shared by every instance of a cluster, in Redis, so that a Dial the client retries
 * through another instance answers the first Dial's outcome. The claim is one `SET NX`. Every
 * method rejects with the Redis client's error when Redis cannot be asked.
 */
export class RedisDialRecords implements DialRecords {
  constructor(
    private readonly redis: Redis,
    private readonly keys: ClusterKeys,
  ) {}

  async claim(key: string): Promise<DialClaim> {
    const pending = JSON.stringify({ state: 'pending' } satisfies StoredRecord);
    const won = await this.redis.set(this.keys.dial(key), pending, 'PX', DIAL_PENDING_TTL_MS, 'NX');
    if (won === 'OK') return { claimed: true };
    const record = await this.read(key);
    // Expired between the two commands: nobody has it now.
    if (!record) return this.claim(key);
    return { claimed: false, record };
  }

  async wait(key: string, timeoutMs: number, signal?: AbortSignal): Promise<DialRecord> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const record = (await this.read(key)) ?? { state: 'pending' };
      if (record.state !== 'pending' || Date.now() >= deadline || signal?.aborted) return record;
      await new Promise((resolve) => setTimeout(resolve, WAIT_POLL_MS));
    }
  }

  async complete(key: string, result: DialResult): Promise<void> {
    await this.write(key, { state: 'done', result });
  }

  async fail(key: string, error: Error): Promise<void> {
    await this.write(key, { state: 'failed', error: encodeError(error) });
  }

  async forget(key: string): Promise<void> {
    await this.redis.del(this.keys.dial(key));
  }

  private async write(key: string, record: StoredRecord): Promise<void> {
    await this.redis.set(this.keys.dial(key), JSON.stringify(record), 'PX', DIAL_RECORD_TTL_MS);
  }

  private async read(key: string): Promise<DialRecord | undefined> {
    const raw = await this.redis.get(this.keys.dial(key));
    if (!raw) return undefined;
    let stored: StoredRecord;
    try {
      stored = JSON.parse(raw) as StoredRecord;
    } catch {
      return undefined;
    }
    if (stored.state === 'done') return { state: 'done', result: stored.result };
    if (stored.state === 'failed') return { state: 'failed', error: decodeError(stored.error) };
    return { state: 'pending' };
  }
}
