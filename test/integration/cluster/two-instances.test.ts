import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { dispose } from '@livekit/rtc-node';
import { SessionDescription } from '@livekit/protocol';
import { AccessToken } from 'livekit-server-sdk';
import { SignJWT } from 'jose';
import { createUserVoice } from '../../../src/simulator/index.js';
import {
  RoomListener,
  assertTone,
  eventually,
  postTwirpJson,
  sleep,
} from '../calls/bridge-harness.js';
import {
  acceptThrough,
  KEY_PREFIX,
  startClusterBed,
  twirpJson,
  type ClusterBed,
  type ClusterInstance,
} from './cluster-harness.js';

let bed: ClusterBed;
let a: ClusterInstance;
let b: ClusterInstance;

before(async () => {
  bed = await startClusterBed();
  a = await bed.startInstance('node-a');
  b = await bed.startInstance('node-b');
});

after(async () => {
  await bed?.stop();
  await dispose();
});

const callKey = (callId: string) => `${KEY_PREFIX}call:${callId}`;

function isCode(code: string, message?: RegExp) {
  return (err: Error & { code?: string }) => {
    assert.equal(err.code, code, err.message);
    if (message) assert.match(err.message, message);
    return true;
  };
}

/** The simulator's side of a dialled call (skipping calls a failed earlier test left behind). */
async function businessCall(callId: string) {
  for (;;) {
    const call = await bed.simulator.waitForBusinessCall();
    if (call.id === callId) return call;
  }
}

/** Best-effort cleanup, so one failing test does not leave a call up for the next. */
async function hangUpQuietly(callId: string | undefined) {
  if (!callId) return;
  await b.client.disconnectWhatsAppCall(callId, bed.accessToken).catch(() => undefined);
}

async function dialThrough(instance: ClusterInstance, roomName: string, to: string) {
  return instance.client.dialWhatsAppCall({
    whatsappPhoneNumberId: bed.phoneNumberId,
    whatsappToPhoneNumber: to,
    whatsappApiKey: bed.accessToken,
    whatsappCloudApiVersion: '24.0',
    roomName,
    participantIdentity: `wa-${to}`,
  });
}

test('both instances announce themselves in Redis with their URL and load', async () => {
  const ids = (await bed.inspect.smembers(`${KEY_PREFIX}instances`)).sort();
  assert.deepEqual(ids, ['node-a', 'node-b']);
  const info = JSON.parse((await bed.inspect.get(`${KEY_PREFIX}instance:node-b`)) ?? '{}');
  assert.equal(info.url, b.internalUrl);
  assert.equal(info.activeCalls, 0);
  assert.equal(info.maxCalls, b.config.calls.maxConcurrentCalls);
  const metrics = await (await fetch(`${a.internalUrl}/metrics`)).text();
  assert.match(metrics, /^whatsapp_connector_cluster_active_calls 0$/m);
  assert.match(metrics, /^whatsapp_connector_cluster_redis_connected 1$/m);
});

test('an inbound call accepted through A is disconnected through B: Meta sees the terminate, the connector leaves the room, a second disconnect is not_found on both', async () => {
  const userCall = await bed.simulator.placeUserCall({
    from: '15550001111',
    voice: { kind: 'tone', frequencyHz: 440 },
  });
  const roomName = `cluster-inbound-${Date.now()}`;
  const listener = await RoomListener.join(bed.lk, roomName);
  try {
    await acceptThrough(bed, a, userCall, roomName, { waitUntilAnswered: true });
    await listener.waitForConnectorTrack();
    assert.equal(await bed.inspect.get(callKey(userCall.id)), 'node-a');
    assert.equal(b.server.calls!.registry.get(userCall.id), undefined);

    // An Accept retried through B joins the call on A instead of answering it a second time.
    const again = await acceptThrough(bed, b, userCall, roomName);
    assert.equal(again.roomName, roomName);
    assert.equal(b.server.calls!.registry.get(userCall.id), undefined);

    await b.client.disconnectWhatsAppCall(userCall.id, bed.accessToken);
    await userCall.waitForState('ended', 5000);
    assert.equal(userCall.endReason, 'business_terminate');
    await eventually(
      () => !listener.room.remoteParticipants.has('wa-caller'),
      10_000,
      'connector left the room',
    );
    await assert.rejects(
      b.client.disconnectWhatsAppCall(userCall.id, bed.accessToken),
      isCode('not_found', /whatsapp call not found/),
    );
    await assert.rejects(
      a.client.disconnectWhatsAppCall(userCall.id, bed.accessToken),
      isCode('not_found', /whatsapp call not found/),
    );
    assert.equal(await bed.inspect.get(callKey(userCall.id)), null);
  } finally {
    await hangUpQuietly(userCall.id);
    await listener.close();
  }
});

test('a transfer requested through B moves a call held by A: A joins the new room, the media stays on A', async () => {
  const userCall = await bed.simulator.placeUserCall({
    from: '15550002222',
    voice: { kind: 'tone', frequencyHz: 440 },
  });
  const roomName = `cluster-transfer-a-${Date.now()}`;
  const target = `cluster-transfer-b-${Date.now()}`;
  const listener = await RoomListener.join(bed.lk, roomName);
  const other = await RoomListener.join(bed.lk, target, 'human');
  try {
    await acceptThrough(bed, a, userCall, roomName, { waitUntilAnswered: true });
    await listener.waitForConnectorTrack();
    const token = new AccessToken(bed.lk.apiKey, bed.lk.apiSecret, { ttl: 60 });
    token.addGrant({ roomCreate: true });
    const res = await fetch(
      `${b.internalUrl}/api/calls/${encodeURIComponent(userCall.id)}/transfer`,
      {
        method: 'POST',
        headers: {
          Authorization: `Bearer ${await token.toJwt()}`,
          'Content-Type': 'application/json',
        },
        body: JSON.stringify({ room: target }),
      },
    );
    assert.equal(res.status, 200, await res.clone().text());
    assert.equal(((await res.json()) as { roomName: string }).roomName, target);
    assert.equal(a.server.calls!.registry.get(userCall.id)?.roomName, target);
    assert.equal(b.server.calls!.registry.get(userCall.id), undefined);
    const connector = await other.waitForConnectorTrack();
    assert.equal(connector.attributes['whatsapp.transferredFrom'], roomName);
    await sleep(1500);
    assertTone(other.heard(1000), other.sampleRate, 440, 'the new room hears the caller');
  } finally {
    await hangUpQuietly(userCall.id);
    await listener.close();
    await other.close();
  }
});

test('an outbound call dialled through A is connected through B with Meta answer, and audio flows both ways', async () => {
  let callId: string | undefined;
  const roomName = `cluster-outbound-${Date.now()}`;
  const listener = await RoomListener.join(bed.lk, roomName);
  try {
    const dial = await dialThrough(a, roomName, '15550002222');
    callId = dial.whatsappCallId;
    assert.equal(await bed.inspect.get(callKey(dial.whatsappCallId)), 'node-a');
    const userCall = await businessCall(dial.whatsappCallId);
    const connector = await listener.waitForConnectorTrack();

    const answered = twirpJson(bed, b, 'ConnectWhatsAppCall', {
      whatsappCallId: dial.whatsappCallId,
      sdp: { type: 'answer', sdp: userCall.metaSdp },
      waitUntilAnswered: true,
    });
    await eventually(
      () => connector.attributes['whatsapp.callStatus'] === 'ringing',
      5000,
      'ringing status',
    );
    userCall.speak(await createUserVoice({ kind: 'tone', frequencyHz: 440 }));
    await userCall.answer();
    const res = await answered;
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(a.server.calls!.registry.get(dial.whatsappCallId)?.state, 'active');

    await listener.speak(1000);
    await sleep(2500);
    assertTone(listener.heard(1000), listener.sampleRate, 440, 'room');
    assertTone(userCall.recording().pcm.subarray(-16_000), 16_000, 1000, 'user');

    await b.client.disconnectWhatsAppCall(dial.whatsappCallId, bed.accessToken);
    await userCall.waitForState('ended', 5000);
    await assert.rejects(
      a.client.disconnectWhatsAppCall(dial.whatsappCallId, bed.accessToken),
      isCode('not_found'),
    );
  } finally {
    await hangUpQuietly(callId);
    await listener.close();
  }
});

test('webhooks delivered to B drive a call dialled through A: answer, status and hang-up reach A', async () => {
  let dialled: string | undefined;
  bed.simulator.setWebhookUrl(`${b.url}${b.config.whatsapp.webhookPath}`);
  const roomName = `cluster-webhooks-${Date.now()}`;
  const listener = await RoomListener.join(bed.lk, roomName);
  try {
    const dial = await dialThrough(a, roomName, '15550003333');
    const callId = dial.whatsappCallId;
    dialled = callId;
    const userCall = await businessCall(callId);
    // No ConnectWhatsAppCall from the application: B's gateway hands Meta's answer to A.
    await eventually(
      () => a.server.calls!.registry.get(callId)?.state === 'ringing',
      5000,
      'ringing on A',
    );
    await userCall.answer();
    await eventually(
      () => a.server.calls!.registry.get(callId)?.state === 'active',
      5000,
      'active on A (status webhook through B)',
    );
    userCall.hangUp();
    await eventually(
      () => a.server.calls!.registry.get(callId)?.isEnded === true,
      5000,
      'ended on A (terminate webhook through B)',
    );
    await eventually(
      () => !listener.room.remoteParticipants.has('wa-15550003333'),
      10_000,
      'connector left the room',
    );
    assert.equal(b.server.calls!.registry.get(callId), undefined);
    // The user hung up; the application still reports it, through either instance.
    await b.client.disconnectWhatsAppCall(callId, '', 1);
    await assert.rejects(b.client.disconnectWhatsAppCall(callId, '', 1), isCode('not_found'));
  } finally {
    bed.simulator.setWebhookUrl(undefined);
    await hangUpQuietly(dialled);
    await listener.close();
  }
});

test('the internal endpoint refuses requests without a valid cluster token', async () => {
  const url = `${a.internalUrl}/internal/cluster/v1/user-hangup`;
  const body = JSON.stringify({
    context: { requestId: 'x', requester: 'k' },
    params: { callId: 'wacid.x' },
  });
  const post = (headers: Record<string, string>, payload = body) =>
    fetch(url, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', ...headers },
      body: payload,
    });
  const sign = (secret: string, claims: Record<string, unknown>, audience: string) =>
    new SignJWT(claims)
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuer(bed.lk.apiKey)
      .setSubject('intruder')
      .setAudience(audience)
      .setIssuedAt()
      .setExpirationTime('30s')
      .sign(new TextEncoder().encode(secret));
  const { createHash } = await import('node:crypto');
  const digest = createHash('sha256').update(body).digest('hex');

  // No token; a LiveKit access token for the Connector API (same key, other audience); a token
  // signed with another secret; a valid token for another body.
  const lkToken = new AccessToken(bed.lk.apiKey, bed.lk.apiSecret);
  lkToken.addGrant({ roomCreate: true });
  const attempts = [
    await post({}),
    await post({ Authorization: `Bearer ${await lkToken.toJwt()}` }),
    await post({
      Authorization: `Bearer ${await sign('not-the-secret-but-long-enough-000', { bodySha256: digest }, 'whatsapp-connector:cluster')}`,
    }),
    await post(
      {
        Authorization: `Bearer ${await sign(bed.lk.apiSecret, { bodySha256: digest }, 'whatsapp-connector:cluster')}`,
      },
      body.replace('wacid.x', 'wacid.y'),
    ),
  ];
  for (const res of attempts) {
    assert.equal(res.status, 401);
    assert.equal(((await res.json()) as { code: string }).code, 'unauthenticated');
  }
  // The same request with a proper token is served (the call is unknown, so nothing happens).
  const ok = await post({
    Authorization: `Bearer ${await sign(bed.lk.apiSecret, { bodySha256: digest }, 'whatsapp-connector:cluster')}`,
  });
  assert.equal(ok.status, 200);
  assert.deepEqual(await ok.json(), { result: false });
});

test('a call whose instance is gone from the directory answers not_found, naming the instance', async () => {
  await bed.inspect.set(callKey('wacid.ghost'), 'node-crashed', 'PX', 5000);
  await assert.rejects(
    b.client.disconnectWhatsAppCall('wacid.ghost', bed.accessToken),
    isCode('not_found', /node-crashed .*no longer running/),
  );
  assert.equal(await bed.inspect.get(callKey('wacid.ghost')), null);
});

test('a Dial retried through another instance with the same request id gets the first call, not a second one', async () => {
  const dial = {
    whatsappPhoneNumberId: bed.phoneNumberId,
    whatsappToPhoneNumber: '15550007777',
    whatsappApiKey: bed.accessToken,
    whatsappCloudApiVersion: '24.0',
    roomName: `cluster-retried-${Date.now()}`,
  };
  const headers = { 'X-Livekit-Request-Id': `cluster-retry-${Date.now()}` };
  let callId: string | undefined;
  try {
    const first = await postTwirpJson(a.url, bed.lk, 'DialWhatsAppCall', dial, headers);
    assert.equal(first.status, 200, JSON.stringify(first.body));
    callId = String(first.body.whatsapp_call_id);
    // The client lost the answer and retries; its load balancer picks B this time.
    const retried = await postTwirpJson(b.url, bed.lk, 'DialWhatsAppCall', dial, headers);
    assert.deepEqual(retried, first);
    const connects = bed.simulator.requestLog.filter((r) => {
      const body = r.body as { action?: unknown; to?: unknown } | undefined;
      return body?.action === 'connect' && body.to === '15550007777';
    });
    assert.equal(connects.length, 1, 'Meta was asked to call the user once');
  } finally {
    await hangUpQuietly(callId);
  }
});

test('an instance at its call limit places a new call on the least loaded peer, and still reaches it', async () => {
  const c = await bed.startInstance('node-c', { MAX_CONCURRENT_CALLS: '1' });
  const dialled: string[] = [];
  try {
    const first = await dialThrough(c, `cluster-full-1-${Date.now()}`, '15550006661');
    dialled.push(first.whatsappCallId);
    await businessCall(first.whatsappCallId);
    const second = await dialThrough(c, `cluster-full-2-${Date.now()}`, '15550006662');
    dialled.push(second.whatsappCallId);
    const secondUser = await businessCall(second.whatsappCallId);
    assert.equal(await bed.inspect.get(callKey(first.whatsappCallId)), 'node-c');
    const placedOn = await bed.inspect.get(callKey(second.whatsappCallId));
    assert.ok(placedOn === 'node-a' || placedOn === 'node-b', `placed on ${placedOn}`);
    const metrics = await (await fetch(`${c.internalUrl}/metrics`)).text();
    assert.match(metrics, /^whatsapp_connector_cluster_active_calls 1$/m);
    assert.match(
      metrics,
      /whatsapp_connector_cluster_forwarded_requests_total\{operation="dial",outcome="ok"\} 1/,
    );

    await c.client.disconnectWhatsAppCall(second.whatsappCallId, bed.accessToken);
    await secondUser.waitForState('ended', 5000);
    await c.client.disconnectWhatsAppCall(first.whatsappCallId, bed.accessToken);
  } finally {
    for (const id of dialled) await hangUpQuietly(id);
    await c.server.close();
  }
});

test('closing A withdraws it and its calls from Redis; B then answers not_found for them', async () => {
  const roomName = `cluster-close-${Date.now()}`;
  const dial = await dialThrough(a, roomName, '15550004444');
  await businessCall(dial.whatsappCallId);
  assert.equal(await bed.inspect.get(callKey(dial.whatsappCallId)), 'node-a');
  await a.server.close();
  assert.equal(await bed.inspect.get(callKey(dial.whatsappCallId)), null);
  assert.equal(await bed.inspect.get(`${KEY_PREFIX}instance:node-a`), null);
  assert.deepEqual(await bed.inspect.smembers(`${KEY_PREFIX}instances`), ['node-b']);
  await assert.rejects(
    b.client.disconnectWhatsAppCall(dial.whatsappCallId, bed.accessToken),
    isCode('not_found'),
  );
});

test('with Redis down, B keeps serving its own calls and lookups of other calls are unavailable', async () => {
  const roomName = `cluster-redis-down-${Date.now()}`;
  const dial = await dialThrough(b, roomName, '15550005555');
  const userCall = await businessCall(dial.whatsappCallId);
  await bed.redis.stop();
  await eventually(() => !b.server.cluster!.isRedisConnected, 5000, 'Redis seen as down');
  await assert.rejects(
    b.client.connectWhatsAppCall(
      'wacid.elsewhere',
      new SessionDescription({ type: 'answer', sdp: userCall.metaSdp }),
    ),
    isCode('unavailable', /Redis.*retry/),
  );
  await b.client.disconnectWhatsAppCall(dial.whatsappCallId, bed.accessToken);
  await userCall.waitForState('ended', 5000);
});
