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
  releaseWrtc,
  WebhookReceiver,
  WrtcBusinessLeg,
} from './simulator-test-kit.js';

let sim: WhatsAppSimulator;
let hooks: WebhookReceiver;

before(async () => {
  hooks = await WebhookReceiver.start('simulator-app-secret');
  sim = await WhatsAppSimulator.start({
    webhookUrl: hooks.url,
    defaultCallPermission: 'temporary',
    timing: { connectWebhookDelayMs: 50, ringingDelayMs: 50 },
  });
});

after(async () => {
  await sim.close();
  await hooks.close();
  await releaseWrtc();
});

function callOf(payload: { entry: { changes: { value: unknown }[] }[] }) {
  return (payload.entry[0]?.changes[0]?.value as CallsWebhookValue).calls?.[0];
}

test('a business call from libwebrtc: Meta answers by webhook while ringing, the user picks up, a tone flows both ways, terminate completes', async () => {
  const business = new WrtcBusinessLeg(1000);
  try {
    const offer = await business.offer();
    const res = await graph(sim.graphUrl, 'POST', `/v23.0/${sim.defaultPhoneNumberId}/calls`, {
      messaging_product: 'whatsapp',
      to: '4915112345678',
      action: 'connect',
      session: { sdp_type: 'offer', sdp: offer },
      biz_opaque_callback_data: 'ticket-42',
    });
    assert.equal(res.status, 200);
    const callId = (res.body.calls as { id: string }[])[0]?.id ?? '';
    assert.match(callId, /^wacid\./);

    const connect = await hooks.waitFor('connect', callId);
    const c = callOf(connect.payload) as CallConnectWebhook;
    assert.equal(c.direction, 'BUSINESS_INITIATED');
    assert.equal(c.session.sdp_type, 'answer');
    assert.equal(c.biz_opaque_callback_data, 'ticket-42');
    assert.ok(c.session.sdp.includes('a=ice-lite\r\n'));
    assert.ok(
      c.session.sdp.includes('a=setup:active\r\n'),
      'Meta answers an actpass offer as DTLS client',
    );
    await business.applyAnswer(c.session.sdp);

    const call = await sim.waitForBusinessCall();
    assert.equal(call.id, callId);
    await hooks.waitFor('status:RINGING', callId);
    call.speak(await import('../../../src/simulator/index.js').then((m) => new m.ToneVoice(440)));
    await call.answer();
    await hooks.waitFor('status:ACCEPTED', callId);

    await new Promise((r) => setTimeout(r, 1500));
    assertTonesBothWays(call, business);

    const end = await graph(sim.graphUrl, 'POST', `/v23.0/${sim.defaultPhoneNumberId}/calls`, {
      messaging_product: 'whatsapp',
      call_id: callId,
      action: 'terminate',
    });
    assert.deepEqual(end.body, { messaging_product: 'whatsapp', success: true });
    const terminate = callOf(
      (await hooks.waitFor('terminate', callId)).payload,
    ) as CallTerminateWebhook;
    assert.equal(terminate.status, 'COMPLETED');
    assert.equal(terminate.biz_opaque_callback_data, 'ticket-42');
    assert.deepEqual(
      hooks.received.filter((w) => w.raw.includes(callId)).map((w) => w.event),
      ['connect', 'status:RINGING', 'status:ACCEPTED', 'terminate'],
    );
  } finally {
    await business.close();
  }
});
