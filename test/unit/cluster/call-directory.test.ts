import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { DirectoryUnavailableError } from '../../../src/calls/call-errors.js';
import { CallRegistry } from '../../../src/calls/call-registry.js';
import {
  CallDirectory,
  ClusterKeys,
  ClusterNode,
  InstanceRegistry,
  RedisUnavailableError,
} from '../../../src/cluster/index.js';
import { loadConfig } from '../../../src/config/index.js';
import { silentLogger } from '../../../src/log/index.js';
import { waitForTcp } from '../../../testbed/ports.js';
import { startProcess, type ManagedProcess } from '../../../testbed/process.js';
import { startRedis, type RedisHandle } from '../../../testbed/redis.js';

let redis: RedisHandle;
let client: Redis;
const keys = new ClusterKeys('unit:');

before(async () => {
  redis = await startRedis();
  client = new Redis(redis.url);
});

after(async () => {
  client?.disconnect();
  await redis?.stop();
});

function nodeConfig(id: string, url: string, heartbeatSeconds = 0.1) {
  return loadConfig({
    env: {
      LIVEKIT_API_KEY: 'k',
      LIVEKIT_API_SECRET: 'a-test-secret-of-at-least-32-chars',
      REDIS_URL: url,
      REDIS_KEY_PREFIX: 'unit:',
      INSTANCE_ID: id,
      INSTANCE_URL: `http://127.0.0.1:1/${id}`,
      CLUSTER_HEARTBEAT_SECONDS: String(heartbeatSeconds),
      MAX_CONCURRENT_CALLS: '4',
    },
  });
}

async function until(check: () => Promise<boolean>, timeoutMs: number, what: string) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('the first claim of a call wins; a later claim learns the owner; only the owner releases', async () => {
  const directory = new CallDirectory({ redis: client, keys, ttlMs: 10_000 });
  assert.equal(await directory.claim('wacid.1', 'node-a'), 'node-a');
  assert.equal(await directory.claim('wacid.1', 'node-b'), 'node-a');
  assert.equal(await directory.claim('wacid.1', 'node-a'), 'node-a');
  assert.equal(await directory.release('wacid.1', 'node-b'), false);
  assert.equal(await directory.owner('wacid.1'), 'node-a');
  assert.equal(await directory.release('wacid.1', 'node-a'), true);
  assert.equal(await directory.owner('wacid.1'), undefined);
});

test('concurrent claims of one call from many instances elect exactly one owner', async () => {
  const directory = new CallDirectory({ redis: client, keys, ttlMs: 10_000 });
  const ids = Array.from({ length: 8 }, (_, i) => `node-${i}`);
  const owners = await Promise.all(ids.map((id) => directory.claim('wacid.race', id)));
  assert.equal(new Set(owners).size, 1);
  assert.ok(ids.includes(owners[0]!));
});

test('peers with capacity are listed least loaded first, without full, stale or own records', async () => {
  const instances = new InstanceRegistry({ redis: client, keys, ttlMs: 10_000 });
  const now = Date.now();
  const base = { url: 'http://x', startedAt: now, updatedAt: now, maxCalls: 10 };
  await instances.announce({ ...base, id: 'self', activeCalls: 0 });
  await instances.announce({ ...base, id: 'busy', activeCalls: 7 });
  await instances.announce({ ...base, id: 'idle', activeCalls: 1 });
  await instances.announce({ ...base, id: 'full', activeCalls: 10 });
  await client.sadd(keys.instances(), 'stale');
  const node = new ClusterNode({
    config: nodeConfig('self', redis.url),
    registry: new CallRegistry(),
    logger: silentLogger,
  });
  try {
    await node.start(0);
    const peers = await node.peersWithCapacity();
    assert.deepEqual(
      peers.map((p) => p.id),
      ['idle', 'busy'],
    );
    assert.equal(await client.sismember(keys.instances(), 'stale'), 0);
  } finally {
    await node.close();
    for (const id of ['busy', 'idle', 'full']) await instances.remove(id);
  }
});

test('the calls of an instance whose heartbeats stop vanish from the directory after the TTL', async () => {
  const registry = new CallRegistry();
  const dying = new ClusterNode({
    config: nodeConfig('dying', redis.url),
    registry,
    logger: silentLogger,
  });
  const observer = new ClusterNode({
    config: nodeConfig('observer', redis.url),
    registry: new CallRegistry(),
    logger: silentLogger,
  });
  try {
    await dying.start(0);
    await observer.start(0);
    await dying.register('wacid.held');
    const owner = await observer.ownerOf('wacid.held');
    assert.equal(owner.kind, 'peer');
    // Heartbeats keep it alive well past one TTL (0.3 s).
    await new Promise((r) => setTimeout(r, 700));
    assert.equal((await observer.ownerOf('wacid.held')).kind, 'peer');
    // The instance loses Redis for good (crash, partition): no withdrawal, no refresh.
    dying.redis.disconnect();
    await until(
      async () => (await client.get(keys.call('wacid.held'))) === null,
      3000,
      'the entry to expire',
    );
    assert.notEqual((await observer.ownerOf('wacid.held')).kind, 'peer');
    assert.equal(await client.get(keys.instance('dying')), null);
  } finally {
    await dying.close();
    await observer.close();
  }
});

test('with Redis unreachable, lookups fail at once with an actionable, retryable error', async () => {
  const node = new ClusterNode({
    config: nodeConfig('lonely', 'redis://127.0.0.1:1'),
    registry: new CallRegistry(),
    logger: silentLogger,
  });
  try {
    await node.start(0);
    await assert.rejects(node.ownerOf('wacid.any'), (err: Error) => {
      assert.ok(err instanceof RedisUnavailableError);
      assert.ok(err instanceof DirectoryUnavailableError);
      assert.equal(err.retryable, true);
      assert.match(err.message, /REDIS_URL/);
      return true;
    });
    // Publishing ownership is best effort: it neither throws nor hangs.
    await node.register('wacid.mine');
  } finally {
    await node.close();
  }
});

test('after a Redis restart that lost every key, the instance reconnects and republishes itself and its calls', async () => {
  const first = await startRedis();
  const node = new ClusterNode({
    config: nodeConfig('phoenix', first.url),
    registry: new CallRegistry(),
    logger: silentLogger,
  });
  let second: ManagedProcess | undefined;
  const inspect = new Redis(first.url, { lazyConnect: true, retryStrategy: () => 100 });
  try {
    await node.start(0);
    await node.register('wacid.survivor');
    await first.stop();
    await until(async () => !node.isRedisConnected, 3000, 'the loss of Redis to be seen');
    second = startProcess(
      'redis-server',
      ['--port', String(first.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
      { name: 'redis-restarted' },
    );
    await waitForTcp(first.port, 10_000);
    await until(async () => node.isRedisConnected, 5000, 'the reconnect');
    await inspect.connect();
    await until(
      async () => (await inspect.get(keys.call('wacid.survivor'))) === 'phoenix',
      3000,
      'the call to be republished',
    );
    assert.ok(await inspect.get(keys.instance('phoenix')));
  } finally {
    inspect.disconnect();
    await node.close();
    await second?.stop();
  }
});
