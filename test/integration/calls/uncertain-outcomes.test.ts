/**
 * Meta's outcome unknown (issue 10 §3): Graph timeouts, 5xx and answers lost after Meta applied
 * the request, played by the simulator's faults against the real connector. Whatever happens, no
 * call may stay live at Meta and none may be placed twice.
 */
import { after, afterEach, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { dispose } from '@livekit/rtc-node';
import { AccessToken } from 'livekit-server-sdk';
import type { CallsListing } from '../../../src/connector/calls-endpoint.js';
import type { SimulatedCall } from '../../../src/simulator/index.js';
import {
  acceptInboundCall,
  eventually,
  startBridge,
  twirpJson,
  type Bridge,
} from './bridge-harness.js';

let bridge: Bridge;

before(async () => {
  bridge = await startBridge({
    simulator: { defaultCallPermission: 'permanent' },
    // Meta "times out" after 1 s here instead of 10 s; two attempts per request.
    graph: {
      requestTimeoutMs: 1000,
      totalDeadlineMs: 5000,
      maxAttempts: 2,
      initialBackoffMs: 50,
      maxBackoffMs: 100,
    },
    // Rounds of ending a call at Meta 0.2 s, then 0.4 s apart (instead of 1 s doubling).
    metaEndRetry: { initialDelayMs: 200, maxDelayMs: 400, giveUpAfterMs: 60_000 },
  });
});

afterEach(() => {
  bridge.simulator.setFaults({
    graphErrorsNext: 0,
    graphTimeoutsNext: 0,
    graphAppliedButUnansweredNext: 0,
    graphFaultActions: [],
  });
});

after(async () => {
  await bridge?.stop();
  await dispose();
});

/** The `/calls` actions Meta received for a call, in order. */
function actionsAt(callId: string): string[] {
  return bridge.simulator.requestLog.flatMap((r) => {
    const body = r.body as { action?: unknown; call_id?: unknown } | undefined;
    return body?.call_id === callId && typeof body.action === 'string' ? [body.action] : [];
  });
}

function connectsTo(number: string): number {
  return bridge.simulator.requestLog.filter((r) => {
    const body = r.body as { action?: unknown; to?: unknown } | undefined;
    return body?.action === 'connect' && body.to === number;
  }).length;
}

async function placeUserCall(from: string): Promise<SimulatedCall> {
  return bridge.simulator.placeUserCall({ from, voice: { kind: 'tone', frequencyHz: 440 } });
}

function acceptJson(call: SimulatedCall, roomName: string) {
  return {
    whatsappPhoneNumberId: bridge.phoneNumberId,
    whatsappApiKey: bridge.accessToken,
    whatsappCloudApiVersion: '24.0',
    whatsappCallId: call.id,
    sdp: { type: 'offer', sdp: call.metaSdp },
    roomName,
  };
}

async function listCalls(): Promise<CallsListing> {
  const token = new AccessToken(bridge.lk.apiKey, bridge.lk.apiSecret);
  token.addGrant({ roomCreate: true });
  // The listing is served on the internal listener.
  const res = await fetch(`http://127.0.0.1:${bridge.server.internalPort}/api/calls?all=true`, {
    headers: { Authorization: `Bearer ${await token.toJwt()}` },
  });
  return (await res.json()) as CallsListing;
}

test('an accept Meta applied but never answered ends the call with terminate, so nothing stays live at Meta', async () => {
  bridge.simulator.setFaults({ graphAppliedButUnansweredNext: 1, graphFaultActions: ['accept'] });
  const userCall = await placeUserCall('15557770001');
  const res = await twirpJson(
    bridge,
    'AcceptWhatsAppCall',
    acceptJson(userCall, 'uncertain-accept'),
  );
  assert.notEqual(res.status, 200, 'the accept did not succeed as far as we know');
  // Meta had accepted the call; a reject would be refused and leave it live.
  await userCall.waitForState('ended', 10_000);
  assert.equal(userCall.endReason, 'business_terminate');
  const actions = actionsAt(userCall.id);
  assert.ok(!actions.includes('reject'), actions.join(','));
  assert.equal(actions.at(-1), 'terminate');
  assert.equal(actions[0], 'pre_accept');
});

test('a pre_accept that Meta never answers is terminated, never rejected', async () => {
  bridge.simulator.setFaults({ graphTimeoutsNext: 2, graphFaultActions: ['pre_accept'] });
  const userCall = await placeUserCall('15557770002');
  const res = await twirpJson(bridge, 'AcceptWhatsAppCall', acceptJson(userCall, 'uncertain-pre'));
  assert.equal(res.status, 503, JSON.stringify(res.body));
  assert.equal(res.body.msg, 'whatsapp api unreachable');
  await userCall.waitForState('ended', 10_000);
  assert.deepEqual(actionsAt(userCall.id), ['pre_accept', 'pre_accept', 'terminate']);
});

test('Meta failing with 5xx on accept until the retries run out: the call is terminated', async () => {
  bridge.simulator.setFaults({ graphErrorsNext: 2, graphFaultActions: ['accept'] });
  const userCall = await placeUserCall('15557770003');
  const res = await twirpJson(bridge, 'AcceptWhatsAppCall', acceptJson(userCall, 'uncertain-5xx'));
  assert.notEqual(res.status, 200);
  await userCall.waitForState('ended', 10_000);
  assert.equal(userCall.endReason, 'business_terminate');
  assert.deepEqual(actionsAt(userCall.id), ['pre_accept', 'accept', 'accept', 'terminate']);
});

test('a disconnect Meta keeps failing leaves the call ending, retried in the background until Meta confirms', async () => {
  const { userCall, listener } = await acceptInboundCall(bridge, { toneHz: 440 });
  try {
    // Three rounds of two failed attempts each; the fourth round gets through.
    bridge.simulator.setFaults({ graphErrorsNext: 6, graphFaultActions: ['terminate'] });
    const disconnected = bridge.client.disconnectWhatsAppCall(userCall.id, bridge.accessToken);
    // While Meta has not confirmed, the connector keeps the call, listed as ending.
    const listed = await eventually(
      async () =>
        (await listCalls()).calls.find((c) => c.callId === userCall.id && c.state === 'ending'),
      5000,
      'the call listed as ending',
    );
    assert.equal(listed?.endReason, 'business_hangup');
    assert.notEqual(userCall.state, 'ended', 'still live at Meta');
    // LiveKit's semantics: the disconnect was served, a second one is not_found.
    await assert.rejects(
      bridge.client.disconnectWhatsAppCall(userCall.id, bridge.accessToken),
      (err: Error & { code?: string }) => err.code === 'not_found',
    );
    await disconnected;
    await userCall.waitForState('ended', 10_000);
    assert.equal(userCall.endReason, 'business_terminate');
    assert.equal(actionsAt(userCall.id).filter((a) => a === 'terminate').length, 7);
    await eventually(
      async () => !(await listCalls()).calls.some((c) => c.callId === userCall.id),
      5000,
      'the call leaves the listing once Meta confirmed',
    );
  } finally {
    await listener.close();
  }
});

test('a Dial whose connect may have reached Meta is not placed again when retried with its request id', async () => {
  bridge.simulator.setFaults({ graphAppliedButUnansweredNext: 1, graphFaultActions: ['connect'] });
  const dial = {
    whatsappPhoneNumberId: bridge.phoneNumberId,
    whatsappToPhoneNumber: '15557770005',
    whatsappApiKey: bridge.accessToken,
    whatsappCloudApiVersion: '24.0',
    roomName: 'uncertain-dial',
  };
  const headers = { 'X-Livekit-Request-Id': 'uncertain-dial-request-1' };
  const first = await twirpJson(bridge, 'DialWhatsAppCall', dial, headers);
  assert.equal(first.status, 503, JSON.stringify(first.body));
  // The client retries, as the SDKs do after a failure, with the same request id.
  const retried = await twirpJson(bridge, 'DialWhatsAppCall', dial, headers);
  assert.deepEqual(retried, first);
  assert.equal(connectsTo('15557770005'), 1, 'Meta was asked to call the user once');
  // Meta did place that call; the user's phone rings, and nothing was placed twice.
  const placed = bridge.simulator.activeCalls().filter((c) => c.user.phoneNumber === '15557770005');
  assert.equal(placed.length, 1);
  placed[0]!.reject();
});

test('a Dial retried with its request id after a lost answer gets the first call, not a second one', async () => {
  const dial = {
    whatsappPhoneNumberId: bridge.phoneNumberId,
    whatsappToPhoneNumber: '15557770006',
    whatsappApiKey: bridge.accessToken,
    whatsappCloudApiVersion: '24.0',
    roomName: 'retried-dial',
  };
  const headers = { 'X-Livekit-Request-Id': 'retried-dial-request-1' };
  const first = await twirpJson(bridge, 'DialWhatsAppCall', dial, headers);
  assert.equal(first.status, 200, JSON.stringify(first.body));
  const retried = await twirpJson(bridge, 'DialWhatsAppCall', dial, headers);
  assert.deepEqual(retried, first);
  assert.equal(connectsTo('15557770006'), 1);
  // Another request id is another Dial.
  const callId = String(first.body.whatsapp_call_id);
  await bridge.client.disconnectWhatsAppCall(callId, bridge.accessToken);
  assert.equal(actionsAt(callId).at(-1), 'terminate');
});
