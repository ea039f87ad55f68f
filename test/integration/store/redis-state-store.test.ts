import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  StoreUnavailableError,
  openStateStore,
  type StateStore,
} from '../../../src/store/index.js';
import { freeTcpPort } from '../../../testbed/ports.js';
import { startRedis, type RedisHandle } from '../../../testbed/redis.js';
import { describeStateStoreContract } from './state-store-contract.js';

let redis: RedisHandle;

before(async () => {
  redis = await startRedis();
});

after(async () => {
  await redis?.stop();
});

describeStateStoreContract('Redis', () =>
  openStateStore({
    redisUrl: redis.url,
    stateDir: '/nonexistent',
    cluster: { keyPrefix: 'contract:' },
  }),
);

test('with Redis unreachable, the store answers at once with a retryable unavailable error', async () => {
  const port = await freeTcpPort();
  const store: StateStore = await openStateStore({
    redisUrl: `redis://:s3cret-pw@127.0.0.1:${port}`,
    stateDir: '/nonexistent',
    cluster: { keyPrefix: 'down:' },
  });
  try {
    assert.equal(store.kind, 'redis');
    assert.equal(store.location, `redis://127.0.0.1:${port}`);
    const started = Date.now();
    await assert.rejects(
      store.queue('webhooks').enqueue('x'),
      (err: unknown) =>
        err instanceof StoreUnavailableError && err.retryable && !err.message.includes('s3cret-pw'),
    );
    await assert.rejects(store.calls.listByOwner('a'), StoreUnavailableError);
    assert.ok(Date.now() - started < 5000);
  } finally {
    await store.close();
  }
});

test('a queue keeps working after Redis lost its data (the consumer group is recreated)', async () => {
  const store = await openStateStore({
    redisUrl: redis.url,
    stateDir: '/nonexistent',
    cluster: { keyPrefix: 'flushed:' },
  });
  try {
    const q = store.queue('webhooks');
    await q.enqueue('before');
    const { Redis } = await import('ioredis');
    const admin = new Redis(redis.url);
    await admin.flushall();
    admin.disconnect();
    await q.enqueue('after');
    const [entry] = await q.claim('w');
    assert.equal(entry?.payload.toString(), 'after');
  } finally {
    await store.close();
  }
});
