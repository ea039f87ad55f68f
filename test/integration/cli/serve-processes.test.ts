import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { Redis } from 'ioredis';
import { AccessToken } from 'livekit-server-sdk';
import { WhatsAppSimulator, type SimulatedCall } from '../../../src/simulator/index.js';
import { startLiveKitServer, type LiveKitServerHandle } from '../../../testbed/livekit-server.js';
import { freeTcpPort } from '../../../testbed/ports.js';
import { startRedis, type RedisHandle } from '../../../testbed/redis.js';
import { eventually, postTwirpJson } from '../calls/bridge-harness.js';
import { TwilioMediaStreamClient } from '../twilio/twilio-media-stream-client.js';
import { runCli, startCli } from './cli-runner.js';

// `serve --processes 2` as an operator runs it: the real CLI, a real redis-server and
// livekit-server, the simulator as Meta. Calls go through the shared public port only.

const APP_SECRET = 'serve-processes-app-secret';
const ACCESS_TOKEN = 'serve-processes-meta-token';
const KEY_PREFIX = 'serve-processes:';

let lk: LiveKitServerHandle;
let redis: RedisHandle;
let inspect: Redis;
let simulator: WhatsAppSimulator;
let env: Record<string, string>;
let port: number;
let internalPort: number;
let serve: ReturnType<typeof startCli>;
/** Pid of each child as the startup summary listed them, by index. */
let childPids: number[] = [];
const userCalls: SimulatedCall[] = [];

const shared = () => `http://127.0.0.1:${port}`;
const childUrl = (index: number) => `http://127.0.0.1:${internalPort + index}`;

before(async () => {
  lk = await startLiveKitServer();
  redis = await startRedis();
  inspect = new Redis(redis.url, { lazyConnect: true });
  await inspect.connect();
  simulator = await WhatsAppSimulator.start({
    accessToken: ACCESS_TOKEN,
    appSecret: APP_SECRET,
    defaultCallPermission: 'permanent',
  });
  port = await freeTcpPort();
  internalPort = await freeTcpPort();
  env = {
    LIVEKIT_URL: lk.wsUrl,
    LIVEKIT_API_KEY: lk.apiKey,
    LIVEKIT_API_SECRET: lk.apiSecret,
    WHATSAPP_GRAPH_URL: simulator.graphUrl,
    WHATSAPP_APP_SECRET: APP_SECRET,
    MEDIA_ICE_ADDRESSES: '127.0.0.1',
    BIND_ADDRESS: '127.0.0.1',
    REDIS_URL: redis.url,
    REDIS_KEY_PREFIX: KEY_PREFIX,
    INSTANCE_ID: 'scale',
    CLUSTER_HEARTBEAT_SECONDS: '0.5',
    // Short, so the last test sees a live call outlast the drain's start and then end.
    SHUTDOWN_DRAIN_SECONDS: '4',
    LOG_LEVEL: 'info',
    NODE_ENV: 'production',
    RUST_LOG: 'warn',
  };
  simulator.setWebhookUrl(`${shared()}/whatsapp/webhook`);
  serve = startCli(
    ['serve', '--processes', '2', '--port', String(port), '--internal-port', String(internalPort)],
    env,
  );
  await serve.waitFor('processes 2 (supervisor pid', 120_000);
  childPids = [0, 1].map((i) => {
    const m = new RegExp(`scale-${i}  pid (\\d+)`).exec(serve.output());
    assert.ok(m, `child ${i} listed in the summary:\n${serve.output()}`);
    return Number(m[1]);
  });
});

after(async () => {
  if (process.env.SERVE_PROCESSES_LOG && serve) {
    const { writeFileSync } = await import('node:fs');
    writeFileSync(process.env.SERVE_PROCESSES_LOG, serve.output());
  }
  for (const call of userCalls) call.hangUp();
  if (serve && serve.child.exitCode === null) {
    serve.child.kill('SIGTERM');
    await serve.exited;
  }
  inspect?.disconnect();
  await simulator?.close();
  await redis?.stop();
  await lk?.stop();
});

async function token(): Promise<string> {
  const t = new AccessToken(lk.apiKey, lk.apiSecret);
  t.addGrant({ roomCreate: true });
  return t.toJwt();
}

/** The call ids child `index` holds, from its own `/api/calls?scope=local`. */
async function heldBy(index: number): Promise<string[]> {
  const res = await fetch(`${childUrl(index)}/api/calls?scope=local`, {
    headers: { Authorization: `Bearer ${await token()}` },
  });
  assert.equal(res.status, 200);
  const body = (await res.json()) as { calls: { callId: string }[] };
  return body.calls.map((c) => c.callId);
}

/** A user call accepted through `baseUrl` into its own room. */
async function acceptThrough(baseUrl: string): Promise<SimulatedCall> {
  const call = await simulator.placeUserCall({
    from: `1555000${String(userCalls.length).padStart(4, '0')}`,
    voice: { kind: 'tone', frequencyHz: 440 },
  });
  userCalls.push(call);
  const res = await postTwirpJson(baseUrl, lk, 'AcceptWhatsAppCall', {
    whatsapp_phone_number_id: simulator.defaultPhoneNumberId,
    whatsapp_api_key: ACCESS_TOKEN,
    whatsapp_cloud_api_version: '24.0',
    whatsapp_call_id: call.id,
    sdp: { type: 'offer', sdp: call.metaSdp },
    room_name: `processes-${userCalls.length}-${Date.now()}`,
    participant_identity: 'wa-caller',
  });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  await call.waitForState('active', 20_000);
  return call;
}

async function disconnectThrough(baseUrl: string, callId: string) {
  return postTwirpJson(baseUrl, lk, 'DisconnectWhatsAppCall', {
    whatsapp_call_id: callId,
    whatsapp_api_key: ACCESS_TOKEN,
  });
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

test('bad --processes values and --processes 2 without REDIS_URL are configuration errors (exit 2)', async () => {
  const base = {
    LIVEKIT_API_KEY: 'devkey',
    LIVEKIT_API_SECRET: 'devsecret-0123456789-0123456789-abcdef',
  };
  for (const value of ['0', 'abc', '1.5', '65']) {
    const r = await runCli(['serve', '--processes', value], base);
    assert.equal(r.code, 2, `--processes ${value}: ${r.stderr}`);
    assert.match(r.stderr, /expected a whole number from 1 to 64, or auto/);
  }
  const env = await runCli(['serve'], { ...base, PROCESSES: 'many' });
  assert.equal(env.code, 2, env.stderr);
  assert.match(env.stderr, /PROCESSES: expected a whole number/);
  const noRedis = await runCli(['serve', '--processes', '2'], base);
  assert.equal(noRedis.code, 2, noRedis.stderr);
  assert.match(noRedis.stderr, /--processes 2 needs REDIS_URL/);
});

test('a child that cannot start (its internal port is taken) fails the whole start with exit 1', async () => {
  const taken = createServer();
  const busy = await freeTcpPort();
  await new Promise<void>((resolve) => taken.listen(busy + 1, '127.0.0.1', resolve));
  try {
    const r = await runCli(
      ['serve', '--processes', '2', '--port', String(await freeTcpPort())],
      {
        LIVEKIT_API_KEY: 'devkey',
        LIVEKIT_API_SECRET: 'devsecret-0123456789-0123456789-abcdef',
        // Child 0 starts (Redis being down is not fatal); child 1 finds its port taken.
        REDIS_URL: 'redis://127.0.0.1:9',
        INTERNAL_PORT: String(busy),
        LOG_LEVEL: 'silent',
      },
      120_000,
    );
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /cannot start 2 processes: child process 1 exited/);
    assert.match(r.stderr, new RegExp(`cannot listen on .*:${busy + 1}`));
  } finally {
    taken.close();
  }
});

test('serve --processes 2 starts two cluster instances, each on its own internal port', async () => {
  const ids = (await inspect.smembers(`${KEY_PREFIX}instances`)).sort();
  assert.deepEqual(ids, ['scale-0', 'scale-1']);
  for (const i of [0, 1]) {
    const info = JSON.parse((await inspect.get(`${KEY_PREFIX}instance:scale-${i}`)) ?? '{}');
    assert.equal(info.url, childUrl(i));
    assert.equal((await fetch(`${childUrl(i)}/readyz`)).status, 200);
  }
  assert.notEqual(childPids[0], childPids[1]);
});

test('calls accepted through the shared port are spread over both children, and each ends through the shared port wherever it is held', async () => {
  const calls: SimulatedCall[] = [];
  for (let i = 0; i < 4; i++) calls.push(await acceptThrough(shared()));
  const held = [await heldBy(0), await heldBy(1)];
  // The supervisor hands each connection to the child with the fewest calls: two each.
  assert.deepEqual(
    held.map((h) => h.length),
    [2, 2],
    `calls per child: ${JSON.stringify(held)}`,
  );
  assert.deepEqual([...held[0]!, ...held[1]!].sort(), calls.map((c) => c.id).sort());
  // The cluster-wide listing of either child names the holder of each call.
  const listing = (await (
    await fetch(`${childUrl(1)}/api/calls`, {
      headers: { Authorization: `Bearer ${await token()}` },
    })
  ).json()) as { calls: { callId: string; instanceId: string }[] };
  for (const [i, ids] of held.entries()) {
    for (const id of ids) {
      assert.equal(listing.calls.find((c) => c.callId === id)?.instanceId, `scale-${i}`);
    }
  }

  // Deterministically across children: a call held by child 0, ended through child 1.
  const onZero = calls.find((c) => held[0]!.includes(c.id))!;
  const cross = await postTwirpJson(childUrl(1), lk, 'DisconnectWhatsAppCall', {
    whatsapp_call_id: onZero.id,
    whatsapp_api_key: ACCESS_TOKEN,
  });
  assert.equal(cross.status, 200, JSON.stringify(cross.body));
  await onZero.waitForState('ended', 10_000);
  assert.equal(onZero.endReason, 'business_terminate');

  // The user hangs up one call: Meta's terminate webhook reaches whichever child, and the holder
  // ends the call.
  const hungUp = calls.find((c) => c !== onZero)!;
  hungUp.hangUp();
  await eventually(
    async () => !(await heldBy(0)).includes(hungUp.id) && !(await heldBy(1)).includes(hungUp.id),
    15_000,
    'the call the user hung up is gone from both children',
  );

  // The rest through the shared port, whichever child the round-robin gives the request.
  for (const call of calls.filter((c) => c !== onZero && c !== hungUp)) {
    const res = await disconnectThrough(shared(), call.id);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    await call.waitForState('ended', 10_000);
    assert.equal(call.endReason, 'business_terminate');
  }
  await eventually(
    async () => (await heldBy(0)).length === 0 && (await heldBy(1)).length === 0,
    15_000,
    'no call left on either child',
  );
  const again = await disconnectThrough(shared(), onZero.id);
  assert.equal(again.status, 404, JSON.stringify(again.body));
});

test('Twilio streams reaching the shared port work whichever child issued their URL (relayed to it)', async () => {
  const issued: Array<{ connectUrl: string; roomName: string }> = [];
  for (let i = 0; i < 3; i++) {
    const roomName = `processes-twilio-${i}-${Date.now()}`;
    const res = await postTwirpJson(shared(), lk, 'ConnectTwilioCall', {
      twilio_call_direction: 'INBOUND',
      room_name: roomName,
      participant_identity: `twilio-${i}`,
    });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const connectUrl = String(res.body.connect_url);
    assert.ok(connectUrl.startsWith(`ws://127.0.0.1:${port}/twilio/stream/`), connectUrl);
    issued.push({ connectUrl, roomName });
  }
  const streams: TwilioMediaStreamClient[] = [];
  try {
    // Each stream goes through the shared port: whichever child gets it, it must reach its call.
    for (const { connectUrl } of issued)
      streams.push(await TwilioMediaStreamClient.connect(connectUrl));
    for (const stream of streams) stream.sendTone(440);
    await eventually(
      async () => {
        const listing = (await (
          await fetch(`${childUrl(0)}/api/calls`, {
            headers: { Authorization: `Bearer ${await token()}` },
          })
        ).json()) as { twilioCalls: { roomName: string; state: string }[] };
        return issued.every(({ roomName }) =>
          listing.twilioCalls.some((c) => c.roomName === roomName && c.state === 'active'),
        );
      },
      15_000,
      'every Twilio call active on its child',
    );
    // Three URLs and three streams handed out in turn: at least one stream met another child.
    assert.match(serve.output(), /media stream relayed to the instance holding it/);
  } finally {
    for (const stream of streams) stream.close();
  }
});

test('a child that dies is restarted by the supervisor with the same instance id and internal port; the call it held is ended at Meta, and new calls are served', async () => {
  // A call on child 1 when it dies (the fewest-calls placement puts the second of two there).
  const first = await acceptThrough(shared());
  const second = await acceptThrough(shared());
  const onOne = (await heldBy(1)).includes(first.id) ? first : second;
  const onZero = onOne === first ? second : first;
  assert.ok((await heldBy(1)).includes(onOne.id));
  const killed = childPids[1]!;
  process.kill(killed, 'SIGKILL');
  await eventually(() => !isAlive(killed), 10_000, 'child 1 gone');
  const restarted = await eventually(
    () => {
      const lines = serve
        .output()
        .split('\n')
        .filter((l) => l.includes('"child process serving"') && l.includes('"child":1'));
      const pid = Number(/"pid":(\d+)/.exec(lines.at(-1) ?? '')?.[1]);
      return pid && pid !== killed ? pid : undefined;
    },
    60_000,
    'a new child 1 serving',
  );
  childPids[1] = restarted!;
  // The replacement (same INSTANCE_ID) finds the dead child's call record and ends it at Meta.
  await onOne.waitForState('ended', 90_000);
  assert.equal(onOne.endReason, 'business_terminate');
  assert.equal(onZero.state, 'active');
  assert.equal((await disconnectThrough(shared(), onZero.id)).status, 200);
  await onZero.waitForState('ended', 10_000);
  assert.ok(isAlive(childPids[0]!), 'child 0 kept running');
  assert.equal((await fetch(`${childUrl(1)}/readyz`)).status, 200);
  assert.deepEqual((await inspect.smembers(`${KEY_PREFIX}instances`)).sort(), [
    'scale-0',
    'scale-1',
  ]);
  // New calls still go to both children, and end through the shared port.
  const calls = [await acceptThrough(shared()), await acceptThrough(shared())];
  const held = [await heldBy(0), await heldBy(1)];
  assert.equal(held[0]!.length + held[1]!.length, 2, JSON.stringify(held));
  for (const call of calls) {
    assert.equal((await disconnectThrough(shared(), call.id)).status, 200);
    await call.waitForState('ended', 10_000);
  }
});

test('SIGTERM to the supervisor drains every child: the holder of a live call answers /readyz 503 and keeps the call through the drain, then ends it at Meta; all exit, the supervisor with 0', async () => {
  const live = await acceptThrough(shared());
  const holder = (await heldBy(0)).includes(live.id) ? 0 : 1;
  serve.child.kill('SIGTERM');
  // The other child has no call to wait for and exits at once; the holder drains.
  await eventually(
    async () => (await fetch(`${childUrl(holder)}/readyz`)).status === 503,
    10_000,
    'the holding child not ready',
  );
  assert.equal(live.state, 'active', 'the call goes on while the children drain');
  assert.equal(await serve.exited, 0, serve.output().slice(-3000));
  assert.equal(live.state, 'ended');
  for (const pid of childPids) assert.equal(isAlive(pid), false, `child ${pid} still running`);
  assert.deepEqual(await inspect.smembers(`${KEY_PREFIX}instances`), []);
});
