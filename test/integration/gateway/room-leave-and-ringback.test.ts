/**
 * What the room sees of a dialled call's progress with `CALL_PLAY_RINGBACK=true`: a ringback tone
 * on the connector's track while the user's phone rings, stopping when the user answers; and a
 * leave whose LiveKit DisconnectReason says why the call ended (USER_REJECTED for a decline),
 * with `whatsapp.endReason` set before it. rtc-node is the independent room participant.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { DisconnectReason, RoomEvent, dispose } from '@livekit/rtc-node';
import { createUserVoice } from '../../../src/simulator/index.js';
import { windowedToneShare } from '../../../src/media/tone.js';
import { RoomListener, assertTone, eventually, sleep } from '../calls/bridge-harness.js';
import { about, startGatewayBridge, type GatewayBridge } from './gateway-harness.js';

let bridge: GatewayBridge;

before(async () => {
  bridge = await startGatewayBridge(
    { numbers: [{ phone_number_id: '106540352242922', access_token: 'test-meta-access-token' }] },
    { env: { CALL_PLAY_RINGBACK: 'true' } },
  );
});

after(async () => {
  await bridge?.stop();
  await dispose();
});

function dial(to: string, roomName: string) {
  return bridge.client.dialWhatsAppCall({
    whatsappPhoneNumberId: bridge.phoneNumberId,
    whatsappToPhoneNumber: to,
    whatsappApiKey: bridge.accessToken,
    whatsappCloudApiVersion: '24.0',
    roomName,
    participantIdentity: `wa-${to}`,
  });
}

test('the room hears ringback while the user is rung, and the user instead once they answer', async () => {
  bridge.simulator.user('4915200000011').setPermission(bridge.phoneNumberId, 'permanent');
  const roomName = `ringback-${Date.now()}`;
  const listener = await RoomListener.join(bridge.lk, roomName);
  try {
    const { whatsappCallId: callId } = await dial('4915200000011', roomName);
    const userCall = await bridge.simulator.waitForBusinessCall();
    await eventually(
      () => bridge.server.calls!.registry.get(callId)?.state === 'ringing',
      10_000,
      'ringing',
    );
    await listener.waitForConnectorTrack();
    // The cadence is 1 s of 425 Hz in every 5 s, from the moment ringing began.
    await sleep(1200);
    const ringing = listener.heard(1500);
    assert.ok(
      windowedToneShare(ringing, listener.sampleRate, 425) > 0.3,
      'ringback tone in the room while ringing',
    );

    userCall.speak(await createUserVoice({ kind: 'tone', frequencyHz: 700 }));
    await userCall.answer();
    await eventually(
      () => bridge.server.calls!.registry.get(callId)?.state === 'active',
      10_000,
      'active',
    );
    await sleep(1500);
    const answered = listener.heard(1000);
    assertTone(answered, listener.sampleRate, 700, 'the user after answering');
    assert.ok(
      windowedToneShare(answered, listener.sampleRate, 425) < 0.05,
      'no ringback once answered',
    );
    await bridge.client.disconnectWhatsAppCall(callId, bridge.accessToken);
  } finally {
    await listener.close();
  }
});

test('a declined dial leaves the room with USER_REJECTED, after whatsapp.endReason=rejected', async () => {
  bridge.simulator.user('4915200000012').setPermission(bridge.phoneNumberId, 'permanent');
  const roomName = `declined-${Date.now()}`;
  const listener = await RoomListener.join(bridge.lk, roomName);
  const left: { identity: string; reason: DisconnectReason | undefined; endReason: string }[] = [];
  listener.room.on(RoomEvent.ParticipantDisconnected, (p) =>
    left.push({
      identity: p.identity,
      reason: p.disconnectReason,
      endReason: p.attributes['whatsapp.endReason'] ?? '',
    }),
  );
  try {
    const { whatsappCallId: callId } = await dial('4915200000012', roomName);
    const userCall = await bridge.simulator.waitForBusinessCall();
    await bridge.waitForProcessed(about(callId, 'call_connect', 'connected'));
    await listener.waitForConnectorTrack();
    userCall.reject();
    await eventually(() => left.length > 0, 15_000, 'the connector leaving');
    assert.deepEqual(left, [
      {
        identity: 'wa-4915200000012',
        reason: DisconnectReason.USER_REJECTED,
        endReason: 'rejected',
      },
    ]);
  } finally {
    await listener.close();
  }
});
