import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { WhatsAppSimulator } from '../../../src/simulator/index.js';
import { graph, WebhookReceiver } from './simulator-test-kit.js';

let sim: WhatsAppSimulator;
let hooks: WebhookReceiver;
let calls: string;

before(async () => {
  hooks = await WebhookReceiver.start('simulator-app-secret');
  sim = await WhatsAppSimulator.start({
    webhookUrl: hooks.url,
    timing: { permissionReplyDelayMs: 20, connectWebhookDelayMs: 10, ringingDelayMs: 10 },
    graphTimeoutMs: 200,
  });
  calls = `/v24.0/${sim.defaultPhoneNumberId}/calls`;
});

after(async () => {
  await sim.close();
  await hooks.close();
});

const FP256 =
  'a=fingerprint:sha-256 2E:35:9F:21:9E:63:72:E5:42:74:76:2D:B3:70:F7:CB:24:14:9B:14:52:71:05:48:DA:4D:67:31:09:58:2A:ED';

/** A business answer in the shape of Meta's documented sample, with parts swappable. */
function answerSdp(
  parts: {
    fingerprints?: string[];
    telephoneEvent?: boolean;
    extraMedia?: boolean;
    codec?: string;
  } = {},
): string {
  const media = (mid: string) => [
    `m=audio 9 UDP/TLS/RTP/SAVPF 111${parts.telephoneEvent === false ? '' : ' 126'}`,
    'c=IN IP4 0.0.0.0',
    'a=rtcp:9 IN IP4 0.0.0.0',
    'a=ice-ufrag:X1ho',
    'a=ice-pwd:7fJSbV2N5qWiA5QiDKwK3vuh',
    ...(parts.fingerprints ?? [FP256]),
    'a=setup:active',
    `a=mid:${mid}`,
    'a=sendrecv',
    'a=rtcp-mux',
    `a=rtpmap:111 ${parts.codec ?? 'opus/48000/2'}`,
    ...(parts.telephoneEvent === false ? [] : ['a=rtpmap:126 telephone-event/8000']),
    'a=ssrc:330833028 cname:EDc1JutBl8rwHQc2',
  ];
  return [
    'v=0',
    'o=- 2822644248144643933 2 IN IP4 127.0.0.1',
    's=-',
    't=0 0',
    'a=group:BUNDLE audio',
    ...media('audio'),
    ...(parts.extraMedia ? media('video').map((l) => l.replace('m=audio', 'm=video')) : []),
    '',
  ].join('\r\n');
}

async function userCall(): Promise<string> {
  const call = await sim.placeUserCall({ from: `49151${Math.floor(Math.random() * 1e7)}` });
  return call.id;
}

function action(callId: string, name: string, sdp?: string, sdpType = 'answer') {
  return graph(sim.graphUrl, 'POST', calls, {
    messaging_product: 'whatsapp',
    call_id: callId,
    action: name,
    ...(sdp !== undefined ? { session: { sdp_type: sdpType, sdp } } : {}),
  });
}

test('a missing token, a wrong token, an unknown version or path and an unknown number get Graph errors', async () => {
  const none = await graph(
    sim.graphUrl,
    'GET',
    `/v24.0/${sim.defaultPhoneNumberId}/settings`,
    undefined,
    null,
  );
  assert.equal(none.status, 400);
  assert.equal(none.body.error?.code, 104);
  const wrong = await graph(
    sim.graphUrl,
    'GET',
    `/v24.0/${sim.defaultPhoneNumberId}/settings`,
    undefined,
    'EAAnope',
  );
  assert.equal(wrong.status, 401);
  assert.equal(wrong.body.error?.code, 190);
  assert.equal(wrong.body.error?.type, 'OAuthException');
  assert.match(String(wrong.body.error?.fbtrace_id), /^[\w-]{10,}$/);
  const old = await graph(sim.graphUrl, 'GET', `/v16.0/${sim.defaultPhoneNumberId}/settings`);
  assert.equal(old.body.error?.code, 100);
  const garbage = await graph(sim.graphUrl, 'GET', `/latest/${sim.defaultPhoneNumberId}/settings`);
  assert.equal(garbage.body.error?.code, 2500);
  const unknown = await graph(sim.graphUrl, 'POST', '/v24.0/999999/calls', {
    messaging_product: 'whatsapp',
  });
  assert.equal(unknown.status, 400);
  assert.equal(unknown.body.error?.code, 100);
  assert.equal(unknown.body.error?.error_subcode, 33);
  const settings = await graph(sim.graphUrl, 'GET', `/v24.0/${sim.defaultPhoneNumberId}/settings`);
  assert.equal((settings.body.calling as { status: string }).status, 'ENABLED');
  // The log keeps what the business sent, never the token.
  const logged = sim.requestLog.find((r) => r.status === 401);
  assert.equal(logged?.authorized, false);
  assert.ok(!JSON.stringify(sim.requestLog).includes('EAAnope'));
});

test('SDP answers Meta rejects are rejected with Meta errors; a missing telephone-event is accepted', async () => {
  const id = await userCall();
  const twoFingerprints = await action(
    id,
    'pre_accept',
    answerSdp({ fingerprints: [FP256, FP256.replace('sha-256', 'sha-384')] }),
  );
  assert.equal(twoFingerprints.status, 400);
  assert.deepEqual(
    { ...twoFingerprints.body.error, fbtrace_id: 'x' },
    {
      message: 'Invalid parameter',
      type: 'OAuthException',
      code: 100,
      error_data: { messaging_product: 'whatsapp', details: 'Fingerprint algo is not SHA256' },
      error_subcode: 2494010,
      is_transient: false,
      error_user_title: 'Parameter Invalid',
      error_user_msg: 'Check input parameters and retry the request',
      fbtrace_id: 'x',
    },
  );
  const sha1 = await action(
    id,
    'pre_accept',
    answerSdp({ fingerprints: [FP256.replace('sha-256', 'sha-1')] }),
  );
  assert.equal(sha1.body.error?.error_subcode, 2494010);
  const none = await action(id, 'pre_accept', answerSdp({ fingerprints: [] }));
  assert.equal(
    (none.body.error?.error_data as { details: string }).details,
    'No fingerprint found in SDP',
  );
  const offerType = await action(id, 'accept', answerSdp(), 'offer');
  assert.equal(offerType.body.error?.code, 100);
  const json = await action(id, 'accept', JSON.stringify({ sdp: answerSdp(), type: 'answer' }));
  assert.equal(json.body.error?.code, 138008);
  const twoLines = await action(id, 'accept', answerSdp({ extraMedia: true }));
  assert.equal(twoLines.body.error?.code, 138008);
  const noOpus = await action(id, 'accept', answerSdp({ codec: 'PCMU/8000' }));
  assert.equal(noOpus.body.error?.code, 138008);
  assert.equal(sim.call(id)?.state, 'ringing');

  const ok = await action(id, 'pre_accept', answerSdp({ telephoneEvent: false }));
  assert.deepEqual(ok.body, { messaging_product: 'whatsapp', success: true });
  assert.equal(sim.call(id)?.state, 'pre_accepted');
});

test('accept must repeat the pre_accept SDP; wrong transitions and unknown calls are refused', async () => {
  const id = await userCall();
  assert.equal((await action(id, 'pre_accept', answerSdp())).status, 200);
  const differs = await action(id, 'accept', answerSdp().replace('X1ho', 'Y2ip'));
  assert.equal(differs.status, 400);
  assert.match(
    String((differs.body.error?.error_data as { details: string }).details),
    /does not match the SDP answer given in the Pre-Accept/,
  );
  assert.equal(
    (await action(id, 'pre_accept', answerSdp())).body.error?.code,
    100,
    'pre_accept twice',
  );
  assert.equal((await action(id, 'accept', answerSdp())).status, 200);
  assert.equal((await action(id, 'reject')).body.error?.code, 100, 'reject an active call');
  assert.equal((await action(id, 'terminate')).status, 200);
  assert.equal((await action(id, 'terminate')).body.error?.code, 100, 'terminate twice');
  assert.equal(
    (await action(id, 'accept', answerSdp())).body.error?.code,
    100,
    'accept an ended call',
  );
  const unknown = await action('wacid.bm9wZQ==', 'terminate');
  assert.equal(unknown.status, 400);
  assert.equal(unknown.body.error?.code, 100);
  const bad = await graph(sim.graphUrl, 'POST', calls, {
    messaging_product: 'whatsapp',
    call_id: id,
    action: 'media_update',
  });
  assert.equal(bad.body.error?.code, 100);
  const noProduct = await graph(sim.graphUrl, 'POST', calls, { call_id: id, action: 'terminate' });
  assert.equal(noProduct.body.error?.code, 100);
  const terminate = await hooks.waitFor('terminate', id);
  assert.equal(terminate.signatureValid, true);
});

test('business calls need permission (138006), calling enabled (138000) and no ongoing call (138003); a permission request grants it', async () => {
  const to = '4915199999999';
  const offer = answerSdp().replace('a=setup:active', 'a=setup:actpass');
  const connect = () =>
    graph(sim.graphUrl, 'POST', calls, {
      messaging_product: 'whatsapp',
      to,
      action: 'connect',
      session: { sdp_type: 'offer', sdp: offer },
    });
  const denied = await connect();
  assert.equal(denied.status, 401);
  assert.equal(denied.body.error?.code, 138006);

  const perms = await graph(
    sim.graphUrl,
    'GET',
    `/v24.0/${sim.defaultPhoneNumberId}/call_permissions?user_wa_id=${to}`,
  );
  assert.deepEqual(perms.body.permission, { status: 'no_permission' });
  const send = (perms.body.actions as { action_name: string; can_perform_action: boolean }[])[0];
  assert.deepEqual(
    [send?.action_name, send?.can_perform_action],
    ['send_call_permission_request', true],
  );

  const cpr = {
    messaging_product: 'whatsapp',
    recipient_type: 'individual',
    to,
    type: 'interactive',
    interactive: {
      type: 'call_permission_request',
      action: { name: 'call_permission_request' },
      body: { text: 'May we call?' },
    },
  };
  const sent = await graph(
    sim.graphUrl,
    'POST',
    `/v24.0/${sim.defaultPhoneNumberId}/messages`,
    cpr,
  );
  assert.equal(sent.status, 200);
  const wamid = (sent.body.messages as { id: string }[])[0]?.id ?? '';
  assert.match(wamid, /^wamid\./);
  const reply = await hooks.waitFor('call_permission_reply');
  assert.ok(reply.raw.includes(wamid), 'the reply quotes the request as context');
  const again = await graph(
    sim.graphUrl,
    'POST',
    `/v24.0/${sim.defaultPhoneNumberId}/messages`,
    cpr,
  );
  assert.equal(again.body.error?.code, 138009);
  const granted = await graph(
    sim.graphUrl,
    'GET',
    `/v24.0/${sim.defaultPhoneNumberId}/call_permissions?user_wa_id=${to}`,
  );
  assert.equal((granted.body.permission as { status: string }).status, 'temporary');

  await graph(sim.graphUrl, 'POST', `/v24.0/${sim.defaultPhoneNumberId}/settings`, {
    calling: { status: 'DISABLED' },
  });
  const disabled = await connect();
  assert.deepEqual([disabled.status, disabled.body.error?.code], [401, 138000]);
  await graph(sim.graphUrl, 'POST', `/v24.0/${sim.defaultPhoneNumberId}/settings`, {
    calling: { status: 'ENABLED' },
  });

  const first = await connect();
  assert.equal(first.status, 200);
  assert.match(String((first.body.calls as { id: string }[])[0]?.id), /^wacid\./);
  const duplicate = await connect();
  assert.equal(duplicate.body.error?.code, 138003);
});

test('Graph faults: a request never answered, then a 500 (131000), then normal service', async () => {
  sim.setFaults({ graphTimeoutsNext: 1, graphErrorsNext: 1 });
  await assert.rejects(graph(sim.graphUrl, 'GET', `/v24.0/${sim.defaultPhoneNumberId}/settings`));
  const failed = await graph(sim.graphUrl, 'GET', `/v24.0/${sim.defaultPhoneNumberId}/settings`);
  assert.deepEqual([failed.status, failed.body.error?.code], [500, 131000]);
  const fine = await graph(sim.graphUrl, 'GET', `/v24.0/${sim.defaultPhoneNumberId}/settings`);
  assert.equal(fine.status, 200);
});
