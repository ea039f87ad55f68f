import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '../../../src/config/index.js';
import { DEV_API_KEY, devApiSecret, realNumbersConfig } from '../../../src/devstack/dev-stack.js';
import { PUBLIC_DEV_API_SECRET } from '../../../src/devstack/livekit-server.js';

const dir = mkdtempSync(join(tmpdir(), 'wac-devstack-'));
const livekit = {
  LIVEKIT_URL: 'ws://127.0.0.1:7880',
  LIVEKIT_API_KEY: DEV_API_KEY,
  LIVEKIT_API_SECRET: 'generated-secret-generated-secret-0123',
};

function realConfigFile(extra = ''): string {
  const path = join(dir, `real-${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(
    path,
    `bind_address: 0.0.0.0
internal_bind_address: 0.0.0.0
whatsapp:
  graph_url: https://graph.facebook.com
  numbers:
    - phone_number_id: '1065'
      access_token: EAAG-real-token
${extra}`,
  );
  return path;
}

test('dev with real numbers listens on loopback only, whatever the file says', () => {
  const config = realNumbersConfig(realConfigFile(), livekit, { port: 8080 }, {});
  assert.ok(config);
  assert.equal(config.bindAddress, '127.0.0.1');
  assert.equal(config.internal.bindAddress, '127.0.0.1');
  assert.equal(config.livekit.apiSecret, livekit.LIVEKIT_API_SECRET);
});

test('dev with real numbers refuses the published development secret, from the shell or the file', () => {
  assert.throws(
    () =>
      realNumbersConfig(
        realConfigFile(),
        livekit,
        { port: 8080 },
        {
          LIVEKIT_API_SECRET: PUBLIC_DEV_API_SECRET,
        },
      ),
    (err: unknown) => err instanceof ConfigError && err.setting === 'LIVEKIT_API_SECRET',
  );
  assert.throws(
    () =>
      realNumbersConfig(
        realConfigFile(`api_keys:\n  other: ${PUBLIC_DEV_API_SECRET}\n`),
        livekit,
        { port: 8080 },
        {},
      ),
    (err: unknown) =>
      err instanceof ConfigError &&
      err.setting === 'api_keys.other' &&
      /published development secret/.test(err.message),
  );
});

test('a configuration without real numbers leaves dev on the simulator', () => {
  const path = join(dir, 'no-numbers.yaml');
  writeFileSync(path, 'log_level: debug\n');
  assert.equal(realNumbersConfig(path, livekit, { port: 8080 }, {}), undefined);
  assert.equal(realNumbersConfig(undefined, livekit, { port: 8080 }, {}), undefined);
});

test('the dev API secret is generated once, long, private to the user, and kept', () => {
  const runDir = join(dir, 'run');
  const first = devApiSecret(runDir);
  assert.ok(first.length >= 32);
  assert.notEqual(first, PUBLIC_DEV_API_SECRET);
  assert.equal(devApiSecret(runDir), first);
  assert.equal(statSync(join(runDir, 'livekit-api-secret')).mode & 0o777, 0o600);
  assert.notEqual(devApiSecret(join(dir, 'other-run')), first);
});
