import assert from 'node:assert/strict';
import { after, before, beforeEach, test } from 'node:test';
import { WhatsAppSimulator } from '../../../src/simulator/index.js';
import type { CallsWebhookValue } from '../../../src/whatsapp/webhook-payloads.js';
import { WebhookReceiver } from './simulator-test-kit.js';

const APP_SECRET = 'a-real-looking-app-secret';
let sim: WhatsAppSimulator;
let hooks: WebhookReceiver;

before(async () => {
  hooks = await WebhookReceiver.start(APP_SECRET);
  sim = await WhatsAppSimulator.start({
    appSecret: APP_SECRET,
    phoneNumbers: [
      {
        id: '518638374672395',
        displayPhoneNumber: '15551441906',
        wabaId: '553133154547046',
        webhookUrl: hooks.url,
      },
    ],
    timing: { webhookRetryDelaysMs: [30, 30, 30] },
  });
});

beforeEach(() => {
  sim.setFaults({ duplicateWebhooks: false, terminateBeforeConnect: false, webhookDelayMs: 0 });
  hooks.failNext = 0;
});

after(async () => {
  await sim.close();
  await hooks.close();
});

test('connect webhooks carry Meta envelope and a signature over the exact bytes, with non-ASCII escaped', async () => {
  const call = await sim.placeUserCall({ from: '917358580180', name: 'Zoë Ünal' });
  const hook = await hooks.waitFor('connect', call.id);
  assert.equal(hook.signatureValid, true);
  assert.ok(hook.raw.includes('Zo\\u00eb \\u00dcnal'), 'non-ASCII is sent as lowercase \\uXXXX');
  assert.equal(hook.payload.object, 'whatsapp_business_account');
  const entry = hook.payload.entry[0];
  assert.equal(entry?.id, '553133154547046');
  assert.equal(entry?.changes[0]?.field, 'calls');
  const value = entry?.changes[0]?.value as CallsWebhookValue;
  assert.deepEqual(value.metadata, {
    display_phone_number: '15551441906',
    phone_number_id: '518638374672395',
  });
  // 2026 shape: every user also has a BSUID (from_user_id / contacts[].user_id).
  const bsuid = sim.user('917358580180').userId;
  assert.match(bsuid, /^IN\.\d{20}$/);
  assert.deepEqual(value.contacts, [
    { profile: { name: 'Zoë Ünal' }, wa_id: '917358580180', user_id: bsuid },
  ]);
  const c = value.calls?.[0];
  assert.equal(c?.from, '917358580180');
  assert.equal(c?.from_user_id, bsuid);
  assert.equal(c?.to, '15551441906');
  assert.equal(c?.direction, 'USER_INITIATED');
  assert.match(c?.timestamp ?? '', /^\d{10}$/);
  assert.match(c?.id ?? '', /^wacid\.HBgM[A-Za-z0-9+/]+=*$/);
  call.hangUp();
});

test('a failed delivery is retried until the receiver accepts it', async () => {
  await sim.webhooksIdle();
  await new Promise((r) => setTimeout(r, 100));
  hooks.failNext = 2;
  const call = await sim.placeUserCall({ from: '4915100000001' });
  await hooks.waitFor('connect', call.id);
  const delivery = sim.webhookLog.find((d) => d.callId === call.id && d.event === 'connect');
  for (let i = 0; i < 50 && !delivery?.delivered; i++) await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual(
    delivery?.attempts.map((a) => a.status),
    [500, 500, 200],
  );
  assert.equal(delivery?.delivered, true);
  call.hangUp();
});

test('faults: duplicate delivery, and terminate delivered before connect', async () => {
  sim.setFaults({ duplicateWebhooks: true });
  const dup = await sim.placeUserCall({ from: '4915100000002' });
  await hooks.waitFor('connect', dup.id);
  await sim.webhooksIdle();
  assert.equal(
    hooks.received.filter((w) => w.event === 'connect' && w.raw.includes(dup.id)).length,
    2,
  );
  dup.hangUp();
  await sim.webhooksIdle();

  sim.setFaults({ duplicateWebhooks: false, terminateBeforeConnect: true });
  const early = await sim.placeUserCall({ from: '4915100000003' });
  await hooks.waitFor('connect', early.id);
  assert.deepEqual(
    hooks.received.filter((w) => w.raw.includes(early.id)).map((w) => w.event),
    ['terminate', 'connect'],
  );
  assert.equal(early.state, 'ended');
});

test("Meta's verification GET: a callback that echoes hub.challenge is accepted, a wrong verify token refused", async () => {
  const set = (verifyToken: string) =>
    fetch(`${sim.controlUrl}/webhook-url`, {
      method: 'POST',
      body: JSON.stringify({ url: hooks.url, verifyToken, phoneNumberId: '518638374672395' }),
    });
  assert.equal((await set('verify-me')).status, 200);
  const refused = await set('wrong-token');
  assert.equal(refused.status, 412);
  assert.match(JSON.stringify(await refused.json()), /hub\.challenge/);
});
