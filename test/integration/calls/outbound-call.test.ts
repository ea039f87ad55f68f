import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { dispose } from '@livekit/rtc-node';
import { RoomAgentDispatch, SessionDescription } from '@livekit/protocol';
import { AgentDispatchClient } from 'livekit-server-sdk';
import { createUserVoice } from '../../../src/simulator/index.js';
import {
  RoomListener,
  assertTone,
  eventually,
  sleep,
  startBridge,
  twirpJson,
  type Bridge,
} from './bridge-harness.js';

let bridge: Bridge;

before(async () => {
  bridge = await startBridge({ simulator: { defaultCallPermission: 'permanent' } });
});

after(async () => {
  await bridge?.stop();
  await dispose();
});

test('a dialled call rings the user, connects with Meta answer, and carries audio both ways', async () => {
  const roomName = `outbound-${Date.now()}`;
  const listener = await RoomListener.join(bridge.lk, roomName);
  try {
    const dial = await bridge.client.dialWhatsAppCall({
      whatsappPhoneNumberId: bridge.phoneNumberId,
      whatsappToPhoneNumber: '15551230002',
      whatsappApiKey: bridge.accessToken,
      whatsappCloudApiVersion: '24.0',
      roomName,
      participantIdentity: 'wa-callee',
      agents: [new RoomAgentDispatch({ agentName: 'support-agent', metadata: '{"lang":"en"}' })],
      destinationCountry: 'US',
    });
    assert.equal(dial.roomName, roomName);
    assert.match(dial.whatsappCallId, /^wacid\./);

    const userCall = await bridge.simulator.waitForBusinessCall();
    assert.equal(userCall.id, dial.whatsappCallId);
    const connector = await listener.waitForConnectorTrack();
    assert.equal(connector.identity, 'wa-callee');
    await eventually(
      () => connector.attributes['whatsapp.callId'] === dial.whatsappCallId,
      5000,
      'call id attribute',
    );
    assert.equal(connector.attributes['whatsapp.direction'], 'outbound');
    assert.equal(connector.attributes['whatsapp.destinationCountry'], 'US');
    assert.equal(connector.attributes['whatsapp.phoneNumber'], '15551230002');

    // The agent was dispatched into the room the connector created.
    const dispatches = await new AgentDispatchClient(
      bridge.lk.httpUrl,
      bridge.lk.apiKey,
      bridge.lk.apiSecret,
    ).listDispatch(roomName);
    const agent = dispatches.filter((d) => d.agentName === 'support-agent');
    assert.equal(agent.length, 1);
    assert.equal(agent[0]!.metadata, '{"lang":"en"}');

    // Meta's answer arrives (the app would take it from the connect webhook); the phone rings.
    const answered = twirpJson(bridge, 'ConnectWhatsAppCall', {
      whatsappCallId: dial.whatsappCallId,
      sdp: { type: 'answer', sdp: userCall.metaSdp },
      waitUntilAnswered: true,
    });
    await eventually(
      () => connector.attributes['whatsapp.callStatus'] === 'ringing',
      5000,
      'ringing status',
    );
    let waitReturned = false;
    void answered.then(() => (waitReturned = true));
    await sleep(300);
    assert.equal(waitReturned, false, 'wait_until_answered returned before the user answered');

    userCall.speak(await createUserVoice({ kind: 'tone', frequencyHz: 440 }));
    await userCall.answer();
    const res = await answered;
    assert.equal(res.status, 200, JSON.stringify(res.body));
    await eventually(
      () => connector.attributes['whatsapp.callStatus'] === 'active',
      5000,
      'active status',
    );

    await listener.speak(1000);
    await sleep(2500);
    assertTone(listener.heard(1000), listener.sampleRate, 440, 'room');
    assertTone(userCall.recording().pcm.subarray(-16_000), 16_000, 1000, 'user');

    // The user hangs up; the app reports it with USER_INITIATED; a second disconnect is an error.
    userCall.hangUp();
    await eventually(
      () => !listener.room.remoteParticipants.has('wa-callee'),
      10_000,
      'connector left',
    );
    await bridge.client.disconnectWhatsAppCall(dial.whatsappCallId, '', 1);
    await assert.rejects(
      bridge.client.disconnectWhatsAppCall(dial.whatsappCallId, '', 1),
      (err: Error & { code?: string }) => {
        assert.equal(err.code, 'not_found');
        assert.match(err.message, /whatsapp call not found/);
        return true;
      },
    );
  } finally {
    await listener.close();
  }
});

test('Connect with an SDP that is not an answer is refused before the call is looked up', async () => {
  await assert.rejects(
    bridge.client.connectWhatsAppCall(
      'wacid.unknown',
      new SessionDescription({ type: 'offer', sdp: 'v=0' }),
    ),
    (err: Error & { code?: string }) =>
      err.code === 'invalid_argument' && /incorrect sdp type/.test(err.message),
  );
  await assert.rejects(
    bridge.client.connectWhatsAppCall(
      'wacid.unknown',
      new SessionDescription({ type: 'answer', sdp: 'v=0' }),
    ),
    (err: Error & { code?: string }) => err.code === 'not_found',
  );
});
