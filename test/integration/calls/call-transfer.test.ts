/**
 * Transfer end to end, and users named only by BSUID: real livekit-server, the simulator as Meta
 * (delivering webhooks to the built-in gateway), and independent rtc-node participants in the
 * rooms. The caller is a username-only user (BSUID, no phone number); the call is moved between
 * rooms through the HTTP endpoint, the CLI and an agent's data message. The gap the caller hears
 * at the switch is measured and reported (diagnostic), not asserted.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Room, RoomEvent, dispose, type RemoteParticipant } from '@livekit/rtc-node';
import { AccessToken, RoomServiceClient } from 'livekit-server-sdk';
import { dominantFrequency, rmsDbfs, toneEnergyShare } from '../../../src/media/tone.js';
import type { HeardChunk } from '../../../src/simulator/simulated-phone.js';
import type { SimulatedCall } from '../../../src/simulator/index.js';
import { ConnectorApiActions } from '../../../src/console/connector-api-actions.js';
import { runCli } from '../cli/cli-runner.js';
import { about, startGatewayBridge, type GatewayBridge } from '../gateway/gateway-harness.js';
import { RoomListener, eventually, sleep } from './bridge-harness.js';

const ADA = {
  userId: 'US.13491208655302741918',
  parentUserId: 'US.ENT.11815799212886844830',
  username: 'ada.lovelace',
};
const GRACE = {
  userId: 'DE.77001122334455667788',
  username: 'grace.h',
};
const NUMBER_ID = '106540352242922';
const CALLER_HZ = 880;
const ROOM_A_HZ = 440;
const ROOM_B_HZ = 660;

let bridge: GatewayBridge;
let rooms: RoomServiceClient;
let internalUrl: string;
const secrets = mkdtempSync(join(tmpdir(), 'wac-transfer-'));

before(async () => {
  bridge = await startGatewayBridge(
    {
      numbers: [
        {
          phone_number_id: NUMBER_ID,
          access_token: 'test-meta-access-token',
          api_version: '24.0',
          inbound: {
            room: 'wa-{callerId}',
            participant: {
              identity: 'caller-{callerUsername}',
              name: '{callerName}',
              attributes: { 'crm.user': '{callerId}', 'crm.username': '{callerUsername}' },
            },
          },
        },
      ],
    },
    {
      simulator: {
        phoneNumbers: [{ id: NUMBER_ID, displayPhoneNumber: '15550001234' }],
        users: [ADA, GRACE],
        businessCallBehaviour: {
          action: 'answer',
          delayMs: 500,
          voice: { kind: 'tone', frequencyHz: CALLER_HZ },
        },
      },
      env: { TRANSFER_DATA_MESSAGES: 'true' },
    },
  );
  rooms = new RoomServiceClient(bridge.lk.httpUrl, bridge.lk.apiKey, bridge.lk.apiSecret);
  internalUrl = `http://127.0.0.1:${bridge.server.internalPort}`;
});

after(async () => {
  await bridge?.stop();
  await dispose();
  rmSync(secrets, { recursive: true, force: true });
});

/** A roomCreate token of the LiveKit keys (what the Connector API takes). */
async function apiToken(grant: { roomCreate?: boolean } = { roomCreate: true }): Promise<string> {
  const token = new AccessToken(bridge.lk.apiKey, bridge.lk.apiSecret, { ttl: 60 });
  token.addGrant(grant);
  return token.toJwt();
}

async function postTransfer(
  callId: string,
  body: unknown,
  options: { token?: string | null; base?: string } = {},
): Promise<{ status: number; body: Record<string, unknown> }> {
  const token = options.token === undefined ? await apiToken() : options.token;
  const res = await fetch(
    `${options.base ?? internalUrl}/api/calls/${encodeURIComponent(callId)}/transfer`,
    {
      method: 'POST',
      headers: {
        'Content-Type': 'application/json',
        ...(token !== null ? { Authorization: `Bearer ${token}` } : {}),
      },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    },
  );
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** The connector participant as another participant of `room` sees it. */
async function connectorIn(listener: RoomListener): Promise<RemoteParticipant> {
  const found = await eventually(
    () =>
      [...listener.room.remoteParticipants.values()].find((p) =>
        Object.hasOwn(p.attributes, 'whatsapp.callStatus'),
      ),
    15_000,
    'the connector participant',
  );
  return found!;
}

/** Ada (username only) calls; the gateway answers her into `wa-{callerId}`. */
async function adaCalls(listener?: RoomListener): Promise<SimulatedCall> {
  const call = await bridge.simulator.placeUserCall({
    from: ADA.userId,
    phoneNumberId: NUMBER_ID,
    voice: { kind: 'tone', frequencyHz: CALLER_HZ },
  });
  const accepted = await bridge.waitForProcessed(about(call.id, 'call_connect'), 20_000);
  assert.equal(accepted.outcome, 'accepted', accepted.error?.message);
  await call.waitForState('active', 15_000);
  if (listener) await listener.waitForConnectorTrack();
  return call;
}

/**
 * `listener` hears `hz` in its last second: the dominant frequency, loud enough. (Not the
 * harness's steadiness check: on a loaded 2-core machine running several suites the tone breaks
 * up; which room's audio arrives is what a transfer decides.) Retried for a few seconds.
 */
async function hearsTone(listener: RoomListener, hz: number, where: string): Promise<void> {
  await sleep(1000);
  let last = '';
  await eventually(
    () => {
      const pcm = listener.heard(1000);
      const peak = dominantFrequency(pcm, listener.sampleRate);
      const level = rmsDbfs(pcm);
      last = `peak ${peak} Hz, level ${level.toFixed(1)} dBFS`;
      return Math.abs(peak - hz) <= 10 && level > -25;
    },
    8000,
    `${where} to hear ${hz} Hz`,
  ).catch((err: Error) => {
    throw new Error(`${err.message} (${last})`);
  });
}

/** The caller hears `hz` in their last second (as {@link hearsTone}). */
async function callerHears(call: SimulatedCall, hz: number, where: string): Promise<void> {
  let last = '';
  await eventually(
    () => {
      const stats = call.recordingStats({ expectHz: hz, lastMs: 1000 });
      last = `peak ${stats.frequencyHz} Hz, level ${stats.levelDbfs.toFixed(1)} dBFS`;
      return Math.abs((stats.frequencyHz ?? 0) - hz) <= 10 && stats.levelDbfs > -25;
    },
    8000,
    `${where} to hear ${hz} Hz`,
  ).catch((err: Error) => {
    throw new Error(`${err.message} (${last})`);
  });
}

/** Which room tone a 20 ms chunk the caller heard carries, if any. */
function toneOf(chunk: HeardChunk, sampleRate: number): 'A' | 'B' | undefined {
  if (rmsDbfs(chunk.samples) < -35) return undefined;
  const a = toneEnergyShare(chunk.samples, sampleRate, ROOM_A_HZ);
  const b = toneEnergyShare(chunk.samples, sampleRate, ROOM_B_HZ);
  if (a > 0.5 && a > b) return 'A';
  if (b > 0.5 && b > a) return 'B';
  return undefined;
}

/**
 * What the caller heard around the switch: the arrival gap between the last chunk of room A's
 * tone and the first of room B's after it, minus one frame (0 = seamless), and the chunks in
 * between that carried neither.
 */
function switchGap(
  call: SimulatedCall,
): { gapMs: number; silentChunks: number; baselineChunks: number } | undefined {
  const rec = call.recording();
  const tones = rec.chunks.map((c) => toneOf(c, rec.sampleRate));
  const firstB = tones.findIndex((t, i) => t === 'B' && tones.slice(0, i).includes('A'));
  if (firstB < 0) return undefined;
  const lastA = tones.lastIndexOf('A', firstB);
  if (process.env.TRANSFER_GAP_DEBUG) {
    for (let i = Math.max(0, lastA - 3); i <= firstB + 3 && i < rec.chunks.length; i++) {
      const c = rec.chunks[i]!;
      console.log(
        i,
        c.atMs,
        tones[i] ?? '-',
        rmsDbfs(c.samples).toFixed(1),
        toneEnergyShare(c.samples, rec.sampleRate, ROOM_A_HZ).toFixed(2),
        toneEnergyShare(c.samples, rec.sampleRate, ROOM_B_HZ).toFixed(2),
      );
    }
  }
  // For comparison: the longest run without room A's tone in the 2 s before the switch (what
  // the machine's load alone does to the audio).
  let baselineChunks = 0;
  let run = 0;
  for (let i = Math.max(0, lastA - 100); i <= lastA; i++) {
    run = tones[i] === 'A' ? 0 : run + 1;
    baselineChunks = Math.max(baselineChunks, run);
  }
  return {
    gapMs: rec.chunks[firstB]!.atMs - rec.chunks[lastA]!.atMs - 20,
    silentChunks: firstB - lastA - 1,
    baselineChunks,
  };
}

test('a username-only caller arrives named by BSUID and username, routed by {callerId}/{callerUsername}, without a phone number', async () => {
  const roomName = `wa-${ADA.userId}`;
  const listener = await RoomListener.join(bridge.lk, roomName);
  try {
    const call = await adaCalls(listener);
    const connector = await connectorIn(listener);
    assert.equal(connector.identity, `caller-${ADA.username}`);
    assert.equal(connector.name, ADA.username);
    assert.equal(connector.attributes['whatsapp.userId'], ADA.userId);
    assert.equal(connector.attributes['whatsapp.username'], ADA.username);
    assert.equal(connector.attributes['whatsapp.callId'], call.id);
    assert.equal(connector.attributes['whatsapp.direction'], 'inbound');
    assert.equal('whatsapp.phoneNumber' in connector.attributes, false);
    assert.equal(connector.attributes['crm.user'], ADA.userId);
    assert.equal(connector.attributes['crm.username'], ADA.username);
    await hearsTone(listener, CALLER_HZ, 'room hears the caller');
    call.hangUp();
    await eventually(
      () => connector.attributes['whatsapp.endReason'] === 'user_hangup' || !connector.identity,
      10_000,
      'the end reason',
    );
  } finally {
    await listener.close();
  }
});

test('a Dial to a BSUID reaches the user through `recipient`; the room sees the user id and no number', async () => {
  const roomName = `dial-bsuid-${Date.now()}`;
  bridge.simulator.findUser(GRACE.userId)!.setPermission(NUMBER_ID, 'permanent');
  const listener = await RoomListener.join(bridge.lk, roomName);
  try {
    const res = await bridge.client.dialWhatsAppCall({
      whatsappPhoneNumberId: NUMBER_ID,
      whatsappToPhoneNumber: GRACE.userId,
      whatsappApiKey: bridge.accessToken,
      whatsappCloudApiVersion: '24.0',
      roomName,
      participantIdentity: 'grace',
    });
    const connect = bridge.simulator.requestLog.find(
      (r) => (r.body as { action?: unknown } | null)?.action === 'connect',
    );
    const body = connect?.body as Record<string, unknown> | undefined;
    assert.equal(body?.recipient, GRACE.userId);
    assert.equal(body && 'to' in body, false);
    const connector = await connectorIn(listener);
    await eventually(
      () => connector.attributes['whatsapp.callStatus'] === 'active',
      15_000,
      'the user answers',
    );
    assert.equal(connector.attributes['whatsapp.userId'], GRACE.userId);
    assert.equal(connector.attributes['whatsapp.callId'], res.whatsappCallId);
    assert.equal('whatsapp.phoneNumber' in connector.attributes, false);
    await listener.waitForConnectorTrack();
    await hearsTone(listener, CALLER_HZ, 'room hears the callee');
    await bridge.client.disconnectWhatsAppCall(res.whatsappCallId, bridge.accessToken);
  } finally {
    await listener.close();
  }
});

test('POST /api/calls/{id}/transfer moves the call: both rooms hear the caller in turn, the caller hears each room, attributes say where it went and came from', async (t) => {
  const roomA = `wa-${ADA.userId}`;
  const roomB = `humans-${Date.now()}`;
  const listenerA = await RoomListener.join(bridge.lk, roomA, 'agent-a');
  const listenerB = await RoomListener.join(bridge.lk, roomB, 'human-b');
  try {
    await listenerA.speak(ROOM_A_HZ);
    await listenerB.speak(ROOM_B_HZ);
    const call = await adaCalls(listenerA);
    const connectorA = await connectorIn(listenerA);
    await hearsTone(listenerA, CALLER_HZ, 'room A before');
    await callerHears(call, ROOM_A_HZ, 'the caller hears room A before');

    const started = Date.now();
    const res = await postTransfer(call.id, {
      room: roomB,
      attributes: { 'handoff.reason': 'billing' },
    });
    const tookMs = Date.now() - started;
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.deepEqual(res.body, {
      callId: call.id,
      roomName: roomB,
      participantIdentity: `caller-${ADA.username}`,
    });

    // Room A: told why and where, then the connector leaves.
    await eventually(
      () => connectorA.attributes['whatsapp.endReason'] === 'transferred',
      10_000,
      'transferred in room A',
    );
    assert.equal(connectorA.attributes['whatsapp.callStatus'], 'hangup');
    assert.equal(connectorA.attributes['whatsapp.transferredTo'], roomB);
    await eventually(
      () => ![...listenerA.room.remoteParticipants.values()].some((p) => p === connectorA),
      10_000,
      'the connector leaves room A',
    );

    // Room B: the usual call attributes plus where it came from; it hears the caller.
    await listenerB.waitForConnectorTrack();
    const connectorB = await connectorIn(listenerB);
    assert.equal(connectorB.identity, `caller-${ADA.username}`);
    assert.equal(connectorB.attributes['whatsapp.callStatus'], 'active');
    assert.equal(connectorB.attributes['whatsapp.callId'], call.id);
    assert.equal(connectorB.attributes['whatsapp.userId'], ADA.userId);
    assert.equal(connectorB.attributes['whatsapp.username'], ADA.username);
    assert.equal(connectorB.attributes['whatsapp.transferredFrom'], roomA);
    assert.equal(connectorB.attributes['handoff.reason'], 'billing');
    assert.equal('whatsapp.phoneNumber' in connectorB.attributes, false);
    await hearsTone(listenerB, CALLER_HZ, 'room B after');
    await callerHears(call, ROOM_B_HZ, 'the caller hears room B after');

    // The WhatsApp side never noticed: same call, still up, nothing sent to Meta for it.
    assert.equal(call.state, 'active');
    const listing = bridge.server.calls!.registry.get(call.id)!.summary();
    assert.equal(listing.roomName, roomB);
    const gap = switchGap(call);
    assert.ok(gap, 'the caller heard room A and then room B');
    t.diagnostic(
      `transfer: request ${tookMs} ms; the caller heard ${gap.silentChunks} frame(s) (${gap.silentChunks * 20} ms of audio) with neither room's tone between room A's last and room B's first tone frame, which arrived ${gap.gapMs} ms apart (less one frame); longest toneless run in the 2 s before: ${gap.baselineChunks} frame(s)`,
    );
    call.hangUp();
    await eventually(
      () => connectorB.attributes['whatsapp.endReason'] === 'user_hangup',
      10_000,
      'room B hears the hang-up',
    );
  } finally {
    await listenerA.close();
    await listenerB.close();
  }
});

test('a transfer into a room nobody is in yet: the connector waits there, and whoever joins hears the caller', async () => {
  const roomA = `wa-${ADA.userId}`;
  const empty = `empty-${Date.now()}`;
  const listenerA = await RoomListener.join(bridge.lk, roomA, 'agent-a2');
  try {
    const call = await adaCalls(listenerA);
    const res = await postTransfer(call.id, { room: empty, identity: 'ada-waiting' });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const inRoom = await rooms.listParticipants(empty);
    const connector = inRoom.find((p) => p.identity === 'ada-waiting');
    assert.ok(connector, 'the connector is in the new room');
    assert.equal(connector.attributes['whatsapp.transferredFrom'], roomA);
    assert.equal(connector.attributes['whatsapp.callStatus'], 'active');
    const late = await RoomListener.join(bridge.lk, empty, 'late-joiner');
    try {
      await late.waitForConnectorTrack();
      await hearsTone(late, CALLER_HZ, 'late joiner');
    } finally {
      await late.close();
    }
    call.hangUp();
  } finally {
    await listenerA.close();
  }
});

test('bad transfer requests get clear JSON errors: unauthenticated, unknown call, missing room, bad body, wrong method', async () => {
  const unauthenticated = await postTransfer('wacid.any', { room: 'x' }, { token: null });
  assert.equal(unauthenticated.status, 401);
  assert.equal(unauthenticated.body.code, 'unauthenticated');
  const noGrant = await postTransfer('wacid.any', { room: 'x' }, { token: await apiToken({}) });
  assert.equal(noGrant.status, 401);
  const wrongKey = new AccessToken(bridge.lk.apiKey, 'not-the-secret', { ttl: 60 });
  wrongKey.addGrant({ roomCreate: true });
  const forged = await postTransfer('wacid.any', { room: 'x' }, { token: await wrongKey.toJwt() });
  assert.equal(forged.status, 401);

  const unknown = await postTransfer('wacid.unknown', { room: 'x' });
  assert.equal(unknown.status, 404);
  assert.deepEqual(unknown.body, { code: 'not_found', msg: 'whatsapp call not found' });

  const missingRoom = await postTransfer('wacid.unknown', { identity: 'x' });
  assert.equal(missingRoom.status, 400);
  assert.deepEqual(missingRoom.body, { code: 'invalid_argument', msg: 'room is required' });
  const unknownField = await postTransfer('wacid.unknown', { room: 'x', roomName: 'y' });
  assert.equal(unknownField.status, 400);
  assert.match(String(unknownField.body.msg), /unknown field roomName/);
  const notJson = await postTransfer('wacid.unknown', '{"room":');
  assert.equal(notJson.status, 400);
  assert.equal(notJson.body.code, 'malformed');
  const badAgents = await postTransfer('wacid.unknown', { room: 'x', agents: [{}] });
  assert.equal(badAgents.status, 400);
  assert.match(String(badAgents.body.msg), /agentName/);

  const get = await fetch(`${internalUrl}/api/calls/wacid.any/transfer`, {
    headers: { Authorization: `Bearer ${await apiToken()}` },
  });
  assert.equal(get.status, 405);
  const otherPath = await fetch(`${internalUrl}/api/calls/wacid.any/teleport`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${await apiToken()}` },
  });
  assert.equal(otherPath.status, 404);
  // The public listener serves it too, with the Connector API (on by default).
  const publicAnswer = await postTransfer(
    'wacid.unknown',
    { room: 'x' },
    { base: bridge.connectorUrl },
  );
  assert.equal(publicAnswer.status, 404);
});

test('the CLI transfers a call by id (exit 0) and explains a refusal (exit 1)', async () => {
  const secretFile = join(secrets, 'livekit-secret');
  writeFileSync(secretFile, `${bridge.lk.apiSecret}\n`, { mode: 0o600 });
  const env = {
    LIVEKIT_API_KEY: bridge.lk.apiKey,
    LIVEKIT_API_SECRET_FILE: secretFile,
    WHATSAPP_CONNECTOR_URL: internalUrl,
  };
  const listenerA = await RoomListener.join(bridge.lk, `wa-${ADA.userId}`, 'agent-cli');
  try {
    const call = await adaCalls(listenerA);
    const roomB = `cli-room-${Date.now()}`;
    const ok = await runCli(
      ['transfer', call.id, '--room', roomB, '--agent', 'desk-agent:{"from":"cli"}'],
      env,
    );
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, new RegExp(`transferred to room ${roomB} as caller-${ADA.username}`));
    const inRoom = await rooms.listParticipants(roomB);
    assert.ok(inRoom.some((p) => p.attributes['whatsapp.callId'] === call.id));
    const missing = await runCli(['transfer', 'wacid.nope', '--room', 'x'], env);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /whatsapp call not found \(not_found\)/);
    const usage = await runCli(['transfer', call.id], env);
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /--room/);
    call.hangUp();
  } finally {
    await listenerA.close();
  }
});

test('the console’s transfer action moves a call through the same endpoint, and reports a refusal', async () => {
  const actions = new ConnectorApiActions({
    apiUrl: () => internalUrl,
    apiKeys: { [bridge.lk.apiKey]: bridge.lk.apiSecret },
    numbers: [],
    phoneNumberIdOf: () => NUMBER_ID,
  });
  const operator = { apiKeyId: bridge.lk.apiKey };
  const listenerA = await RoomListener.join(bridge.lk, `wa-${ADA.userId}`, 'agent-console');
  try {
    const call = await adaCalls(listenerA);
    const roomB = `console-room-${Date.now()}`;
    await actions.transfer(call.id, roomB, operator);
    assert.equal(bridge.server.calls!.registry.get(call.id)?.roomName, roomB);
    await assert.rejects(
      actions.transfer('wacid.none', roomB, operator),
      /whatsapp call not found/,
    );
    call.hangUp();
  } finally {
    await listenerA.close();
  }
});

/** A participant of `roomName` with token kind `kind` that can send and receive data. */
async function dataParticipant(
  roomName: string,
  identity: string,
  kind: 'agent' | 'standard',
  lk: GatewayBridge['lk'] = bridge.lk,
) {
  const room = new Room();
  const token = new AccessToken(lk.apiKey, lk.apiSecret, { identity });
  token.kind = kind;
  token.addGrant({ roomJoin: true, room: roomName, canPublishData: true, canSubscribe: true });
  const answers: unknown[] = [];
  room.on(RoomEvent.DataReceived, (payload, _from, _kind, topic) => {
    if (topic === 'whatsapp-connector.transfer.result') {
      answers.push(JSON.parse(new TextDecoder().decode(payload)));
    }
  });
  await room.connect(lk.wsUrl, await token.toJwt(), {
    autoSubscribe: false,
    dynacast: false,
  });
  const ask = (body: unknown) =>
    room.localParticipant!.publishData(new TextEncoder().encode(JSON.stringify(body)), {
      reliable: true,
      topic: 'whatsapp-connector.transfer',
    });
  return { room, answers, ask };
}

test('a data message from an agent of the call’s room moves the call; a standard participant is refused with an answer', async () => {
  const roomA = `wa-${ADA.userId}`;
  const roomB = `agent-handoff-${Date.now()}`;
  const listenerA = await RoomListener.join(bridge.lk, roomA, 'listener-dm');
  const listenerB = await RoomListener.join(bridge.lk, roomB, 'human-dm');
  const human = await dataParticipant(roomA, 'not-an-agent', 'standard');
  const agent = await dataParticipant(roomA, 'voice-agent', 'agent');
  try {
    await listenerB.speak(ROOM_B_HZ);
    const call = await adaCalls(listenerA);
    const connectorA = await connectorIn(listenerA);

    await human.ask({ room: roomB, requestId: 'h1' });
    await eventually(() => human.answers.length > 0, 10_000, 'the refusal');
    assert.deepEqual(human.answers[0], {
      ok: false,
      requestId: 'h1',
      code: 'permission_denied',
      msg: 'only agent participants may request a transfer by data message',
    });
    assert.equal(bridge.server.calls!.registry.get(call.id)!.roomName, roomA);

    await agent.ask({ room: roomB, agents: [{ agentName: 'human-desk' }], requestId: 'a1' });
    await eventually(
      () => connectorA.attributes['whatsapp.endReason'] === 'transferred',
      15_000,
      'the agent’s transfer',
    );
    assert.equal(connectorA.attributes['whatsapp.transferredTo'], roomB);
    await listenerB.waitForConnectorTrack();
    await hearsTone(listenerB, CALLER_HZ, 'room B hears the caller');
    await callerHears(call, ROOM_B_HZ, 'the caller hears room B');
    assert.deepEqual(agent.answers, []);
    call.hangUp();
  } finally {
    await human.room.disconnect();
    await agent.room.disconnect();
    await listenerA.close();
    await listenerB.close();
  }
});

test('off by default: without TRANSFER_DATA_MESSAGES an agent’s request is answered `disabled` and the call stays', async () => {
  const plain = await startGatewayBridge(
    {
      numbers: [
        {
          phone_number_id: NUMBER_ID,
          access_token: 'test-meta-access-token',
          api_version: '24.0',
          inbound: { room: 'plain-{callerId}' },
        },
      ],
    },
    {
      simulator: {
        phoneNumbers: [{ id: NUMBER_ID, displayPhoneNumber: '15550001234' }],
        users: [ADA],
      },
    },
  );
  const roomName = `plain-${ADA.userId}`;
  const agent = await dataParticipant(roomName, 'voice-agent', 'agent', plain.lk);
  try {
    const call = await plain.simulator.placeUserCall({
      from: ADA.userId,
      phoneNumberId: NUMBER_ID,
    });
    const accepted = await plain.waitForProcessed(about(call.id, 'call_connect'), 20_000);
    assert.equal(accepted.outcome, 'accepted', accepted.error?.message);
    await eventually(
      () => [...agent.room.remoteParticipants.values()].length > 0,
      15_000,
      'the connector in the room',
    );
    await agent.ask({ room: 'elsewhere', requestId: 'd1' });
    await eventually(() => agent.answers.length > 0, 10_000, 'the answer');
    assert.deepEqual(agent.answers[0], {
      ok: false,
      requestId: 'd1',
      code: 'disabled',
      msg: 'transfer by data message is off (TRANSFER_DATA_MESSAGES)',
    });
    assert.equal(plain.server.calls!.registry.get(call.id)?.roomName, roomName);
    call.hangUp();
  } finally {
    await agent.room.disconnect();
    await plain.stop();
  }
});
