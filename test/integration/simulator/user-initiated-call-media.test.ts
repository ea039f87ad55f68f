import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { WhatsAppSimulator } from '../../../src/simulator/index.js';
import type {
  CallConnectWebhook,
  CallTerminateWebhook,
  CallsWebhookValue,
} from '../../../src/whatsapp/webhook-payloads.js';
import {
  assertTonesBothWays,
  graph,
  WebhookReceiver,
  WeriftBusinessLeg,
} from './simulator-test-kit.js';

let sim: WhatsAppSimulator;
let hooks: WebhookReceiver;

before(async () => {
  hooks = await WebhookReceiver.start('simulator-app-secret');
  sim = await WhatsAppSimulator.start({ webhookUrl: hooks.url });
});

after(async () => {
  await sim.close();
  await hooks.close();
});

test('a user call: Meta-shaped offer, pre_accept + accept, a tone both ways, DTMF reaches the business, hang-up reports the duration', async () => {
  const call = await sim.placeUserCall({
    from: '+4915112345678',
    name: 'Ana',
    voice: { kind: 'tone', frequencyHz: 440 },
  });
  const connect = await hooks.waitFor('connect', call.id);
  assert.equal(connect.signatureValid, true);
  const value = connect.payload.entry[0]?.changes[0]?.value as CallsWebhookValue;
  const offer = (value.calls?.[0] as CallConnectWebhook).session;
  assert.equal(offer.sdp_type, 'offer');
  for (const line of [
    'a=ice-lite',
    'a=group:BUNDLE audio',
    'a=mid:audio',
    'a=setup:actpass',
    'a=rtpmap:126 telephone-event/8000',
    'a=ptime:20',
  ]) {
    assert.ok(offer.sdp.includes(`${line}\r\n`), `offer lacks ${line}`);
  }

  const business = new WeriftBusinessLeg(1000);
  try {
    const answer = await business.answer(offer.sdp);
    const path = `/v24.0/${sim.defaultPhoneNumberId}/calls`;
    const session = { sdp_type: 'answer', sdp: answer };
    const pre = await graph(sim.graphUrl, 'POST', path, {
      messaging_product: 'whatsapp',
      call_id: call.id,
      action: 'pre_accept',
      session,
    });
    assert.deepEqual(pre.body, { messaging_product: 'whatsapp', success: true });
    const acc = await graph(sim.graphUrl, 'POST', path, {
      messaging_product: 'whatsapp',
      call_id: call.id,
      action: 'accept',
      session,
    });
    assert.equal(acc.status, 200);
    assert.equal(call.state, 'active');

    await new Promise((r) => setTimeout(r, 1500));
    // The relay is a real ICE-lite agent: the business ended up controlling.
    assert.equal(business.iceRole, 'controlling');
    assertTonesBothWays(call, business);

    await call.pressDigits('15#');
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(business.digits, '15#');

    call.hangUp();
    const terminate = await hooks.waitFor('terminate', call.id);
    const t = (terminate.payload.entry[0]?.changes[0]?.value as CallsWebhookValue)
      .calls?.[0] as CallTerminateWebhook;
    assert.equal(t.status, 'COMPLETED');
    assert.equal(t.direction, 'USER_INITIATED');
    assert.equal(typeof t.duration, 'number');
    assert.ok(Number(t.end_time) >= Number(t.start_time));
  } finally {
    await business.close();
  }
});
