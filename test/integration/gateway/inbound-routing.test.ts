import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { RoomEvent, dispose } from '@livekit/rtc-node';
import { AgentDispatchClient, RoomServiceClient } from 'livekit-server-sdk';
import { RoomListener, assertTone, eventually, sleep } from '../calls/bridge-harness.js';
import { about, graphActions, startGatewayBridge, type GatewayBridge } from './gateway-harness.js';

const ROUTED = '106540352242922';
const CLOSED = '200000000000002';
const GATED = '300000000000003';
const UNROUTED = '400000000000004';

let bridge: GatewayBridge;
let rooms: RoomServiceClient;

/** Every weekday except today's (UTC), so "now" is always outside these hours. */
function daysExceptToday(): string[] {
  const days = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];
  const today = days[new Date().getUTCDay()];
  return days.filter((d) => d !== today);
}

before(async () => {
  const accessToken = 'test-meta-access-token';
  bridge = await startGatewayBridge(
    {
      numbers: [
        {
          phone_number_id: ROUTED,
          access_token: accessToken,
          api_version: '24.0',
          inbound: {
            room: 'wa-{caller}',
            agents: [{ name: 'support-agent', metadata: '{"caller":"{caller}"}' }],
            participant: {
              identity: 'caller-{caller}',
              name: '{callerName}',
              metadata: '{"callId":"{callId}"}',
              attributes: { source: 'whatsapp', 'crm.caller': '{caller}' },
            },
          },
        },
        {
          phone_number_id: CLOSED,
          access_token: accessToken,
          inbound: {
            hours: {
              timezone: 'UTC',
              open: [{ days: daysExceptToday(), from: '00:00', to: '24:00' }],
            },
          },
        },
        {
          phone_number_id: GATED,
          access_token: accessToken,
          inbound: {
            room: 'gated-{caller}',
            accept: 'when_agent_ready',
            agent_ready_timeout_seconds: 3,
          },
        },
        { phone_number_id: UNROUTED, access_token: accessToken },
      ],
    },
    {
      simulator: {
        phoneNumbers: [
          { id: ROUTED, displayPhoneNumber: '15550001234' },
          { id: CLOSED, displayPhoneNumber: '15550002222' },
          { id: GATED, displayPhoneNumber: '15550003333' },
          { id: UNROUTED, displayPhoneNumber: '15550004444' },
        ],
      },
    },
  );
  rooms = new RoomServiceClient(bridge.lk.httpUrl, bridge.lk.apiKey, bridge.lk.apiSecret);
});

after(async () => {
  await bridge?.stop();
  await dispose();
});

test('a user call is answered per its number’s rule: room, agent, participant fields, audio both ways, hang-up by webhook', async () => {
  const listener = await RoomListener.join(bridge.lk, 'wa-4915100000001');
  try {
    const userCall = await bridge.simulator.placeUserCall({
      from: '4915100000001',
      name: 'Ada',
      phoneNumberId: ROUTED,
      voice: { kind: 'tone', frequencyHz: 440 },
    });
    const accepted = await bridge.waitForProcessed(about(userCall.id, 'call_connect'));
    assert.equal(accepted.outcome, 'accepted');
    assert.equal(accepted.roomName, 'wa-4915100000001');
    await userCall.waitForState('active', 10_000);

    const connector = await listener.waitForConnectorTrack();
    assert.equal(connector.identity, 'caller-4915100000001');
    assert.equal(connector.name, 'Ada');
    assert.equal(connector.metadata, JSON.stringify({ callId: userCall.id }));
    assert.equal(connector.attributes.source, 'whatsapp');
    assert.equal(connector.attributes['crm.caller'], '4915100000001');
    assert.equal(connector.attributes['whatsapp.callId'], userCall.id);

    const dispatches = await new AgentDispatchClient(
      bridge.lk.httpUrl,
      bridge.lk.apiKey,
      bridge.lk.apiSecret,
    ).listDispatch('wa-4915100000001');
    // livekit-server adds an unnamed default dispatch to rooms a client creates; ours is named.
    assert.deepEqual(
      dispatches.filter((d) => d.agentName !== '').map((d) => [d.agentName, d.metadata]),
      [['support-agent', '{"caller":"4915100000001"}']],
    );

    await sleep(1500);
    assertTone(listener.heard(1000), listener.sampleRate, 440, 'room');

    // The user hangs up: Meta's terminate webhook is all the connector gets. The room hears why
    // before the connector leaves.
    const lastAttributes = new Promise<Record<string, string>>((resolve) =>
      listener.room.on(RoomEvent.ParticipantDisconnected, (p) => {
        if (p.identity === 'caller-4915100000001') resolve({ ...p.attributes });
      }),
    );
    userCall.hangUp();
    await bridge.waitForProcessed(about(userCall.id, 'call_terminate', 'hung_up'));
    await eventually(
      () => !listener.room.remoteParticipants.has('caller-4915100000001'),
      5000,
      'connector left the room',
    );
    assert.equal(bridge.server.calls!.registry.get(userCall.id)?.endReason, 'user_hangup');
    const last = await lastAttributes;
    assert.equal(last['whatsapp.callStatus'], 'hangup');
    assert.equal(last['whatsapp.endReason'], 'user_hangup');
  } finally {
    await listener.close();
  }
});

test('a call outside the number’s business hours is rejected at Meta and no room is made', async () => {
  const userCall = await bridge.simulator.placeUserCall({
    from: '4915100000002',
    phoneNumberId: CLOSED,
  });
  await bridge.waitForProcessed(about(userCall.id, 'call_connect', 'rejected_outside_hours'));
  await userCall.waitForState('ended', 5000);
  assert.deepEqual(graphActions(bridge, userCall.id), ['reject']);
  assert.equal(bridge.server.calls!.registry.get(userCall.id), undefined);
});

test('ready-gated accept waits for an agent’s audio in the room, then answers', async () => {
  const userCall = await bridge.simulator.placeUserCall({
    from: '4915100000003',
    phoneNumberId: GATED,
  });
  const routed = await new Promise<string>((resolve) =>
    bridge.server.gateway!.once('inboundCall', (r) => resolve(r.roomName)),
  );
  assert.equal(routed, 'gated-4915100000003');
  // Nobody has published yet: the call must still be ringing, not accepted.
  await sleep(500);
  assert.notEqual(userCall.state, 'active');
  const agent = await RoomListener.join(bridge.lk, routed, 'fake-agent');
  try {
    await agent.speak(1000, 'agent-voice');
    await bridge.waitForProcessed(about(userCall.id, 'call_connect', 'accepted'));
    await userCall.waitForState('active', 10_000);
    await sleep(1500);
    assertTone(userCall.recording().pcm.subarray(-16_000), 16_000, 1000, 'user hears the agent');
  } finally {
    await agent.close();
  }
});

test('ready-gated accept rejects the call when no agent publishes in time', async () => {
  const userCall = await bridge.simulator.placeUserCall({
    from: '4915100000004',
    phoneNumberId: GATED,
  });
  const result = await bridge.waitForProcessed(
    about(userCall.id, 'call_connect', 'rejected_room_not_ready'),
    10_000,
  );
  assert.match(result.error?.message ?? '', /timeout waiting for participants to publish/);
  await userCall.waitForState('ended', 5000);
  assert.deepEqual(graphActions(bridge, userCall.id), ['reject']);
  const participants = await rooms.listParticipants('gated-4915100000004').catch(() => []);
  assert.equal(participants.length, 0);
});

test('calls to a number without an inbound rule are left alone', async () => {
  const userCall = await bridge.simulator.placeUserCall({
    from: '4915100000005',
    phoneNumberId: UNROUTED,
  });
  await bridge.waitForProcessed(about(userCall.id, 'call_connect', 'no_rule'));
  assert.deepEqual(graphActions(bridge, userCall.id), [], 'no Graph request for the call');
  assert.equal(bridge.server.calls!.registry.get(userCall.id), undefined);
  userCall.hangUp();
});

test('duplicated webhooks answer a call once and raise no error', async () => {
  bridge.simulator.setFaults({ duplicateWebhooks: true });
  try {
    const userCall = await bridge.simulator.placeUserCall({
      from: '4915100000006',
      phoneNumberId: ROUTED,
    });
    await bridge.waitForProcessed(about(userCall.id, 'call_connect', 'accepted'));
    await bridge.waitForProcessed(about(userCall.id, 'call_connect', 'duplicate'));
    await userCall.waitForState('active', 10_000);
    userCall.hangUp();
    await bridge.waitForProcessed(about(userCall.id, 'call_terminate', 'duplicate'));
    const mine = bridge.processed.filter(
      (p) => 'callId' in p.event && p.event.callId === userCall.id,
    );
    assert.equal(mine.filter((p) => p.outcome === 'failed').length, 0);
    assert.deepEqual(graphActions(bridge, userCall.id), ['pre_accept', 'accept']);
  } finally {
    bridge.simulator.setFaults({ duplicateWebhooks: false });
  }
});

test('a terminate delivered before its connect leaves the call unanswered', async () => {
  bridge.simulator.setFaults({ terminateBeforeConnect: true });
  try {
    const userCall = await bridge.simulator.placeUserCall({
      from: '4915100000007',
      phoneNumberId: ROUTED,
    });
    await bridge.waitForProcessed(about(userCall.id, 'call_connect', 'terminated_before_connect'));
    assert.deepEqual(graphActions(bridge, userCall.id), []);
    assert.equal(bridge.server.calls!.registry.get(userCall.id), undefined);
  } finally {
    bridge.simulator.setFaults({ terminateBeforeConnect: false });
  }
});
