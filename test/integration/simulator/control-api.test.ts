import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { WhatsAppSimulator } from '../../../src/simulator/index.js';
import { graph, WebhookReceiver, WeriftBusinessLeg } from './simulator-test-kit.js';

let sim: WhatsAppSimulator;
let hooks: WebhookReceiver;

before(async () => {
  hooks = await WebhookReceiver.start('simulator-app-secret');
  sim = await WhatsAppSimulator.start({ seed: 7 });
});

after(async () => {
  await sim.close();
  await hooks.close();
});

async function control(method: string, path: string, body?: unknown) {
  const res = await fetch(`${sim.controlUrl}${path}`, {
    method,
    ...(body !== undefined
      ? { body: JSON.stringify(body), headers: { 'Content-Type': 'application/json' } }
      : {}),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

test('the control API drives a whole user call: place, speak, press digits, read what the user heard, hang up', async () => {
  assert.equal((await control('POST', '/webhook-url', { url: hooks.url })).status, 200);
  const placed = await control('POST', '/calls', {
    from: '+4915100000020',
    voice: { kind: 'tone', frequencyHz: 600 },
  });
  assert.equal(placed.status, 201);
  const id = String(placed.body.id);
  const offer = sim.call(id)?.metaSdp ?? '';

  const business = new WeriftBusinessLeg(1000);
  try {
    const answer = await business.answer(offer);
    const accepted = await graph(sim.graphUrl, 'POST', `/v24.0/${sim.defaultPhoneNumberId}/calls`, {
      messaging_product: 'whatsapp',
      call_id: id,
      action: 'accept',
      session: { sdp_type: 'answer', sdp: answer },
    });
    assert.equal(accepted.status, 200);
    assert.equal(
      (await control('POST', `/calls/${encodeURIComponent(id)}/dtmf`, { digits: '42' })).status,
      200,
    );
    await new Promise((r) => setTimeout(r, 800));
    assert.equal(business.digits, '42');
    const stats = await control(
      'GET',
      `/calls/${encodeURIComponent(id)}/recording?expectHz=1000&lastMs=500`,
    );
    assert.ok(Number(stats.body.levelDbfs) > -30);
    assert.ok(Math.abs(Number(stats.body.frequencyHz) - 1000) < 30);
    const wav = await fetch(`${sim.controlUrl}/calls/${encodeURIComponent(id)}/recording.wav`);
    assert.equal(wav.headers.get('content-type'), 'audio/wav');
    assert.ok((await wav.arrayBuffer()).byteLength > 44 + 16000);

    // 100 % loss on the media leg: the user hears nothing more until it is lifted.
    await control('POST', '/faults', { packetLossPercent: 100 });
    const before = sim.call(id)?.recordingStats().packetsReceived ?? 0;
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(sim.call(id)?.recordingStats().packetsReceived, before);
    await control('POST', '/faults', { packetLossPercent: 0 });
    await new Promise((r) => setTimeout(r, 300));
    assert.ok((sim.call(id)?.recordingStats().packetsReceived ?? 0) > before);

    const listed = await control('GET', '/calls');
    assert.deepEqual(
      (listed.body.calls as { id: string; state: string }[]).map((c) => [c.id, c.state]),
      [[id, 'active']],
    );
    assert.equal(
      (await control('POST', `/calls/${encodeURIComponent(id)}/hangup`)).body.state,
      'ended',
    );
    await hooks.waitFor('terminate', id);
    const webhooks = await control('GET', '/webhooks');
    assert.deepEqual(
      (webhooks.body.webhooks as { event: string }[]).map((w) => w.event),
      ['connect', 'terminate'],
    );
  } finally {
    await business.close();
  }
});

test('the control API validates input and sets faults and user permissions', async () => {
  assert.equal((await control('POST', '/calls', {})).status, 400);
  assert.equal((await control('POST', '/calls', { from: 'not-a-number' })).status, 400);
  assert.equal((await control('GET', '/calls/wacid.nope')).status, 404);
  assert.equal((await control('POST', '/faults', { packetLossPercent: 250 })).status, 400);
  assert.equal((await control('POST', '/faults', { explode: true })).status, 400);
  const faults = await control('POST', '/faults', {
    packetLossPercent: 5,
    jitterMs: 10,
    graphErrorsNext: 0,
  });
  assert.equal(faults.body.packetLossPercent, 5);
  assert.equal(sim.faults.jitterMs, 10);
  const user = await control('POST', '/users/4915100000021', {
    permission: { status: 'permanent' },
  });
  assert.deepEqual((user.body.permissions as Record<string, unknown>)[sim.defaultPhoneNumberId], {
    status: 'permanent',
  });
  assert.equal((await control('GET', '/nope')).status, 404);
  const info = await control('GET', '');
  assert.equal(info.body.graphUrl, sim.graphUrl);
});

test('users: a username-only user is added, listed and calls by BSUID; malformed or duplicate identities are refused', async () => {
  const added = await control('POST', '/users', {
    userId: 'GB.55512345678901234567',
    username: 'grace.hopper',
    name: 'Grace',
  });
  assert.equal(added.status, 201);
  assert.deepEqual(
    { waId: added.body.waId, userId: added.body.userId, username: added.body.username },
    { waId: null, userId: 'GB.55512345678901234567', username: 'grace.hopper' },
  );
  const listed = await control('GET', '/users');
  const ids = (listed.body.users as { userId: string }[]).map((u) => u.userId);
  assert.ok(ids.includes('GB.55512345678901234567'));

  const placed = await control('POST', '/calls', { from: 'GB.55512345678901234567' });
  assert.equal(placed.status, 201);
  assert.equal(placed.body.user, 'GB.55512345678901234567');
  assert.equal(placed.body.username, 'grace.hopper');
  assert.equal(placed.body.userEnd, 'simulated');
  await control('POST', `/calls/${encodeURIComponent(String(placed.body.id))}/hangup`);

  // A phone user gets a BSUID too, and can adopt a username later (the BSUID stays).
  const phoneUser = await control('POST', '/users/4915100000031', {});
  const adopted = await control('POST', '/users/4915100000031', { username: 'ada_l' });
  assert.equal(adopted.body.userId, phoneUser.body.userId);
  assert.equal(adopted.body.username, 'ada_l');

  for (const body of [
    {},
    { userId: '13491208655302741918' },
    { userId: 'US.ENT.1' },
    { phoneNumber: '12' },
    { userId: 'US.1', username: 'a' },
    { userId: 'US.2', username: '.dots.' },
  ]) {
    assert.equal((await control('POST', '/users', body)).status, 400, JSON.stringify(body));
  }
  assert.equal(
    (await control('POST', '/users', { userId: 'GB.55512345678901234567' })).status,
    409,
  );
  assert.equal((await control('POST', '/calls', { from: 'US.ENT.999' })).status, 400);
  assert.equal((await control('GET', '/users/nobody')).status, 400);
});
