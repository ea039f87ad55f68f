import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { startProcess, type ManagedProcess } from '../../../src/devstack/managed-process.js';
import { waitForTcp } from '../../../src/devstack/free-ports.js';
import { locateRedisServer } from '../../../src/devstack/tool-binaries.js';
import { signWebhookBody } from '../../../src/whatsapp/webhook-signature.js';
import { freeTcpPort } from '../../../src/devstack/free-ports.js';
import { eventually } from '../calls/bridge-harness.js';
import { runCli } from '../cli/cli-runner.js';
import {
  APP_SECRET,
  liveUserCall,
  startConnector,
  killLeftovers,
  startMetaBed,
  statusOf,
  type ConnectorProcess,
  type MetaBed,
} from './durability-harness.js';

/**
 * A webhook Meta got 200 for is never lost: it is durably queued first, processed and forwarded
 * from there, and a webhook that cannot be queued (draining, Redis down) is answered 503 so Meta
 * retries it. Observed end to end: every body answered 200 must reach the business's forward URL.
 */

let bed: MetaBed;
let business: Server;
let businessUrl: string;
/** What the business's app answers next (default 200). */
let businessStatus = 200;
/** Bodies the business's app accepted (2xx), in order. */
const delivered: string[] = [];
let businessAttempts = 0;
const redisProcesses: ManagedProcess[] = [];

before(async () => {
  bed = await startMetaBed();
  business = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      businessAttempts++;
      if (businessStatus < 300) delivered.push(Buffer.concat(chunks).toString('utf8'));
      res.writeHead(businessStatus).end();
    });
  });
  await new Promise<void>((resolve) => business.listen(0, '127.0.0.1', resolve));
  businessUrl = `http://127.0.0.1:${(business.address() as AddressInfo).port}/hook`;
});

after(async () => {
  killLeftovers();
  for (const p of redisProcesses) await p.stop().catch(() => undefined);
  await new Promise((resolve) => business.close(resolve));
  await bed?.stop();
});

let messageSeq = 0;
/** A signed `messages` webhook as Meta sends it, unique per call. */
function messageWebhook(): string {
  messageSeq++;
  return JSON.stringify({
    object: 'whatsapp_business_account',
    entry: [
      {
        id: 'WABA',
        changes: [
          {
            field: 'messages',
            value: {
              messaging_product: 'whatsapp',
              metadata: { display_phone_number: '15550001234', phone_number_id: bed.phoneNumberId },
              messages: [
                {
                  from: '4915700000001',
                  id: `wamid.durability-${messageSeq}-${Date.now()}`,
                  timestamp: String(Math.floor(Date.now() / 1000)),
                  type: 'text',
                  text: { body: `hello ${messageSeq}` },
                },
              ],
            },
          },
        ],
      },
    ],
  });
}

/** POST `body` to the connector as Meta would; resolves with the HTTP status (0: no answer). */
async function postAsMeta(connector: ConnectorProcess, body: string): Promise<number> {
  try {
    const res = await fetch(connector.webhookUrl, {
      method: 'POST',
      headers: {
        'Content-Type': 'application/json',
        'X-Hub-Signature-256': signWebhookBody(body, APP_SECRET),
      },
      body,
      signal: AbortSignal.timeout(10_000),
    });
    await res.arrayBuffer();
    return res.status;
  } catch {
    return 0;
  }
}

/** A redis-server on `port` (a fixed one, so it can come back where the connector looks). */
async function redisOn(port: number): Promise<ManagedProcess> {
  const proc = startProcess(
    locateRedisServer(),
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    { name: 'redis' },
  );
  redisProcesses.push(proc);
  await waitForTcp(port, 10_000);
  return proc;
}

async function metric(connector: ConnectorProcess, name: string): Promise<number> {
  const res = await fetch(`${connector.internalUrl}/metrics`);
  const text = await res.text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line ? Number(line.split(' ')[1]) : 0;
}

test('during a drain, webhooks for other calls are answered 503 and those for live calls 200; after the restart everything answered 200, and the retried ones, reach the business', async () => {
  businessStatus = 200;
  const stateDir = join(bed.dir, 'drain-webhooks');
  const env = { SHUTDOWN_DRAIN_SECONDS: '60', WHATSAPP_FORWARD_URL: businessUrl };
  const first = await startConnector(bed, { stateDir, env });
  bed.simulator.setWebhookUrl(first.webhookUrl);
  const call = await liveUserCall(bed, '4915700000010');

  first.kill('SIGTERM');
  await eventually(
    async () => (await statusOf(`${first.internalUrl}/readyz`)) === 503,
    10_000,
    'draining',
  );
  const message = messageWebhook();
  assert.equal(await postAsMeta(first, message), 503, 'a webhook for no live call while draining');

  // The user hangs up: Meta's terminate is for a call held here, so it is taken (200).
  call.hangUp();
  assert.equal(await first.exited, 0, first.output());
  const terminate = bed.simulator.webhookLog.find(
    (d) => d.callId === call.id && d.event === 'terminate',
  );
  assert.ok(terminate, 'the simulator sent a terminate');
  assert.ok(
    terminate.attempts.some((a) => a.status === 200),
    `terminate answered ${JSON.stringify(terminate.attempts)}`,
  );

  // Meta retries the refused webhook at the restarted instance (same address and STATE_DIR).
  const second = await startConnector(bed, {
    stateDir,
    env,
    port: first.port,
    internalPort: first.internalPort,
  });
  assert.equal(await postAsMeta(second, message), 200);
  const acknowledged = bed.simulator.webhookLog
    .filter((d) => d.attempts.some((a) => a.status === 200))
    .map((d) => d.body);
  await eventually(
    () => [...acknowledged, message].every((body) => delivered.includes(body)),
    20_000,
    'every acknowledged webhook forwarded to the business',
  );
  second.kill('SIGTERM');
  assert.equal(await second.exited, 0, second.output());
});

test('while Redis is down webhooks are answered 503, and once it is back the retried ones are processed and forwarded', async () => {
  businessStatus = 200;
  const port = await freeTcpPort();
  let redis = await redisOn(port);
  const connector = await startConnector(bed, {
    stateDir: join(bed.dir, 'redis-webhooks'),
    env: {
      REDIS_URL: `redis://127.0.0.1:${port}`,
      REDIS_KEY_PREFIX: 'durability-webhooks:',
      INSTANCE_ID: 'webhooks-a',
      WHATSAPP_FORWARD_URL: businessUrl,
    },
  });
  const before = messageWebhook();
  assert.equal(await postAsMeta(connector, before), 200);
  await eventually(() => delivered.includes(before), 10_000, 'forwarded while Redis is up');

  await redis.stop();
  const during = messageWebhook();
  assert.equal(await postAsMeta(connector, during), 503, 'a webhook that cannot be queued');
  assert.equal(await postAsMeta(connector, during), 503, 'still down');

  redis = await redisOn(port);
  // As Meta does: the refused webhook is sent again until it is taken.
  await eventually(
    async () => (await postAsMeta(connector, during)) === 200,
    20_000,
    'the webhook taken once Redis is back',
  );
  await eventually(() => delivered.includes(during), 10_000, 'forwarded after the outage');
  connector.kill('SIGTERM');
  assert.equal(await connector.exited, 0, connector.output());
});

test('a forward the business keeps refusing is retried, then dead-lettered, visible in queues and metrics, and queues retry delivers it', async () => {
  const stateDir = join(bed.dir, 'dead-letters');
  businessStatus = 500;
  const connector = await startConnector(bed, {
    stateDir,
    env: { WHATSAPP_FORWARD_URL: businessUrl, WHATSAPP_FORWARD_MAX_ATTEMPTS: '3' },
  });
  const attemptsBefore = businessAttempts;
  const body = messageWebhook();
  assert.equal(await postAsMeta(connector, body), 200);
  const cliEnv = {
    LIVEKIT_API_KEY: bed.lk.apiKey,
    LIVEKIT_API_SECRET: bed.lk.apiSecret,
    STATE_DIR: stateDir,
  };
  await eventually(
    async () =>
      (await metric(connector, 'whatsapp_connector_webhook_forwards_dead_lettered_total')) === 1,
    30_000,
    'the forward dead-lettered',
  );
  assert.equal(businessAttempts - attemptsBefore, 3, 'three attempts');
  assert.equal(await metric(connector, 'whatsapp_connector_webhook_forwards_retried_total'), 2);
  const queues = await runCli(['queues', '--dead', '--json'], cliEnv);
  assert.equal(queues.code, 0, queues.stderr);
  const forwards = (
    JSON.parse(queues.stdout) as {
      queues: { queue: string; dead: number; deadLetters: { reason: string; bytes: number }[] }[];
    }
  ).queues.find((q) => q.queue === 'forwards');
  assert.equal(forwards?.dead, 1);
  assert.match(forwards?.deadLetters[0]?.reason ?? '', /gave up after 3 attempts: .*HTTP 500/);
  assert.ok(!delivered.includes(body));

  businessStatus = 200;
  const retry = await runCli(['queues', 'retry', 'forwards', '--all'], cliEnv);
  assert.equal(retry.code, 0, retry.stderr);
  await eventually(() => delivered.includes(body), 10_000, 'delivered after queues retry');
  assert.equal(await metric(connector, 'whatsapp_connector_webhook_forwards_delivered_total'), 1);
  connector.kill('SIGTERM');
  assert.equal(await connector.exited, 0, connector.output());
});

test('a webhook acknowledged before a kill -9 is still forwarded after the restart', async () => {
  const stateDir = join(bed.dir, 'crash-forward');
  const env = { WHATSAPP_FORWARD_URL: businessUrl };
  businessStatus = 503;
  const first = await startConnector(bed, { stateDir, env });
  const attemptsBefore = businessAttempts;
  const body = messageWebhook();
  assert.equal(await postAsMeta(first, body), 200);
  // The business's app is down: the forward waits in its queue for the next attempt.
  await eventually(() => businessAttempts > attemptsBefore, 10_000, 'a first forward attempt');
  first.kill('SIGKILL');
  await first.exited;
  assert.ok(!delivered.includes(body));

  businessStatus = 200;
  const second = await startConnector(bed, { stateDir, env });
  await eventually(() => delivered.includes(body), 20_000, 'forwarded by the restarted process');
  second.kill('SIGTERM');
  assert.equal(await second.exited, 0, second.output());
});
