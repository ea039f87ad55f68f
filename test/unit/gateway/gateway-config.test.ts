import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { ConfigError, loadConfig, type Config } from '../../../src/config/index.js';
import { loadGatewaySettings } from '../../../src/gateway/gateway-config.js';

function config(whatsapp: Record<string, unknown>): Config {
  const c = loadConfig({
    env: { LIVEKIT_API_KEY: 'k', LIVEKIT_API_SECRET: 'a-test-secret-of-at-least-32-chars' },
  });
  c.whatsapp.raw = whatsapp;
  return c;
}

test('a number’s inbound rule gets documented defaults', () => {
  const s = loadGatewaySettings(
    config({ numbers: [{ phone_number_id: '1', access_token: 't', inbound: {} }] }),
    {},
  );
  const rule = s.numbers[0]!;
  assert.equal(rule.apiVersion, '24.0');
  assert.equal(rule.checkCallPermission, true);
  assert.equal(rule.inbound?.room, 'whatsapp-{random}');
  assert.equal(rule.inbound?.participant.name, '{callerName}');
  assert.equal(rule.inbound?.accept, 'immediately');
  assert.equal(rule.inbound?.agentReadyTimeoutMs, 20_000);
  assert.equal(s.forwardMaxAttempts, 5);
  assert.equal(s.maxWebhookAgeSeconds, 300);
});

test('bad rules fail at start and name the setting', () => {
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ numbers: [{ phone_number_id: '1', inbound: {} }] }, /numbers\.0\.access_token/],
    [
      { numbers: [{ phone_number_id: '1', access_token: 't', inbound: { room: 'r-{nope}' } }] },
      /numbers\.0\.inbound\.room.*\{nope\}/,
    ],
    [
      {
        numbers: [
          {
            phone_number_id: '1',
            access_token: 't',
            inbound: { hours: { timezone: 'Mars/Olympus', open: [] } },
          },
        ],
      },
      /numbers\.0\.inbound\.hours/,
    ],
    [
      {
        numbers: [
          { phone_number_id: '1', access_token: 't' },
          { phone_number_id: '1', access_token: 't' },
        ],
      },
      /duplicate phone number id/,
    ],
    [{ numbers: [{ phone_number_id: '1', api_version: '12.0' }] }, /api_version/],
  ];
  for (const [whatsapp, message] of cases) {
    assert.throws(
      () => loadGatewaySettings(config(whatsapp), {}),
      (err: unknown) => err instanceof ConfigError && message.test(err.message),
      JSON.stringify(whatsapp),
    );
  }
});

test('a one-number setup can come from the environment alone', () => {
  const s = loadGatewaySettings(config({}), {
    WHATSAPP_PHONE_NUMBER_ID: '42',
    WHATSAPP_ACCESS_TOKEN: 'token',
    WHATSAPP_INBOUND_AGENT: 'support',
    WHATSAPP_CHECK_CALL_PERMISSION: 'false',
  });
  assert.equal(s.numbers[0]?.phoneNumberId, '42');
  assert.deepEqual(s.numbers[0]?.inbound?.agents, [{ name: 'support', metadata: undefined }]);
  assert.equal(s.numbers[0]?.checkCallPermission, false);
  assert.throws(
    () => loadGatewaySettings(config({}), { WHATSAPP_PHONE_NUMBER_ID: '42' }),
    /WHATSAPP_ACCESS_TOKEN/,
  );
});

test('loadConfig already refuses a malformed routing rule in the YAML file, naming its path', () => {
  const dir = mkdtempSync(join(tmpdir(), 'wa-config-'));
  const file = join(dir, 'config.yaml');
  writeFileSync(
    file,
    'whatsapp:\n  numbers:\n    - phone_number_id: "1"\n      inbound:\n        accept: sometimes\n',
  );
  try {
    assert.throws(
      () =>
        loadConfig({
          configFile: file,
          env: { LIVEKIT_API_KEY: 'k', LIVEKIT_API_SECRET: 'a-test-secret-of-at-least-32-chars' },
        }),
      (err: unknown) =>
        err instanceof ConfigError && err.setting === 'whatsapp.numbers.0.inbound.accept',
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the example configuration in examples/ loads', () => {
  const file = fileURLToPath(new URL('../../../examples/whatsapp-connector.yaml', import.meta.url));
  const c = loadConfig({ configFile: file, env: {} });
  const s = loadGatewaySettings(c, {});
  assert.equal(s.numbers.length, 2);
  assert.equal(s.numbers[0]?.inbound?.accept, 'when_agent_ready');
  assert.equal(s.numbers[0]?.inbound?.hours?.timezone, 'Europe/Berlin');
  assert.equal(s.numbers[1]?.inbound, undefined);
});
