import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig } from '../../../src/config/index.js';

const SECRET = 'a-livekit-api-secret-of-32-chars!';
const base = { LIVEKIT_API_KEY: 'key', LIVEKIT_API_SECRET: SECRET };

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
  assert.deepEqual(c.apiKeys, { key: SECRET });
  assert.equal(c.bindAddress, '0.0.0.0');
  assert.equal(c.internal.port, 8081);
  assert.equal(c.internal.bindAddress, '127.0.0.1');
  assert.equal(c.connectorApiEnabled, true);
  assert.equal(c.maxConnections, 512);
  assert.equal(c.internal.maxConnections, 64);
  assert.equal(c.stateDir, join(process.cwd(), '.whatsapp-connector'));
});

test('environment overrides the YAML file, and CLI overrides the environment', () => {
  const path = yamlFile(
    `port: 9000\nlivekit:\n  url: ws://lk.example:7880\n  api_key: filekey\n  api_secret: ${SECRET}-file\n`,
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
  assert.equal(fromEnv.livekit.apiSecret, `${SECRET}-file`);
  assert.equal(
    loadConfig({ configFile: path, env: { PORT: '9100' }, overrides: { port: 9200 } }).port,
    9200,
  );
});

test('several Connector API keys can be configured', () => {
  const c = loadConfig({ env: { ...base, CONNECTOR_API_KEYS: `a: ${SECRET}a, b: ${SECRET}b` } });
  assert.deepEqual(c.apiKeys, { a: `${SECRET}a`, b: `${SECRET}b`, key: SECRET });
});

test('the internal port follows the public one, and is any free port when the public one is', () => {
  assert.equal(loadConfig({ env: { ...base, PORT: '9000' } }).internal.port, 9001);
  assert.equal(loadConfig({ env: { ...base, PORT: '0' } }).internal.port, 0);
  assert.equal(loadConfig({ env: base, overrides: { port: 0 } }).internal.port, 0);
  const set = loadConfig({
    env: { ...base, INTERNAL_PORT: '9500', INTERNAL_BIND_ADDRESS: '10.0.0.7' },
  });
  assert.equal(set.internal.port, 9500);
  assert.equal(set.internal.bindAddress, '10.0.0.7');
  const file = loadConfig({
    configFile: yamlFile(
      'internal_port: 7001\ninternal_bind_address: 10.1.1.1\nconnector_api_enabled: false\nmax_connections: 100\nstate_dir: /var/lib/wac\n',
    ),
    env: base,
  });
  assert.equal(file.internal.port, 7001);
  assert.equal(file.internal.bindAddress, '10.1.1.1');
  assert.equal(file.connectorApiEnabled, false);
  assert.equal(file.maxConnections, 100);
  assert.equal(file.stateDir, '/var/lib/wac');
  assert.equal(
    loadConfig({ env: { ...base, CONNECTOR_API_ENABLED: 'false' } }).connectorApiEnabled,
    false,
  );
});

test('STATE_DIR is resolved against the working directory', () => {
  const c = loadConfig({ env: { ...base, STATE_DIR: 'state' }, cwd: '/srv/connector' });
  assert.equal(c.stateDir, '/srv/connector/state');
});

const bad: Array<[string, Record<string, string>, string]> = [
  ['missing API key', { LIVEKIT_API_SECRET: SECRET }, 'LIVEKIT_API_KEY'],
  ['missing API secret', { LIVEKIT_API_KEY: 'k' }, 'LIVEKIT_API_SECRET'],
  ['non-numeric port', { ...base, PORT: 'eighty' }, 'PORT'],
  ['port out of range', { ...base, PORT: '70000' }, 'PORT'],
  ['graph URL not a URL', { ...base, WHATSAPP_GRAPH_URL: 'graph' }, 'WHATSAPP_GRAPH_URL'],
  ['redis URL with wrong scheme', { ...base, REDIS_URL: 'http://127.0.0.1:6379' }, 'REDIS_URL'],
  ['unknown log level', { ...base, LOG_LEVEL: 'loud' }, 'LOG_LEVEL'],
  ['LiveKit URL with wrong scheme', { ...base, LIVEKIT_URL: 'ftp://x' }, 'LIVEKIT_URL'],
  [
    'internal port equal to the public one',
    { ...base, PORT: '9000', INTERNAL_PORT: '9000' },
    'INTERNAL_PORT',
  ],
  ['internal port out of range', { ...base, INTERNAL_PORT: '65536' }, 'INTERNAL_PORT'],
  [
    'internal bind address not an address',
    { ...base, INTERNAL_BIND_ADDRESS: 'my host' },
    'INTERNAL_BIND_ADDRESS',
  ],
  ['connection cap of zero', { ...base, MAX_CONNECTIONS: '0' }, 'MAX_CONNECTIONS'],
  [
    'API switch that is not a boolean',
    { ...base, CONNECTOR_API_ENABLED: 'maybe' },
    'CONNECTOR_API_ENABLED',
  ],
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

test('transfer by data message is off unless TRANSFER_DATA_MESSAGES or calls.transfer_data_messages turns it on', () => {
  assert.equal(loadConfig({ env: base }).calls.transferDataMessages, false);
  assert.equal(
    loadConfig({ env: { ...base, TRANSFER_DATA_MESSAGES: 'true' } }).calls.transferDataMessages,
    true,
  );
  const path = yamlFile(`calls:\n  transfer_data_messages: true\n`);
  assert.equal(loadConfig({ configFile: path, env: base }).calls.transferDataMessages, true);
  assert.equal(
    loadConfig({ configFile: path, env: { ...base, TRANSFER_DATA_MESSAGES: 'no' } }).calls
      .transferDataMessages,
    false,
  );
  assert.throws(() => loadConfig({ env: { ...base, TRANSFER_DATA_MESSAGES: 'sometimes' } }), {
    message: /TRANSFER_DATA_MESSAGES.*expected true or false/,
  });
});

test('the operator console is off unless CONSOLE_ENABLED or console.enabled turns it on', () => {
  assert.equal(loadConfig({ env: base }).console.enabled, false);
  assert.equal(loadConfig({ env: { ...base, CONSOLE_ENABLED: 'true' } }).console.enabled, true);
  const path = yamlFile(`console:\n  enabled: true\n`);
  assert.equal(loadConfig({ configFile: path, env: base }).console.enabled, true);
  // The environment wins over the file.
  assert.equal(
    loadConfig({ configFile: path, env: { ...base, CONSOLE_ENABLED: 'false' } }).console.enabled,
    false,
  );
  assert.throws(() => loadConfig({ env: { ...base, CONSOLE_ENABLED: 'maybe' } }), {
    name: 'ConfigError',
    message: /CONSOLE_ENABLED.*expected true or false/,
  });
  assert.throws(() => loadConfig({ configFile: yamlFile('console:\n  enabled: 1\n'), env: base }), {
    message: /console\.enabled/,
  });
});

test('SHUTDOWN_DRAIN_SECONDS: 300 by default, from the file or the environment, never negative', () => {
  assert.equal(loadConfig({ env: base }).shutdownDrainSeconds, 300);
  const file = yamlFile('shutdown_drain_seconds: 45\n');
  assert.equal(loadConfig({ env: base, configFile: file }).shutdownDrainSeconds, 45);
  assert.equal(
    loadConfig({ env: { ...base, SHUTDOWN_DRAIN_SECONDS: '0' }, configFile: file })
      .shutdownDrainSeconds,
    0,
  );
  assert.throws(
    () => loadConfig({ env: { ...base, SHUTDOWN_DRAIN_SECONDS: '-1' } }),
    /SHUTDOWN_DRAIN_SECONDS/,
  );
});
