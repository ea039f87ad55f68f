import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { WhatsAppSimulator } from '../../../src/simulator/index.js';
import type {
  CallTerminateWebhook,
  CallsWebhookValue,
} from '../../../src/whatsapp/webhook-payloads.js';
import { graph, WebhookReceiver, WeriftBusinessLeg } from './simulator-test-kit.js';

let sim: WhatsAppSimulator;
let hooks: WebhookReceiver;

before(async () => {
  hooks = await WebhookReceiver.start('simulator-app-secret');
  sim = await WhatsAppSimulator.start({
    webhookUrl: hooks.url,
    defaultCallPermission: 'permanent',
    timing: {
      // Long enough for a loaded machine to answer an accepted call (werift gathers first) before
      // the window closes; the unanswered call still ends in 2 s.
      acceptTimeoutMs: 2000,
      ringTimeoutMs: 300,
      mediaStartTimeoutMs: 1000,
      mediaGapTimeoutMs: 1000,
      connectWebhookDelayMs: 10,
      ringingDelayMs: 10,
    },
  });
});

after(async () => {
  await sim.close();
  await hooks.close();
});

function valueOf(hook: {
  payload: { entry: { changes: { value: unknown }[] }[] };
}): CallsWebhookValue {
  return hook.payload.entry[0]?.changes[0]?.value as CallsWebhookValue;
}

test('an unanswered user call ends after the accept window with a FAILED terminate and no times', async () => {
  const call = await sim.placeUserCall({ from: '4915100000010' });
  const t = valueOf(await hooks.waitFor('terminate', call.id)).calls?.[0] as CallTerminateWebhook;
  assert.equal(t.status, 'FAILED');
  assert.equal(t.start_time, undefined);
  assert.equal(t.duration, undefined);
  assert.equal(call.endReason, 'accept_timeout');
});

test('an accepted call whose business sends no media fails with 138021, reported in the call and in value.errors', async () => {
  const call = await sim.placeUserCall({ from: '4915100000011' });
  const offer = call.metaSdp;
  const silent = new WeriftBusinessLeg(undefined);
  try {
    const answer = await silent.answer(offer);
    const res = await graph(sim.graphUrl, 'POST', `/v24.0/${sim.defaultPhoneNumberId}/calls`, {
      messaging_product: 'whatsapp',
      call_id: call.id,
      action: 'accept',
      session: { sdp_type: 'answer', sdp: answer },
    });
    assert.equal(res.status, 200);
    const value = valueOf(await hooks.waitFor('terminate', call.id));
    const t = value.calls?.[0] as CallTerminateWebhook;
    assert.equal(t.status, 'FAILED');
    assert.equal(t.errors?.[0]?.code, 138021);
    assert.equal(value.errors?.[0]?.code, 138021);
    assert.ok(t.start_time !== undefined && t.duration !== undefined, 'the call was picked up');
  } finally {
    await silent.close();
  }
});

test('business calls: the user rejects (REJECTED then terminate), or ignores until the ring timeout', async () => {
  const post = async (to: string, leg: WeriftBusinessLeg) => {
    const res = await graph(sim.graphUrl, 'POST', `/v24.0/${sim.defaultPhoneNumberId}/calls`, {
      messaging_product: 'whatsapp',
      to,
      action: 'connect',
      session: { sdp_type: 'offer', sdp: await leg.offer() },
    });
    return (res.body.calls as { id: string }[])[0]?.id ?? '';
  };
  const legs = [new WeriftBusinessLeg(undefined), new WeriftBusinessLeg(undefined)];
  try {
    const rejectedId = await post('4915100000012', legs[0] as WeriftBusinessLeg);
    const rejected = await sim.waitForBusinessCall();
    assert.equal(rejected.id, rejectedId);
    rejected.reject();
    await hooks.waitFor('terminate', rejectedId);
    assert.deepEqual(
      hooks.received.filter((w) => w.raw.includes(rejectedId)).map((w) => w.event),
      ['connect', 'status:RINGING', 'status:REJECTED', 'terminate'],
    );

    const ignoredId = await post('4915100000013', legs[1] as WeriftBusinessLeg);
    const t = valueOf(await hooks.waitFor('terminate', ignoredId))
      .calls?.[0] as CallTerminateWebhook;
    assert.equal(t.status, 'FAILED');
    assert.equal(sim.call(ignoredId)?.endReason, 'ring_timeout');
  } finally {
    for (const leg of legs) await leg.close();
  }
});
