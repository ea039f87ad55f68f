import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig } from '../../../src/config/index.js';
import { loadGatewaySettings, type ProcessedWebhookEvent } from '../../../src/gateway/index.js';
import { createLogger } from '../../../src/log/index.js';
import { ConnectorServer } from '../../../src/server/connector-server.js';
import {
  openStateStore,
  WEBHOOK_QUEUE,
  type DurableQueue,
  type QueueEntry,
  type StateStore,
} from '../../../src/store/index.js';
import { signWebhookBody } from '../../../src/whatsapp/index.js';
import { eventually } from '../calls/bridge-harness.js';

// The real SQLite store, with the webhook queue bounded at 2 entries and its consumer held back
// on demand (as when processing falls behind): what Meta sees when the queue is full.
const APP_SECRET = 'queue-full-app-secret';
const CAPACITY = 2;

let server: ConnectorServer;
let store: StateStore;
let webhookUrl: string;
/** While true the webhook queue hands nothing to its consumer. */
let processingHeld = true;
const processed: ProcessedWebhookEvent[] = [];

/** `store` with a small webhook queue whose consumer can be held back. */
function boundedStore(inner: StateStore): StateStore {
  return {
    kind: inner.kind,
    location: inner.location,
    calls: inner.calls,
    close: () => inner.close(),
    queue(name, policy) {
      const queue = inner.queue(name, { ...policy, capacity: CAPACITY });
      if (name !== WEBHOOK_QUEUE) return queue;
      // Every method of the real queue, bound to it; only `claim` holds back.
      const held = {} as Record<string, unknown>;
      for (const key of Object.getOwnPropertyNames(Object.getPrototypeOf(queue))) {
        const value = (queue as unknown as Record<string, unknown>)[key];
        if (typeof value === 'function' && key !== 'constructor') held[key] = value.bind(queue);
      }
      held.claim = (consumer: string, max?: number): Promise<QueueEntry[]> =>
        processingHeld ? Promise.resolve([]) : queue.claim(consumer, max);
      return held as unknown as DurableQueue;
    },
  } as StateStore;
}

before(async () => {
  const config = loadConfig({
    env: {
      LIVEKIT_URL: 'ws://127.0.0.1:9',
      LIVEKIT_API_KEY: 'devkey',
      LIVEKIT_API_SECRET: 'devsecret-devsecret-devsecret-00',
      WHATSAPP_APP_SECRET: APP_SECRET,
      LOG_LEVEL: 'silent',
      STATE_DIR: mkdtempSync(join(tmpdir(), 'wac-queue-full-')),
    },
    overrides: { port: 0, bindAddress: '127.0.0.1' },
  });
  config.whatsapp.raw = { numbers: [{ phone_number_id: '111', access_token: 'token-111' }] };
  const logger = createLogger({ level: 'silent' });
  store = boundedStore(await openStateStore(config, { logger, exclusive: true }));
  server = new ConnectorServer({
    config,
    logger,
    gateway: loadGatewaySettings(config, {}),
    stateStore: store,
  });
  const port = await server.start();
  webhookUrl = `http://127.0.0.1:${port}${config.whatsapp.webhookPath}`;
  server.gateway!.on('processed', (p) => processed.push(p));
});

after(async () => {
  await server?.close();
  await store?.close();
});

let seq = 0;
async function postStatusWebhook(): Promise<Response> {
  seq++;
  const body = JSON.stringify({
    object: 'whatsapp_business_account',
    entry: [
      {
        id: 'WABA',
        changes: [
          {
            field: 'messages',
            value: {
              messaging_product: 'whatsapp',
              metadata: { display_phone_number: '15550001234', phone_number_id: '111' },
              statuses: [
                {
                  id: `wamid.queue-full-${seq}`,
                  status: 'delivered',
                  timestamp: String(Math.floor(Date.now() / 1000)),
                  recipient_id: '15550009999',
                },
              ],
            },
          },
        ],
      },
    ],
  });
  return fetch(webhookUrl, {
    method: 'POST',
    headers: {
      'Content-Type': 'application/json',
      'X-Hub-Signature-256': signWebhookBody(body, APP_SECRET),
    },
    body,
  });
}

test('a full webhook queue answers 503 with Retry-After (Meta retries), and takes webhooks again once it drains', async () => {
  for (let i = 0; i < CAPACITY; i++) {
    const res = await postStatusWebhook();
    assert.equal(res.status, 200, 'queued');
  }
  const refused = await postStatusWebhook();
  assert.equal(refused.status, 503);
  assert.equal(refused.headers.get('retry-after'), '5');
  assert.match(await refused.text(), /cannot queue the webhook now/);
  assert.equal(processed.length, 0, 'nothing processed while held');

  processingHeld = false;
  await eventually(() => processed.length >= CAPACITY, 10_000, 'the queued webhooks processed');
  const again = await postStatusWebhook();
  assert.equal(again.status, 200, 'room in the queue again');
  await eventually(
    () => processed.length === CAPACITY + 1,
    10_000,
    'the retried one processed too',
  );
});
