import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ConfigError,
  MIN_API_SECRET_LENGTH,
  isLoopbackHost,
  loadConfig,
  resolveSecretFiles,
} from '../../../src/config/index.js';

const SECRET = 'x'.repeat(MIN_API_SECRET_LENGTH);
const base = { LIVEKIT_API_KEY: 'APIkey', LIVEKIT_API_SECRET: SECRET };

const dir = mkdtempSync(join(tmpdir(), 'wac-hardening-'));
function file(name: string, content: string): string {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
}

function refusal(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  assert.fail('expected a ConfigError');
}

test('an API secret shorter than 32 characters is refused, naming the setting but not the secret', () => {
  const short = 'only-31-characters-long-secret!';
  assert.equal(short.length, 31);
  const err = refusal(() => loadConfig({ env: { ...base, LIVEKIT_API_SECRET: short } }));
  assert.equal(err.setting, 'LIVEKIT_API_SECRET');
  assert.match(err.message, /at least 32 characters, this one has 31/);
  assert.ok(!err.message.includes(short));
  // Exactly 32 is fine.
  assert.equal(loadConfig({ env: base }).livekit.apiSecret, SECRET);
});

test('short secrets are refused wherever they come from: YAML, api_keys, CONNECTOR_API_KEYS', () => {
  const yaml = file('short.yaml', 'livekit:\n  api_key: k\n  api_secret: devsecret\n');
  assert.equal(
    refusal(() => loadConfig({ configFile: yaml, env: {} })).setting,
    'livekit.api_secret',
  );
  const keys = file('keys.yaml', `api_keys:\n  second: short-one\n`);
  assert.equal(
    refusal(() => loadConfig({ configFile: keys, env: base })).setting,
    'api_keys.second',
  );
  const err = refusal(() => loadConfig({ env: { ...base, CONNECTOR_API_KEYS: 'b: tiny' } }));
  assert.match(err.setting, /^CONNECTOR_API_KEYS/);
  assert.match(err.setting, /"b"/);
  assert.ok(!err.message.includes('tiny'));
});

test('a plain-http Graph URL is refused unless it points at loopback', () => {
  const err = refusal(() =>
    loadConfig({ env: { ...base, WHATSAPP_GRAPH_URL: 'http://graph.example.com' } }),
  );
  assert.equal(err.setting, 'WHATSAPP_GRAPH_URL');
  assert.match(err.message, /https/);
  assert.match(err.message, /loopback/);
  for (const local of ['http://127.0.0.1:8090', 'http://localhost:8090', 'http://[::1]:8090']) {
    assert.equal(
      loadConfig({ env: { ...base, WHATSAPP_GRAPH_URL: local } }).whatsapp.graphUrl,
      local,
    );
  }
  assert.equal(
    loadConfig({ env: { ...base, WHATSAPP_GRAPH_URL: 'https://graph.example.com/' } }).whatsapp
      .graphUrl,
    'https://graph.example.com',
  );
  assert.equal(
    refusal(() => loadConfig({ env: { ...base, WHATSAPP_GRAPH_URL: 'ftp://127.0.0.1' } })).setting,
    'WHATSAPP_GRAPH_URL',
  );
});

test('a malformed REDIS_URL is reported without its password', () => {
  for (const url of ['redis://:hunter2@[bad-host:6379', 'http://:hunter2@10.0.0.5:6379']) {
    const err = refusal(() => loadConfig({ env: { ...base, REDIS_URL: url } }));
    assert.equal(err.setting, 'REDIS_URL');
    assert.ok(!err.message.includes('hunter2'), err.message);
  }
});

test('secrets can be read from files named by *_FILE variables', () => {
  const secretFile = file('lk-secret', `${SECRET}-from-file\n`);
  const appSecretFile = file('app-secret', 'meta-app-secret');
  const redisFile = file('redis-url', 'redis://:pw@127.0.0.1:6379\n');
  const c = loadConfig({
    env: {
      LIVEKIT_API_KEY: 'k',
      LIVEKIT_API_SECRET_FILE: secretFile,
      WHATSAPP_APP_SECRET_FILE: appSecretFile,
      REDIS_URL_FILE: redisFile,
    },
  });
  // One trailing newline, as editors and `echo` leave it, is not part of the secret.
  assert.equal(c.livekit.apiSecret, `${SECRET}-from-file`);
  assert.equal(c.whatsapp.appSecret, 'meta-app-secret');
  assert.equal(c.redisUrl, 'redis://:pw@127.0.0.1:6379');
});

test('a secret given both directly and as a file, or in a file that cannot be read, is refused', () => {
  const both = refusal(() =>
    loadConfig({ env: { ...base, LIVEKIT_API_SECRET_FILE: file('s', SECRET) } }),
  );
  assert.equal(both.setting, 'LIVEKIT_API_SECRET_FILE');
  assert.match(both.message, /not both/);
  const missing = refusal(() =>
    loadConfig({ env: { LIVEKIT_API_KEY: 'k', LIVEKIT_API_SECRET_FILE: join(dir, 'absent') } }),
  );
  assert.equal(missing.setting, 'LIVEKIT_API_SECRET_FILE');
  assert.match(missing.message, /cannot read/);
  const empty = refusal(() =>
    loadConfig({ env: { LIVEKIT_API_KEY: 'k', LIVEKIT_API_SECRET_FILE: file('empty', '\n') } }),
  );
  assert.match(empty.message, /is empty/);
});

test('resolveSecretFiles turns X_FILE into X for the rest of the process', () => {
  const env: NodeJS.ProcessEnv = {
    WHATSAPP_ACCESS_TOKEN_FILE: file('token', 'EAAG-token\n'),
    UNRELATED_FILE: '/not/a/secret',
  };
  resolveSecretFiles(env);
  assert.equal(env.WHATSAPP_ACCESS_TOKEN, 'EAAG-token');
  assert.equal(env.WHATSAPP_ACCESS_TOKEN_FILE, undefined);
  assert.equal(env.UNRELATED_FILE, '/not/a/secret');
});

test('loopback hosts are recognised, other hosts are not', () => {
  for (const h of ['127.0.0.1', '127.8.9.10', 'localhost', '[::1]', '::1', 'app.localhost']) {
    assert.equal(isLoopbackHost(h), true, h);
  }
  for (const h of ['10.0.0.1', 'graph.facebook.com', '128.0.0.1', '[::2]', 'localhost.example']) {
    assert.equal(isLoopbackHost(h), false, h);
  }
});
