import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { loadConfig } from '../../../src/config/index.js';
import { createLogger } from '../../../src/log/index.js';
import { ConnectorServer } from '../../../src/server/connector-server.js';
import { startRedis, type RedisHandle } from '../../../testbed/redis.js';

/**
 * What each listener of a real ConnectorServer (call bridge, gateway and cluster node on a real
 * Redis) exposes: the public one only the webhook and the Connector API, the internal one the
 * rest; readiness; the webhook body cap.
 */

const API_SECRET = 'listeners-test-secret-0123456789-abcdef';
let redis: RedisHandle;
const servers: ConnectorServer[] = [];

async function startServer(env: Record<string, string> = {}): Promise<ConnectorServer> {
  const config = loadConfig({
    env: {
      // Nothing here dials out: no call is placed, so LiveKit and Meta are never contacted.
      LIVEKIT_URL: 'ws://127.0.0.1:9',
      LIVEKIT_API_KEY: 'APIlisteners',
      LIVEKIT_API_SECRET: API_SECRET,
      WHATSAPP_GRAPH_URL: 'http://127.0.0.1:9',
      WHATSAPP_VERIFY_TOKEN: 'listeners-verify-token',
      WHATSAPP_APP_SECRET: 'listeners-app-secret',
      REDIS_URL: redis.url,
      REDIS_KEY_PREFIX: `listeners-${servers.length}:`,
      ...env,
    },
    overrides: { port: 0, bindAddress: '127.0.0.1' },
  });
  const server = new ConnectorServer({ config, logger: createLogger({ level: 'silent' }) });
  servers.push(server);
  await server.start();
  return server;
}

before(async () => {
  redis = await startRedis();
});

after(async () => {
  await Promise.all(servers.map((s) => s.close()));
  await redis?.stop();
});

const status = async (url: string, init?: RequestInit) => (await fetch(url, init)).status;
const twirpDial = { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}' };

test('the public listener serves the webhook and the Connector API, and nothing internal', async () => {
  const server = await startServer();
  const pub = `http://127.0.0.1:${server.port}`;
  const verify = await fetch(
    `${pub}/whatsapp/webhook?hub.mode=subscribe&hub.verify_token=listeners-verify-token&hub.challenge=42`,
  );
  assert.equal(verify.status, 200);
  assert.equal(await verify.text(), '42');
  // Unauthenticated, but routed: the Twirp layer answers.
  assert.equal(await status(`${pub}/twirp/livekit.Connector/DialWhatsAppCall`, twirpDial), 401);
  for (const path of ['/metrics', '/healthz', '/readyz', '/api/calls', '/internal/cluster/v1/x']) {
    assert.equal(await status(`${pub}${path}`), 404, path);
  }
});

test('the internal listener serves health, metrics, calls, the cluster endpoint and the Connector API on loopback', async () => {
  const server = await startServer();
  assert.equal(server.internalHttp.address?.address, '127.0.0.1');
  assert.notEqual(server.internalPort, server.port);
  const internal = `http://127.0.0.1:${server.internalPort}`;
  assert.equal(await status(`${internal}/healthz`), 200);
  assert.equal(await status(`${internal}/readyz`), 200);
  assert.equal(await status(`${internal}/api/calls`), 401);
  assert.equal(
    await status(`${internal}/twirp/livekit.Connector/DialWhatsAppCall`, twirpDial),
    401,
  );
  assert.notEqual(
    await status(`${internal}/internal/cluster/v1/user-hangup`, { method: 'POST', body: '{}' }),
    404,
  );
  assert.equal(await status(`${internal}/whatsapp/webhook`), 404);
  const metrics = await (await fetch(`${internal}/metrics`)).text();
  assert.match(metrics, /^whatsapp_connector_ready 1$/m);
  assert.match(metrics, /^whatsapp_connector_nodejs_eventloop_lag_seconds /m);
  assert.match(metrics, /^whatsapp_connector_cluster_redis_connected 1$/m);
  assert.match(metrics, /^whatsapp_connector_http_open_connections\{listener="internal"\} \d+$/m);
});

test('readiness drops to 503 when the instance stops taking work, while health stays 200', async () => {
  const server = await startServer();
  const internal = `http://127.0.0.1:${server.internalPort}`;
  server.setReady(false);
  assert.equal(await status(`${internal}/readyz`), 503);
  assert.equal(await status(`${internal}/healthz`), 200);
  assert.match(await (await fetch(`${internal}/metrics`)).text(), /^whatsapp_connector_ready 0$/m);
  server.setReady(true);
  assert.equal(await status(`${internal}/readyz`), 200);
});

test('with CONNECTOR_API_ENABLED=false the Connector API is served on the internal listener only', async () => {
  const server = await startServer({ CONNECTOR_API_ENABLED: 'false' });
  const dial = '/twirp/livekit.Connector/DialWhatsAppCall';
  assert.equal(await status(`http://127.0.0.1:${server.port}${dial}`, twirpDial), 404);
  assert.equal(await status(`http://127.0.0.1:${server.internalPort}${dial}`, twirpDial), 401);
  // The webhook stays public.
  const verify = `/whatsapp/webhook?hub.mode=subscribe&hub.verify_token=listeners-verify-token&hub.challenge=7`;
  assert.equal(await status(`http://127.0.0.1:${server.port}${verify}`), 200);
});

test('a webhook declared over 256 KiB is refused with 413 before its body is read', async () => {
  const server = await startServer();
  const answer = await new Promise<string>((resolve) => {
    const socket = connect(server.port, '127.0.0.1');
    let text = '';
    socket.on('data', (d: Buffer) => (text += d.toString()));
    socket.on('close', () => resolve(text));
    socket.on('error', () => undefined);
    // Headers only: the answer must not wait for the body.
    socket.write(
      'POST /whatsapp/webhook HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 300000\r\n\r\n',
    );
  });
  assert.match(answer, /^HTTP\/1\.1 413 /);
  assert.match(answer, /accepts at most 262144 bytes, got 300000 bytes/);
});
