import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { ParticipantKind, ParticipantKindDetail, dispose } from '@livekit/rtc-node';
import { SessionDescription } from '@livekit/protocol';
import {
  RoomListener,
  assertTone,
  eventually,
  sleep,
  startBridge,
  type Bridge,
} from './bridge-harness.js';

let bridge: Bridge;

before(async () => {
  bridge = await startBridge();
});

after(async () => {
  await bridge?.stop();
  await dispose();
});

test('an accepted inbound call carries audio both ways between the WhatsApp user and the room', async () => {
  const userCall = await bridge.simulator.placeUserCall({
    from: '15551230001',
    voice: { kind: 'tone', frequencyHz: 440 },
  });
  const roomName = `inbound-${Date.now()}`;
  const listener = await RoomListener.join(bridge.lk, roomName);
  try {
    const res = await bridge.client.acceptWhatsAppCall({
      whatsappPhoneNumberId: bridge.phoneNumberId,
      whatsappApiKey: bridge.accessToken,
      whatsappCloudApiVersion: '24.0',
      whatsappCallId: userCall.id,
      sdp: new SessionDescription({ type: 'offer', sdp: userCall.metaSdp }),
      roomName,
      participantIdentity: 'wa-caller',
      participantName: 'WhatsApp caller',
      participantMetadata: '{"crm":42}',
      participantAttributes: { tier: 'gold' },
      waitUntilAnswered: true,
    });
    assert.equal(res.roomName, roomName);
    await userCall.waitForState('active', 10_000);

    const connector = await listener.waitForConnectorTrack();
    assert.equal(connector.identity, 'wa-caller');
    assert.equal(connector.name, 'WhatsApp caller');
    assert.equal(connector.metadata, '{"crm":42}');
    assert.equal(connector.kind, ParticipantKind.CONNECTOR);
    assert.deepEqual(connector.kindDetails, [ParticipantKindDetail.CONNECTOR_WHATSAPP]);
    await eventually(
      () => connector.attributes['whatsapp.callStatus'] === 'active',
      5000,
      'callStatus active',
    );
    assert.equal(connector.attributes.tier, 'gold');
    assert.equal(connector.attributes['whatsapp.callId'], userCall.id);
    assert.equal(connector.attributes['whatsapp.direction'], 'inbound');

    // User → room: the caller's 440 Hz tone reaches the listener.
    await sleep(1500);
    assertTone(listener.heard(1000), listener.sampleRate, 440, 'room');

    // Room → user: the listener's 1 kHz tone reaches the WhatsApp user.
    await listener.speak(1000);
    await sleep(2500);
    assertTone(userCall.recording().pcm.subarray(-16_000), 16_000, 1000, 'user');

    // Business hang-up ends the call at Meta and in the room.
    await bridge.client.disconnectWhatsAppCall(userCall.id, bridge.accessToken);
    await userCall.waitForState('ended', 5000);
    await eventually(
      () => !listener.room.remoteParticipants.has('wa-caller'),
      5000,
      'connector left the room',
    );
    assert.equal(bridge.server.calls!.registry.get(userCall.id), undefined);
  } finally {
    await listener.close();
  }
});
