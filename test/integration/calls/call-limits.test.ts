import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { RoomEvent, dispose } from '@livekit/rtc-node';
import { RoomListener, eventually, startBridge, twirpJson, type Bridge } from './bridge-harness.js';

let bridge: Bridge;

before(async () => {
  bridge = await startBridge({
    env: { MAX_CONCURRENT_CALLS: '1', CALL_MAX_DURATION_SECONDS: '3' },
    simulator: { defaultCallPermission: 'permanent' },
  });
});

after(async () => {
  await bridge?.stop();
  await dispose();
});

test('a Dial whose number is not a phone number is refused before it takes anything: the next Dial still fits under the limit', async () => {
  const bad = await twirpJson(bridge, 'DialWhatsAppCall', {
    whatsappPhoneNumberId: bridge.phoneNumberId,
    whatsappToPhoneNumber: 'call me maybe',
    whatsappApiKey: bridge.accessToken,
    whatsappCloudApiVersion: '24.0',
    roomName: 'limits-bad-number',
  });
  assert.equal(bad.status, 400, JSON.stringify(bad.body));
  assert.equal(bad.body.code, 'invalid_argument');
  assert.match(String(bad.body.msg), /whatsapp_to_phone_number must be a phone number/);
  assert.equal(bridge.server.calls!.registry.all().length, 0);

  // MAX_CONCURRENT_CALLS is 1: a leaked reservation would make this resource_exhausted.
  const good = await twirpJson(bridge, 'DialWhatsAppCall', {
    whatsappPhoneNumberId: bridge.phoneNumberId,
    whatsappToPhoneNumber: '15558880001',
    whatsappApiKey: bridge.accessToken,
    whatsappCloudApiVersion: '24.0',
    roomName: 'limits-good-number',
  });
  assert.equal(good.status, 200, JSON.stringify(good.body));
  const callId = String(good.body.whatsapp_call_id);
  await bridge.client.disconnectWhatsAppCall(callId, bridge.accessToken);
  await bridge.simulator.call(callId)!.waitForState('ended', 5000);
});

test('an answered call that reaches CALL_MAX_DURATION_SECONDS is ended at Meta, and the room is told why', async () => {
  const roomName = `limits-duration-${Date.now()}`;
  const watcher = await RoomListener.join(bridge.lk, roomName, 'watcher');
  const reasons: string[] = [];
  watcher.room.on(RoomEvent.ParticipantAttributesChanged, (_changed, p) => {
    const reason = p.attributes['whatsapp.endReason'];
    if (reason && p.attributes['whatsapp.callStatus'] === 'hangup') reasons.push(reason);
  });
  try {
    const userCall = await bridge.simulator.placeUserCall({
      from: '15558880002',
      voice: { kind: 'tone', frequencyHz: 440 },
    });
    const accepted = await twirpJson(bridge, 'AcceptWhatsAppCall', {
      whatsappPhoneNumberId: bridge.phoneNumberId,
      whatsappApiKey: bridge.accessToken,
      whatsappCloudApiVersion: '24.0',
      whatsappCallId: userCall.id,
      sdp: { type: 'offer', sdp: userCall.metaSdp },
      roomName,
      participantIdentity: 'wa-long-caller',
    });
    assert.equal(accepted.status, 200, JSON.stringify(accepted.body));
    await userCall.waitForState('active', 10_000);
    const answeredAt = Date.now();
    await userCall.waitForState('ended', 10_000);
    const lasted = Date.now() - answeredAt;
    assert.ok(lasted >= 2500 && lasted < 10_000, `the call lasted ${lasted} ms`);
    assert.equal(userCall.endReason, 'business_terminate');
    await eventually(() => reasons.includes('max_duration'), 5000, 'whatsapp.endReason');
    const call = bridge.server.calls!.registry.get(userCall.id);
    assert.equal(call?.endReason, 'max_duration');
    // The call counts as ended once Meta confirmed the terminate (it is `ending` until then).
    await call!.whenEnded();
    // Operators see it too: the end reason and the time to answer, in the metrics.
    const metrics = await (
      await fetch(`http://127.0.0.1:${bridge.server.internalPort}/metrics`)
    ).text();
    assert.match(
      metrics,
      /^whatsapp_connector_calls_ended_total\{direction="inbound",reason="max_duration"\} 1$/m,
    );
    assert.match(
      metrics,
      /^whatsapp_connector_call_setup_seconds_count\{direction="inbound"\} 1$/m,
    );
  } finally {
    await watcher.close();
  }
});
