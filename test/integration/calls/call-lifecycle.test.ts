import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { RoomEvent, dispose } from '@livekit/rtc-node';
import { SessionDescription } from '@livekit/protocol';
import { RoomServiceClient } from 'livekit-server-sdk';
import { createUserVoice } from '../../../src/simulator/index.js';
import {
  RoomListener,
  acceptInboundCall,
  eventually,
  sleep,
  startBridge,
  twirpJson,
  type Bridge,
} from './bridge-harness.js';

let bridge: Bridge;
let rooms: RoomServiceClient;

before(async () => {
  bridge = await startBridge({
    env: { CALL_USER_HANGUP_CLEANUP_SECONDS: '1' },
    simulator: { defaultCallPermission: 'permanent' },
  });
  rooms = new RoomServiceClient(bridge.lk.httpUrl, bridge.lk.apiKey, bridge.lk.apiSecret);
});

after(async () => {
  await bridge?.stop();
  await dispose();
});

/** Meta saw the business end the call (terminate from our side). */
async function endedByBusiness(callId: string, action = 'terminate'): Promise<void> {
  const call = bridge.simulator.call(callId)!;
  await call.waitForState('ended', 10_000);
  await eventually(
    () =>
      bridge.simulator.requestLog.some((r) => {
        const body = r.body as { action?: string; call_id?: string } | undefined;
        return body?.action === action && body.call_id === callId && r.status === 200;
      }),
    5000,
    `the connector's ${action} at Meta`,
  );
}

test('deleting the room ends the call at Meta and leaves nothing behind', async () => {
  const { userCall, roomName, listener } = await acceptInboundCall(bridge);
  await listener.close();
  await rooms.deleteRoom(roomName);
  await endedByBusiness(userCall.id);
  const call = bridge.server.calls!.registry.get(userCall.id);
  assert.ok(!call || call.isEnded);
  assert.equal(call?.endReason ?? 'room_closed', 'room_closed');
});

test('removing the connector participant ends the call at Meta', async () => {
  const { userCall, roomName, listener } = await acceptInboundCall(bridge);
  try {
    await rooms.removeParticipant(roomName, 'wa-caller');
    await endedByBusiness(userCall.id);
    assert.equal(bridge.server.calls!.registry.get(userCall.id)?.endReason, 'participant_removed');
  } finally {
    await listener.close();
  }
});

test('a dialled call nobody answers ends at the ringing timeout, at Meta and in the room', async () => {
  const roomName = `ring-timeout-${Date.now()}`;
  const listener = await RoomListener.join(bridge.lk, roomName);
  try {
    const dial = await bridge.client.dialWhatsAppCall({
      whatsappPhoneNumberId: bridge.phoneNumberId,
      whatsappToPhoneNumber: '15551230003',
      whatsappApiKey: bridge.accessToken,
      whatsappCloudApiVersion: '24.0',
      roomName,
      ringingTimeout: 2,
    });
    const userCall = await bridge.simulator.waitForBusinessCall();
    await bridge.client.connectWhatsAppCall(
      dial.whatsappCallId,
      new SessionDescription({ type: 'answer', sdp: userCall.metaSdp }),
    );
    await endedByBusiness(dial.whatsappCallId);
    assert.equal(bridge.server.calls!.registry.get(dial.whatsappCallId)?.endReason, 'no_answer');
    await eventually(
      () => listener.room.remoteParticipants.size === 0,
      5000,
      'connector left the room',
    );
  } finally {
    await listener.close();
  }
});

test('ConnectWhatsAppCall with wait_until_answered reports a ringing timeout as deadline_exceeded', async () => {
  const dial = await bridge.client.dialWhatsAppCall({
    whatsappPhoneNumberId: bridge.phoneNumberId,
    whatsappToPhoneNumber: '15551230004',
    whatsappApiKey: bridge.accessToken,
    whatsappCloudApiVersion: '24.0',
    ringingTimeout: 1,
  });
  const userCall = await bridge.simulator.waitForBusinessCall();
  const res = await twirpJson(bridge, 'ConnectWhatsAppCall', {
    whatsappCallId: dial.whatsappCallId,
    sdp: { type: 'answer', sdp: userCall.metaSdp },
    waitUntilAnswered: true,
  });
  assert.equal(res.status, 408);
  assert.deepEqual(res.body, {
    code: 'deadline_exceeded',
    msg: 'timeout waiting for call to be accepted',
  });
});

test('a user hang-up nobody reports is cleaned up after the cleanup window', async () => {
  const { userCall, listener } = await acceptInboundCall(bridge, { toneHz: 440 });
  try {
    userCall.hangUp();
    await eventually(
      () => bridge.server.calls!.registry.get(userCall.id)?.isEnded,
      10_000,
      'call ended',
    );
    await eventually(() => listener.room.remoteParticipants.size === 0, 5000, 'connector left');
    await eventually(
      () => bridge.server.calls!.registry.get(userCall.id) === undefined,
      5000,
      'call removed',
    );
    await assert.rejects(
      bridge.client.disconnectWhatsAppCall(userCall.id, '', 1),
      (err: Error & { code?: string }) => err.code === 'not_found',
    );
  } finally {
    await listener.close();
  }
});

test('the room sees the call status move from dialing to ringing to active to hangup', async () => {
  const roomName = `status-${Date.now()}`;
  const listener = await RoomListener.join(bridge.lk, roomName);
  const statuses: string[] = [];
  const record = (s: string | undefined) => {
    if (s && statuses[statuses.length - 1] !== s) statuses.push(s);
  };
  listener.room.on(RoomEvent.ParticipantConnected, (p) =>
    record(p.attributes['whatsapp.callStatus']),
  );
  listener.room.on(RoomEvent.ParticipantAttributesChanged, (_changed, p) =>
    record(p.attributes['whatsapp.callStatus']),
  );
  try {
    const dial = await bridge.client.dialWhatsAppCall({
      whatsappPhoneNumberId: bridge.phoneNumberId,
      whatsappToPhoneNumber: '15551230005',
      whatsappApiKey: bridge.accessToken,
      whatsappCloudApiVersion: '24.0',
      roomName,
    });
    const userCall = await bridge.simulator.waitForBusinessCall();
    await eventually(() => statuses.includes('dialing'), 5000, 'dialing');
    await bridge.client.connectWhatsAppCall(
      dial.whatsappCallId,
      new SessionDescription({ type: 'answer', sdp: userCall.metaSdp }),
    );
    await eventually(() => statuses.includes('ringing'), 5000, 'ringing');
    userCall.speak(await createUserVoice({ kind: 'tone', frequencyHz: 440 }));
    await userCall.answer();
    await eventually(() => statuses.includes('active'), 5000, 'active');
    await bridge.client.disconnectWhatsAppCall(dial.whatsappCallId, bridge.accessToken);
    await eventually(() => statuses.includes('hangup'), 5000, `hangup (saw ${statuses.join(',')})`);
    assert.deepEqual(statuses, ['dialing', 'ringing', 'active', 'hangup']);
  } finally {
    await listener.close();
  }
});

test('an inbound call whose Meta media never connects fails Accept and leaves nothing running', async () => {
  const userCall = await bridge.simulator.placeUserCall({ from: '15551230006' });
  // Point Meta's only candidate at a port nobody answers on: ICE can never succeed.
  const deadSdp = userCall.metaSdp.replace(
    /(a=candidate:\S+ \d+ udp \d+ 127\.0\.0\.1 )\d+/i,
    '$19',
  );
  const roomName = `dead-media-${Date.now()}`;
  const started = Date.now();
  const res = await twirpJson(bridge, 'AcceptWhatsAppCall', {
    whatsappPhoneNumberId: bridge.phoneNumberId,
    whatsappApiKey: bridge.accessToken,
    whatsappCloudApiVersion: '24.0',
    whatsappCallId: userCall.id,
    sdp: { type: 'offer', sdp: deadSdp },
    roomName,
    ringingTimeout: '2s',
  });
  assert.equal(res.status, 408, JSON.stringify(res.body));
  assert.equal(res.body.code, 'deadline_exceeded');
  assert.ok(Date.now() - started < 9000, 'Accept gave up within the ringing timeout');
  // Meta had the pre_accept, so the call is ended there with terminate; the connector lets go of
  // it once Meta confirmed.
  await endedByBusiness(userCall.id, 'terminate');
  await eventually(
    () => bridge.server.calls!.registry.get(userCall.id) === undefined,
    5000,
    'the call gone from the connector',
  );
  const participants = await rooms.listParticipants(roomName).catch(() => []);
  assert.equal(participants.length, 0);
  await sleep(100);
});
