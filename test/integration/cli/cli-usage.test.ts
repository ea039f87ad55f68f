import { test } from 'node:test';
import assert from 'node:assert/strict';
import { freeTcpPort } from '../../../testbed/ports.js';
import { runCli } from './cli-runner.js';

test('--help lists every command and exits 0', async () => {
  const r = await runCli(['--help']);
  assert.equal(r.code, 0);
  for (const cmd of [
    'serve',
    'dial',
    'calls',
    'hangup',
    'transfer',
    'permissions',
    'webhooks',
    'queues',
    'simulate',
    'dev',
  ]) {
    assert.match(r.stdout, new RegExp(`\\n  ${cmd}\\b`), cmd);
  }
});

test('an unknown command or a bad option value exits 2 with a message', async () => {
  const unknown = await runCli(['bogus']);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /unknown command 'bogus'/);
  const badPort = await runCli(['serve', '--port', 'eighty']);
  assert.equal(badPort.code, 2);
  assert.match(badPort.stderr, /invalid port/);
});

test('a client command without configuration exits 2 naming the missing setting', async () => {
  const r = await runCli(['calls']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /LIVEKIT_API_KEY/);
});

test('a Meta access token on the command line is refused with where it goes instead', async () => {
  for (const cmd of [
    ['dial', '4915112345678', '--access-token', 'EAAG-visible-in-ps'],
    ['hangup', 'wacid.x', '--access-token', 'EAAG-visible-in-ps'],
  ]) {
    const r = await runCli(cmd);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /--access-token is not accepted/);
    assert.match(r.stderr, /WHATSAPP_ACCESS_TOKEN_FILE/);
    assert.ok(!r.stderr.includes('EAAG-visible-in-ps'));
  }
  const help = await runCli(['dial', '--help']);
  assert.doesNotMatch(help.stdout, /--access-token/);
  assert.match(help.stdout, /WHATSAPP_ACCESS_TOKEN/);
});

test('a short API secret is refused at start naming the setting', async () => {
  const r = await runCli(['calls'], { LIVEKIT_API_KEY: 'k', LIVEKIT_API_SECRET: 'secret' });
  assert.equal(r.code, 2);
  assert.match(r.stderr, /LIVEKIT_API_SECRET: API secrets must be at least 32 characters/);
});

test('a client command with no connector running exits 1 and says so', async () => {
  const port = await freeTcpPort();
  const r = await runCli(['calls'], {
    LIVEKIT_API_KEY: 'k',
    LIVEKIT_API_SECRET: 'a-test-secret-of-at-least-32-chars',
    WHATSAPP_CONNECTOR_URL: `http://127.0.0.1:${port}`,
  });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /cannot reach the connector/);
});
