import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { AccessToken } from 'livekit-server-sdk';
import { loadConfig } from '../../../src/config/index.js';
import { loadGatewaySettings, type ProcessedWebhookEvent } from '../../../src/gateway/index.js';
import { createLogger } from '../../../src/log/index.js';
import { ConnectorServer } from '../../../src/server/connector-server.js';
import {
  encodeWebhookBody,
  signWebhookBody,
  verifyWebhookSignature,
} from '../../../src/whatsapp/index.js';

// No livekit-server here: these webhooks never reach a call.
const APP_SECRET = 'global-app-secret';
const OTHER_APP_SECRET = 'other-app-secret';
const VERIFY_TOKEN = 'verify-me';

interface Received {
  body: Buffer;
  signature: string | undefined;
}

let server: ConnectorServer;
let webhookUrl: string;
let business: Server;
let received: Received[] = [];
/** Status codes the business app answers next (then 200). */
let businessAnswers: number[] = [];
const processed: ProcessedWebhookEvent[] = [];

before(async () => {
  business = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const sig = req.headers['x-hub-signature-256'];
      received.push({ body: Buffer.concat(chunks), signature: Array.isArray(sig) ? sig[0] : sig });
      res.writeHead(businessAnswers.shift() ?? 200).end();
    });
  });
  await new Promise<void>((r) => business.listen(0, '127.0.0.1', r));
  const businessUrl = `http://127.0.0.1:${(business.address() as AddressInfo).port}/hook`;
  const config = loadConfig({
    env: {
      LIVEKIT_URL: 'ws://127.0.0.1:9',
      LIVEKIT_API_KEY: 'devkey',
      LIVEKIT_API_SECRET: 'devsecret-devsecret-devsecret-00',
      WHATSAPP_APP_SECRET: APP_SECRET,
      WHATSAPP_VERIFY_TOKEN: VERIFY_TOKEN,
      WHATSAPP_FORWARD_URL: businessUrl,
      LOG_LEVEL: 'silent',
      STATE_DIR: mkdtempSync(join(tmpdir(), 'wac-state-')),
    },
    overrides: { port: 0, bindAddress: '127.0.0.1' },
  });
  config.whatsapp.raw = {
    forward_max_attempts: 3,
    numbers: [
      { phone_number_id: '111', access_token: 'token-111' },
      { phone_number_id: '222', access_token: 'token-222', app_secret: OTHER_APP_SECRET },
    ],
  };
  server = new ConnectorServer({
    config,
    logger: createLogger({ level: 'silent' }),
    gateway: loadGatewaySettings(config, {}),
  });
  const port = await server.start();
  webhookUrl = `http://127.0.0.1:${port}${config.whatsapp.webhookPath}`;
  server.gateway!.on('processed', (p) => processed.push(p));
});

after(async () => {
  await server?.close();
  await new Promise((r) => business?.close(r));
});

function permissionReply(phoneNumberId: string, from: string): Record<string, unknown> {
  return {
    object: 'whatsapp_business_account',
    entry: [
      {
        id: 'waba-1',
        changes: [
          {
            field: 'messages',
            value: {
              messaging_product: 'whatsapp',
              metadata: { phone_number_id: phoneNumberId, display_phone_number: '15550001111' },
              messages: [
                {
                  from,
                  id: `wamid.${from}`,
                  timestamp: String(Math.floor(Date.now() / 1000)),
                  context: { from, id: 'wamid.request' },
                  type: 'interactive',
                  interactive: {
                    type: 'call_permission_reply',
                    call_permission_reply: {
                      response: 'accept',
                      is_permanent: true,
                      response_source: 'user_action',
                    },
                  },
                },
              ],
            },
          },
        ],
      },
    ],
  };
}

async function post(body: string, signature: string | undefined): Promise<Response> {
  return fetch(webhookUrl, {
    method: 'POST',
    headers: {
      'Content-Type': 'application/json',
      ...(signature !== undefined ? { 'X-Hub-Signature-256': signature } : {}),
    },
    body,
  });
}

test('subscription verification echoes the challenge only for the configured verify token', async () => {
  const ok = await fetch(
    `${webhookUrl}?hub.mode=subscribe&hub.challenge=1158863600&hub.verify_token=${VERIFY_TOKEN}`,
  );
  assert.equal(ok.status, 200);
  assert.equal(await ok.text(), '1158863600');
  const wrong = await fetch(
    `${webhookUrl}?hub.mode=subscribe&hub.challenge=1158863600&hub.verify_token=guess`,
  );
  assert.equal(wrong.status, 403);
  assert.notEqual(await wrong.text(), '1158863600');
});

test('a POST without a signature is refused with 401, a wrong one with 403, and neither is processed or forwarded', async () => {
  const body = encodeWebhookBody(permissionReply('111', '4915300000001'));
  processed.length = 0;
  received = [];
  assert.equal((await post(body, undefined)).status, 401);
  assert.equal((await post(body, signWebhookBody(body, 'not-the-secret'))).status, 403);
  assert.equal((await post(body, 'sha256=abc')).status, 403);
  await server.gateway!.idle();
  assert.equal(processed.length, 0);
  assert.equal(received.length, 0);
  assert.equal(server.gateway!.permissions.get('111', '4915300000001'), undefined);
});

test('a signed webhook is answered 200, processed, and forwarded byte for byte with a valid signature after retries', async () => {
  const body = encodeWebhookBody(permissionReply('111', '4915300000002'));
  processed.length = 0;
  received = [];
  businessAnswers = [503];
  const res = await post(body, signWebhookBody(body, APP_SECRET));
  assert.equal(res.status, 200);
  await server.gateway!.idle();
  assert.deepEqual(
    processed.map((p) => p.outcome),
    ['permission_recorded'],
  );
  const recorded = server.gateway!.permissions.get('111', '4915300000002');
  assert.equal(recorded?.response, 'accept');
  assert.equal(recorded?.isPermanent, true);
  assert.equal(received.length, 2, 'first attempt answered 503, the retry 200');
  for (const r of received) {
    assert.equal(r.body.toString(), body);
    assert.ok(verifyWebhookSignature(r.body, r.signature, APP_SECRET));
  }
});

test('a webhook for a number with its own app secret must be signed with that secret', async () => {
  const body = encodeWebhookBody(permissionReply('222', '4915300000003'));
  processed.length = 0;
  assert.equal((await post(body, signWebhookBody(body, APP_SECRET))).status, 200);
  await server.gateway!.idle();
  assert.deepEqual(
    processed.map((p) => p.outcome),
    ['wrong_app'],
  );
  processed.length = 0;
  received = [];
  assert.equal((await post(body, signWebhookBody(body, OTHER_APP_SECRET))).status, 200);
  await server.gateway!.idle();
  assert.deepEqual(
    processed.map((p) => p.outcome),
    ['permission_recorded'],
  );
  // Forwarded re-signed with the secret it came with.
  assert.ok(verifyWebhookSignature(received[0]!.body, received[0]!.signature, OTHER_APP_SECRET));
});

test('webhooks that are not call events (e.g. messages) are still forwarded', async () => {
  const payload = {
    object: 'whatsapp_business_account',
    entry: [
      {
        id: 'waba-1',
        changes: [
          {
            field: 'messages',
            value: {
              messaging_product: 'whatsapp',
              metadata: { phone_number_id: '111', display_phone_number: '15550001111' },
              messages: [
                { from: '4915300000004', id: 'wamid.x', type: 'text', text: { body: 'Grüße' } },
              ],
            },
          },
        ],
      },
    ],
  };
  const body = encodeWebhookBody(payload);
  processed.length = 0;
  received = [];
  assert.equal((await post(body, signWebhookBody(body, APP_SECRET))).status, 200);
  await server.gateway!.idle();
  assert.deepEqual(
    processed.map((p) => p.outcome),
    ['not_a_call_event'],
  );
  assert.equal(received.length, 1);
  assert.equal(received[0]!.body.toString(), body);
});

test('the calls listing needs a LiveKit access token with roomCreate', async () => {
  const url = `http://127.0.0.1:${server.internalPort}/api/calls`;
  assert.equal((await fetch(url)).status, 401);
  const token = new AccessToken('devkey', 'devsecret-devsecret-devsecret-00');
  token.addGrant({ roomCreate: true });
  const res = await fetch(url, { headers: { Authorization: `Bearer ${await token.toJwt()}` } });
  assert.equal(res.status, 200);
  const listing = (await res.json()) as { calls: unknown[]; twilioCalls: unknown[] };
  assert.deepEqual(listing.calls, []);
  assert.deepEqual(listing.twilioCalls, []);
});

test('a connect older than max_webhook_age_seconds (a late Meta retry) is not acted on', async () => {
  const body = encodeWebhookBody({
    object: 'whatsapp_business_account',
    entry: [
      {
        id: 'waba-1',
        changes: [
          {
            field: 'calls',
            value: {
              messaging_product: 'whatsapp',
              metadata: { phone_number_id: '111', display_phone_number: '15550001111' },
              calls: [
                {
                  id: 'wacid.old',
                  from: '4915300000005',
                  to: '15550001111',
                  event: 'connect',
                  direction: 'USER_INITIATED',
                  timestamp: String(Math.floor(Date.now() / 1000) - 3600),
                  session: { sdp_type: 'offer', sdp: 'v=0\r\n' },
                },
              ],
            },
          },
        ],
      },
    ],
  });
  processed.length = 0;
  assert.equal((await post(body, signWebhookBody(body, APP_SECRET))).status, 200);
  await server.gateway!.idle();
  assert.deepEqual(
    processed.map((p) => p.outcome),
    ['stale'],
  );
});
