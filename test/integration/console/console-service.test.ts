/**
 * The console as a real ConnectorServer serves it: on the internal listener only and only when
 * enabled, the instances of a cluster sharing a real Redis, the durable queues and dead letters of
 * a real SQLite state store, and the JSON endpoints the CLI reads, behind the API's token check.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AccessToken } from 'livekit-server-sdk';
import { DEFAULT_MAX_CONCURRENT_CALLS, loadConfig } from '../../../src/config/index.js';
import { createLogger } from '../../../src/log/index.js';
import { ConnectorServer } from '../../../src/server/connector-server.js';
import { FORWARD_QUEUE, openStateStore } from '../../../src/store/index.js';
import { startRedis, type RedisHandle } from '../../../testbed/redis.js';
import { eventually } from '../calls/bridge-harness.js';

const KEY = 'APIconsoleservice';
const SECRET = 'console-service-secret-0123456789-abcdef';
const dir = mkdtempSync(join(tmpdir(), 'console-service-'));
let redis: RedisHandle;
const servers: ConnectorServer[] = [];

async function startServer(env: Record<string, string>): Promise<ConnectorServer> {
  const config = loadConfig({
    env: {
      // No call is placed: LiveKit and Meta are never contacted.
      LIVEKIT_URL: 'ws://127.0.0.1:9',
      LIVEKIT_API_KEY: KEY,
      LIVEKIT_API_SECRET: SECRET,
      WHATSAPP_GRAPH_URL: 'http://127.0.0.1:9',
      WHATSAPP_VERIFY_TOKEN: 'console-verify-token',
      WHATSAPP_APP_SECRET: 'console-app-secret',
      STATE_DIR: join(dir, `state-${servers.length}`),
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
  rmSync(dir, { recursive: true, force: true });
});

function internal(server: ConnectorServer, path: string): string {
  return `http://127.0.0.1:${server.internalPort}${path}`;
}

/** A console session on `server` (its cookie). */
async function signIn(server: ConnectorServer): Promise<string> {
  const res = await fetch(internal(server, '/console/sign-in'), {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ apiKey: KEY, apiSecret: SECRET }).toString(),
    redirect: 'manual',
  });
  assert.equal(res.status, 303);
  return (res.headers.get('set-cookie') ?? '').split(';')[0]!;
}

async function page(server: ConnectorServer, path: string, cookie: string): Promise<string> {
  const res = await fetch(internal(server, path), { headers: { cookie } });
  assert.equal(res.status, 200, path);
  return res.text();
}

test('the console is served on the internal listener when enabled, never on the public one', async () => {
  const off = await startServer({});
  const on = await startServer({ CONSOLE_ENABLED: 'true' });
  const redirectOf = async (url: string) =>
    (await fetch(url, { redirect: 'manual' })).headers.get('location');
  assert.equal((await fetch(internal(off, '/console/'))).status, 404);
  assert.equal(await redirectOf(internal(on, '/console/')), '/console/calls');
  assert.equal(await redirectOf(internal(on, '/console')), '/console/calls');
  for (const server of [on, off]) {
    const pub = `http://127.0.0.1:${server.port}`;
    for (const path of ['/console/', '/console/sign-in', '/api/webhooks', '/api/permissions']) {
      assert.equal((await fetch(`${pub}${path}`)).status, 404, `public ${path}`);
    }
  }
});

test('the JSON endpoints the CLI reads need a token with roomCreate, console or not', async () => {
  const server = await startServer({});
  for (const path of ['/api/webhooks', '/api/permissions']) {
    const anonymous = await fetch(internal(server, path));
    assert.equal(anonymous.status, 401, path);
    assert.match(await anonymous.text(), /missing authorization header/);
  }
  const token = new AccessToken(KEY, SECRET, { ttl: 60 });
  token.addGrant({ roomCreate: true });
  const auth = { authorization: `Bearer ${await token.toJwt()}` };
  // A webhook refused for its signature is on the list.
  await fetch(`http://127.0.0.1:${server.port}/whatsapp/webhook`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'X-Hub-Signature-256': 'sha256=00' },
    body: '{}',
  });
  const webhooks = (await (
    await fetch(internal(server, '/api/webhooks?limit=5'), { headers: auth })
  ).json()) as { receipts: { signature: string; httpStatus: number }[]; forwarding: unknown };
  assert.deepEqual(
    webhooks.receipts.map((r) => [r.signature, r.httpStatus]),
    [['mismatch', 403]],
  );
  assert.equal(webhooks.forwarding, null);
  const permissions = await fetch(internal(server, '/api/permissions'), { headers: auth });
  assert.deepEqual(await permissions.json(), { permissions: [] });
});

test('the instances page lists every instance of the cluster sharing Redis, this one marked', async () => {
  const prefix = `console-cluster-${Date.now()}:`;
  const env = { CONSOLE_ENABLED: 'true', REDIS_URL: redis.url, REDIS_KEY_PREFIX: prefix };
  const a = await startServer({ ...env, INSTANCE_ID: 'console-a' });
  await startServer({ ...env, INSTANCE_ID: 'console-b' });
  const cookie = await signIn(a);
  const html = (await eventually(
    async () => {
      const text = await page(a, '/console/cluster', cookie);
      return text.includes('console-b') ? text : undefined;
    },
    10_000,
    'both instances listed',
  ))!;
  assert.match(html, /Instances sharing calls and queues through Redis/);
  assert.match(html, /console-a\s*<span class="tag">this instance<\/span>/);
  assert.doesNotMatch(html, /console-b\s*<span class="tag">/);
  assert.match(html, new RegExp(`0 / ${DEFAULT_MAX_CONCURRENT_CALLS}\\b`));
});

test('without Redis the instances page shows this instance alone', async () => {
  const server = await startServer({ CONSOLE_ENABLED: 'true', INSTANCE_ID: 'console-alone' });
  const html = await page(server, '/console/cluster', await signIn(server));
  assert.match(html, /this instance works alone/);
  assert.match(html, /console-alone/);
  assert.match(html, new RegExp(`http://127\\.0\\.0\\.1:${server.internalPort}`));
});

test('the webhooks page shows the state store’s queues and dead letters', async () => {
  const server = await startServer({ CONSOLE_ENABLED: 'true' });
  const cookie = await signIn(server);
  // The connector opens its store at start: the page shows it before anything was queued.
  assert.match(
    await page(server, '/console/webhooks', cookie),
    /State store: <span class="mono">[^<]*state\.sqlite/,
  );
  // What a forwarder that gave up leaves in the store.
  const store = await openStateStore(server.config);
  const forwards = store.queue(FORWARD_QUEUE);
  await forwards.enqueue('{"entry":[]}');
  await forwards.enqueue('{"entry":[1]}');
  const [entry] = await forwards.claim('console-test', 1);
  await forwards.deadLetter(entry!, 'forward URL answered HTTP 500');
  await store.close();

  const html = await page(server, '/console/webhooks', cookie);
  assert.match(html, /State store: <span class="mono">[^<]*state\.sqlite/);
  assert.match(
    html,
    /<th scope="row">forwards<\/th>\s*<td>1<\/td>\s*<td>0<\/td>\s*<td>0<\/td>\s*<td>1<\/td>/,
  );
  assert.match(html, /Dead letters, newest first/);
  assert.match(html, /forward URL answered HTTP 500/);
});
