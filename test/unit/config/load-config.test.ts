import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig } from '../../../src/config/index.js';

const base = { LIVEKIT_API_KEY: 'key', LIVEKIT_API_SECRET: 'secret' };

function yamlFile(text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'wac-config-'));
  const path = join(dir, 'config.yaml');
  writeFileSync(path, text);
  return path;
}

test('defaults apply when only the LiveKit keys are given', () => {
  const c = loadConfig({ env: base });
  assert.equal(c.port, 8080);
  assert.equal(c.whatsapp.graphUrl, 'https://graph.facebook.com');
  assert.equal(c.calls.ringingTimeoutSeconds, 30);
  assert.equal(c.redisUrl, undefined);
  assert.deepEqual(c.apiKeys, { key: 'secret' });
});

test('environment overrides the YAML file, and CLI overrides the environment', () => {
  const path = yamlFile(
    'port: 9000\nlivekit:\n  url: ws://lk.example:7880\n  api_key: filekey\n  api_secret: filesecret\n',
  );
  const fromFile = loadConfig({ configFile: path, env: {} });
  assert.equal(fromFile.port, 9000);
  assert.equal(fromFile.livekit.apiKey, 'filekey');
  const fromEnv = loadConfig({
    configFile: path,
    env: { PORT: '9100', LIVEKIT_API_KEY: 'envkey' },
  });
  assert.equal(fromEnv.port, 9100);
  assert.equal(fromEnv.livekit.apiKey, 'envkey');
  assert.equal(fromEnv.livekit.apiSecret, 'filesecret');
  assert.equal(
    loadConfig({ configFile: path, env: { PORT: '9100' }, overrides: { port: 9200 } }).port,
    9200,
  );
});

test('several Connector API keys can be configured', () => {
  const c = loadConfig({ env: { ...base, CONNECTOR_API_KEYS: 'a: sa, b: sb' } });
  assert.deepEqual(c.apiKeys, { a: 'sa', b: 'sb', key: 'secret' });
});

const bad: Array<[string, Record<string, string>, string]> = [
  ['missing API key', { LIVEKIT_API_SECRET: 's' }, 'LIVEKIT_API_KEY'],
  ['missing API secret', { LIVEKIT_API_KEY: 'k' }, 'LIVEKIT_API_SECRET'],
  ['non-numeric port', { ...base, PORT: 'eighty' }, 'PORT'],
  ['port out of range', { ...base, PORT: '70000' }, 'PORT'],
  ['graph URL not a URL', { ...base, WHATSAPP_GRAPH_URL: 'graph' }, 'WHATSAPP_GRAPH_URL'],
  ['redis URL with wrong scheme', { ...base, REDIS_URL: 'http://127.0.0.1:6379' }, 'REDIS_URL'],
  ['unknown log level', { ...base, LOG_LEVEL: 'loud' }, 'LOG_LEVEL'],
  ['LiveKit URL with wrong scheme', { ...base, LIVEKIT_URL: 'ftp://x' }, 'LIVEKIT_URL'],
];
for (const [what, env, setting] of bad) {
  test(`invalid configuration names the setting: ${what}`, () => {
    assert.throws(
      () => loadConfig({ env }),
      (err: unknown) =>
        err instanceof ConfigError && err.setting === setting && err.message.includes(setting),
    );
  });
}

test('an invalid YAML value names its path', () => {
  const path = yamlFile('calls:\n  ringing_timeout_seconds: -5\n');
  assert.throws(
    () => loadConfig({ configFile: path, env: base }),
    (err: unknown) => err instanceof ConfigError && err.setting === 'calls.ringing_timeout_seconds',
  );
});

test('a YAML file that does not parse is reported as such', () => {
  const path = yamlFile('port: [unclosed\n');
  assert.throws(() => loadConfig({ configFile: path, env: base }), /not valid YAML/);
});
