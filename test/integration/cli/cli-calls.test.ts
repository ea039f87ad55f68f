import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dispose } from '@livekit/rtc-node';
import { eventually } from '../calls/bridge-harness.js';
import { startGatewayBridge, type GatewayBridge } from '../gateway/gateway-harness.js';
import { runCli } from './cli-runner.js';

const USER = '4915400000001';
let bridge: GatewayBridge;
let env: Record<string, string>;
const secrets = mkdtempSync(join(tmpdir(), 'wac-cli-secrets-'));

before(async () => {
  bridge = await startGatewayBridge(
    {},
    { simulator: { businessCallBehaviour: { action: 'answer', delayMs: 1500 } } },
  );
  // What a user of the CLI has: LiveKit keys, the Graph URL and one number from the environment,
  // the secrets in files (as Docker and Kubernetes mount them), and the connector's internal URL.
  const secretFile = (name: string, value: string) => {
    writeFileSync(join(secrets, name), `${value}\n`, { mode: 0o600 });
    return join(secrets, name);
  };
  env = {
    LIVEKIT_API_KEY: bridge.lk.apiKey,
    LIVEKIT_API_SECRET_FILE: secretFile('livekit-secret', bridge.lk.apiSecret),
    WHATSAPP_GRAPH_URL: bridge.simulator.graphUrl,
    WHATSAPP_CONNECTOR_URL: `http://127.0.0.1:${bridge.server.internalPort}`,
    WHATSAPP_PHONE_NUMBER_ID: bridge.phoneNumberId,
    WHATSAPP_ACCESS_TOKEN_FILE: secretFile('meta-token', bridge.accessToken),
  };
});

after(async () => {
  await bridge?.stop();
  await dispose();
  rmSync(secrets, { recursive: true, force: true });
});

test('permissions check reports no permission (exit 3), request sends one, and check then allows calling', async () => {
  const before = await runCli(['permissions', 'check', USER], env);
  assert.equal(before.code, 3, before.stderr);
  assert.match(before.stdout, /permission: no_permission/);
  assert.match(before.stderr, /permissions request/);

  const request = await runCli(['permissions', 'request', USER], env);
  assert.equal(request.code, 0, request.stderr);
  assert.match(request.stdout, /permission request sent \(wamid\./);
  // The simulated user accepts; the reply webhook is recorded by the gateway.
  await eventually(
    () => bridge.server.gateway!.permissions.get(bridge.phoneNumberId, USER)?.response === 'accept',
    5000,
    'permission reply recorded',
  );
  const afterwards = await runCli(['permissions', 'check', USER], env);
  assert.equal(afterwards.code, 0, afterwards.stderr);
  assert.match(afterwards.stdout, /permission: temporary/);
  assert.match(afterwards.stdout, /can call: {3}yes/);
});

test('dial shows progress until the user answers, calls lists the call, hangup ends it', async () => {
  bridge.simulator.user(USER).setPermission(bridge.phoneNumberId, 'permanent');
  const dial = await runCli(
    ['dial', USER, '--room', 'cli-room', '--agent', 'cli-agent:{"x":1}'],
    env,
  );
  assert.equal(dial.code, 0, dial.stderr);
  assert.match(dial.stdout, /placed; room cli-room/);
  assert.match(dial.stdout, /ringing…/);
  assert.match(dial.stdout, /answered: the user is in room cli-room/);
  const callId = /call (wacid\.\S+) placed/.exec(dial.stdout)?.[1];
  assert.ok(callId);

  const calls = await runCli(['calls', '--json'], env);
  assert.equal(calls.code, 0, calls.stderr);
  const listed = (
    JSON.parse(calls.stdout) as { callId: string; state: string; roomName: string }[]
  ).find((c) => c.callId === callId);
  assert.equal(listed?.state, 'active');
  assert.equal(listed?.roomName, 'cli-room');
  const table = await runCli(['calls'], env);
  assert.match(table.stdout, /DIRECTION\s+STATE\s+ROOM/);
  assert.match(table.stdout, /outbound\s+active\s+cli-room/);

  const hangup = await runCli(['hangup', callId], env);
  assert.equal(hangup.code, 0, hangup.stderr);
  await bridge.simulator.call(callId)!.waitForState('ended', 5000);
  const again = await runCli(['hangup', 'wacid.unknown'], env);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /no call wacid\.unknown/);
});

test('calls pointed at the public listener says where /api/calls is served', async () => {
  const r = await runCli(['calls'], { ...env, WHATSAPP_CONNECTOR_URL: bridge.connectorUrl });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /HTTP 404/);
  assert.match(r.stderr, /INTERNAL_PORT/);
});

test('dial to a user without permission exits 3 with what to do', async () => {
  const r = await runCli(['dial', '4915400000009', '--no-wait'], env);
  assert.equal(r.code, 3);
  assert.match(r.stderr, /permission/);
  assert.match(r.stderr, /permissions request/);
});
