import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { dispose } from '@livekit/rtc-node';
import { TwirpError } from 'livekit-server-sdk';
import { createUserVoice } from '../../../src/simulator/index.js';
import { RoomListener, assertTone, eventually, sleep } from '../calls/bridge-harness.js';
import { encodeWebhookBody, signWebhookBody } from '../../../src/whatsapp/index.js';
import {
  APP_SECRET,
  about,
  graphActions,
  startGatewayBridge,
  type GatewayBridge,
} from './gateway-harness.js';

let bridge: GatewayBridge;

before(async () => {
  bridge = await startGatewayBridge({
    numbers: [{ phone_number_id: '106540352242922', access_token: 'test-meta-access-token' }],
  });
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

test('a dialled call is completed by webhooks alone: answer applied, statuses followed, audio both ways, user hang-up', async () => {
  bridge.simulator.user('4915200000001').setPermission(bridge.phoneNumberId, 'permanent');
  const roomName = 'outbound-by-webhooks';
  const listener = await RoomListener.join(bridge.lk, roomName);
  try {
    const { whatsappCallId: callId } = await dial('4915200000001', roomName);
    const userCall = await bridge.simulator.waitForBusinessCall();
    assert.equal(userCall.id, callId);
    // No ConnectWhatsAppCall from the application: the gateway applies Meta's answer.
    await bridge.waitForProcessed(about(callId, 'call_connect', 'connected'));
    await eventually(
      () => bridge.server.calls!.registry.get(callId)?.state === 'ringing',
      5000,
      'ringing',
    );
    userCall.speak(await createUserVoice({ kind: 'tone', frequencyHz: 440 }));
    await userCall.answer();
    await bridge.waitForProcessed(about(callId, 'call_status', 'status_applied'));
    await eventually(
      () => bridge.server.calls!.registry.get(callId)?.state === 'active',
      5000,
      'active',
    );
    await listener.waitForConnectorTrack();
    await listener.speak(1000);
    await sleep(1500);
    assertTone(listener.heard(1000), listener.sampleRate, 440, 'room');
    assertTone(userCall.recording().pcm.subarray(-16_000), 16_000, 1000, 'user');

    userCall.hangUp();
    await bridge.waitForProcessed(about(callId, 'call_terminate', 'hung_up'));
    await eventually(
      () => !listener.room.remoteParticipants.has('wa-4915200000001'),
      5000,
      'connector left the room',
    );
    assert.equal(bridge.server.calls!.registry.get(callId)?.endReason, 'user_hangup');
    assert.deepEqual(graphActions(bridge, callId), [], 'nothing sent to Meta after connect');
  } finally {
    await listener.close();
  }
});

test('duplicated webhooks of a dialled call apply the answer once and raise no error', async () => {
  bridge.simulator.user('4915200000002').setPermission(bridge.phoneNumberId, 'permanent');
  bridge.simulator.setFaults({ duplicateWebhooks: true });
  try {
    const { whatsappCallId: callId } = await dial('4915200000002', 'outbound-duplicates');
    const userCall = await bridge.simulator.waitForBusinessCall();
    await bridge.waitForProcessed(about(callId, 'call_connect', 'connected'));
    await bridge.waitForProcessed(about(callId, 'call_connect', 'duplicate'));
    await userCall.answer();
    await eventually(
      () => bridge.server.calls!.registry.get(callId)?.state === 'active',
      5000,
      'active',
    );
    userCall.hangUp();
    await bridge.waitForProcessed(about(callId, 'call_terminate', 'duplicate'));
    const mine = bridge.processed.filter((p) => 'callId' in p.event && p.event.callId === callId);
    assert.deepEqual(
      mine.filter((p) => p.outcome === 'failed').map((p) => p.error?.message),
      [],
    );
  } finally {
    bridge.simulator.setFaults({ duplicateWebhooks: false });
  }
});

test('a dial to a user without call permission fails before the call with an actionable error', async () => {
  const before = bridge.simulator.requestLog.length;
  await assert.rejects(dial('4915200000003', 'outbound-no-permission'), (err: unknown) => {
    assert.ok(err instanceof TwirpError);
    assert.equal(err.code, 'failed_precondition');
    assert.match(err.message, /permission/);
    assert.match(err.message, /permissions request/);
    assert.equal(err.metadata?.reason, 'no_call_permission');
    return true;
  });
  const paths = bridge.simulator.requestLog.slice(before).map((r) => `${r.method} ${r.path}`);
  assert.ok(paths.some((p) => p.includes('call_permissions')));
  assert.ok(!paths.some((p) => p.startsWith('POST') && p.endsWith('/calls')), 'no call placed');
});

test('a terminate that overtakes the connect of a dialled call ends it; the late connect is ignored without error', async () => {
  bridge.simulator.user('4915200000004').setPermission(bridge.phoneNumberId, 'permanent');
  bridge.simulator.setFaults({ webhookDelayMs: 1500 });
  try {
    const { whatsappCallId: callId } = await dial('4915200000004', 'outbound-reordered');
    // Meta's terminate arrives first (signed like Meta's), the delayed connect after it.
    const body = encodeWebhookBody({
      object: 'whatsapp_business_account',
      entry: [
        {
          id: '366634483210360',
          changes: [
            {
              field: 'calls',
              value: {
                messaging_product: 'whatsapp',
                metadata: {
                  phone_number_id: bridge.phoneNumberId,
                  display_phone_number: '15550001234',
                },
                calls: [
                  {
                    id: callId,
                    from: '15550001234',
                    to: '4915200000004',
                    event: 'terminate',
                    direction: 'BUSINESS_INITIATED',
                    timestamp: String(Math.floor(Date.now() / 1000)),
                    status: 'FAILED',
                  },
                ],
              },
            },
          ],
        },
      ],
    });
    const res = await fetch(bridge.webhookUrl, {
      method: 'POST',
      headers: {
        'Content-Type': 'application/json',
        'X-Hub-Signature-256': signWebhookBody(body, APP_SECRET),
      },
      body,
    });
    assert.equal(res.status, 200);
    await bridge.waitForProcessed(about(callId, 'call_terminate', 'hung_up'));
    // Meta ended the call FAILED before anyone picked up: nobody answered.
    assert.equal(bridge.server.calls!.registry.get(callId)?.endReason, 'no_answer');
    await bridge.waitForProcessed(about(callId, 'call_connect', 'terminated_before_connect'));
    const mine = bridge.processed.filter((p) => 'callId' in p.event && p.event.callId === callId);
    assert.deepEqual(
      mine.filter((p) => p.outcome === 'failed').map((p) => p.error?.message),
      [],
    );
  } finally {
    bridge.simulator.setFaults({ webhookDelayMs: 0 });
  }
});
