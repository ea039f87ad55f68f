import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, loadConfig } from '../../../src/config/index.js';

const base = { LIVEKIT_API_KEY: 'k', LIVEKIT_API_SECRET: 'a-test-secret-of-at-least-32-chars' };

test('cluster settings have documented defaults', () => {
  const config = loadConfig({ env: { ...base } });
  assert.equal(config.redisUrl, undefined);
  assert.equal(config.cluster.keyPrefix, 'whatsapp-connector:');
  assert.equal(config.cluster.heartbeatSeconds, 5);
  assert.equal(config.cluster.instanceUrl, undefined);
  assert.match(config.cluster.instanceId, /^[A-Za-z0-9._-]+-\d+-[0-9a-f]{6}$/);
  // Two processes on one host get different default ids.
  assert.notEqual(loadConfig({ env: { ...base } }).cluster.instanceId, config.cluster.instanceId);
});

test('cluster settings are read from the environment', () => {
  const config = loadConfig({
    env: {
      ...base,
      REDIS_URL: 'redis://10.0.0.5:6379',
      INSTANCE_ID: 'eu-west-1.a',
      INSTANCE_URL: 'http://10.0.3.7:8080/',
      REDIS_KEY_PREFIX: 'prod:wa:',
      CLUSTER_HEARTBEAT_SECONDS: '2',
    },
  });
  assert.equal(config.cluster.instanceId, 'eu-west-1.a');
  assert.equal(config.cluster.instanceUrl, 'http://10.0.3.7:8080');
  assert.equal(config.cluster.keyPrefix, 'prod:wa:');
  assert.equal(config.cluster.heartbeatSeconds, 2);
});

test('bad cluster settings fail with the name of the setting', () => {
  const bad: [Record<string, string>, string][] = [
    [{ INSTANCE_ID: 'has space' }, 'INSTANCE_ID'],
    [{ INSTANCE_URL: 'ftp://x' }, 'INSTANCE_URL'],
    [{ CLUSTER_HEARTBEAT_SECONDS: '0' }, 'CLUSTER_HEARTBEAT_SECONDS'],
  ];
  for (const [env, setting] of bad) {
    assert.throws(
      () => loadConfig({ env: { ...base, ...env } }),
      (err: unknown) => err instanceof ConfigError && err.setting === setting,
    );
  }
});
