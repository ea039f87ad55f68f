import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { dispose } from '@livekit/rtc-node';
import { ConnectTwilioCallRequest_TwilioCallDirection as Direction } from '@livekit/protocol';
import { AccessToken } from 'livekit-server-sdk';
import type { CallsListing } from '../../../src/connector/calls-endpoint.js';
import { eventually } from '../calls/bridge-harness.js';
import { runCli } from '../cli/cli-runner.js';
import {
  acceptThrough,
  KEY_PREFIX,
  startClusterBed,
  type ClusterBed,
  type ClusterInstance,
} from './cluster-harness.js';

// Two instances in two regions on a real Redis, with the default country → region map.
let bed: ClusterBed;
let eu: ClusterInstance;
let sa: ClusterInstance;
const EU_PUBLIC_URL = 'http://127.0.0.1:65002';
const SA_PUBLIC_URL = 'http://127.0.0.1:65001';
const EXTRA_KEY = 'operator-key';
const EXTRA_SECRET = 'operator-secret-operator-secret-0123';

before(async () => {
  bed = await startClusterBed();
  // Each serves Twilio on its own PUBLIC_URL; nothing listens there (the URL only shows who issued it).
  // Only node-eu accepts an extra API key: its listings must still reach node-sa.
  eu = await bed.startInstance('node-eu', {
    REGION: 'eu',
    PUBLIC_URL: EU_PUBLIC_URL,
    CONNECTOR_API_KEYS: `${EXTRA_KEY}: ${EXTRA_SECRET}`,
  });
  sa = await bed.startInstance('node-sa', { REGION: 'sa', PUBLIC_URL: SA_PUBLIC_URL });
  // Each must have seen the other's heartbeat with its region.
  await eventually(
    async () => (await eu.server.cluster!.peersWithCapacity()).some((p) => p.region === 'sa'),
    10_000,
    'node-eu sees node-sa in region sa',
  );
  await eventually(
    async () => (await sa.server.cluster!.peersWithCapacity()).some((p) => p.region === 'eu'),
    10_000,
    'node-sa sees node-eu in region eu',
  );
});

after(async () => {
  await bed?.stop();
  await dispose();
});

async function dial(through: ClusterInstance, to: string, destinationCountry: string) {
  const roomName = `regions-${to}-${Date.now()}`;
  const result = await through.client.dialWhatsAppCall({
    whatsappPhoneNumberId: bed.phoneNumberId,
    whatsappToPhoneNumber: to,
    whatsappApiKey: bed.accessToken,
    whatsappCloudApiVersion: '24.0',
    roomName,
    participantIdentity: `wa-${to}`,
    destinationCountry,
  });
  return result.whatsappCallId;
}

async function listing(
  through: ClusterInstance,
  query = '',
  keys = { apiKey: bed.lk.apiKey, apiSecret: bed.lk.apiSecret },
): Promise<CallsListing> {
  const token = new AccessToken(keys.apiKey, keys.apiSecret);
  token.addGrant({ roomCreate: true });
  const res = await fetch(`${through.internalUrl}/api/calls${query}`, {
    headers: { Authorization: `Bearer ${await token.toJwt()}` },
  });
  assert.equal(res.status, 200);
  return (await res.json()) as CallsListing;
}

test('each instance announces its region in its heartbeat', async () => {
  const info = JSON.parse((await bed.inspect.get(`${KEY_PREFIX}instance:node-sa`)) ?? '{}');
  assert.equal(info.region, 'sa');
  assert.equal(info.accepting, true);
  assert.equal(info.twilio, true, 'it serves Twilio on its own PUBLIC_URL');
});

test('ConnectTwilioCall for Brazil through the eu instance is issued by the sa instance, and listed so', async () => {
  const roomName = `regions-twilio-${Date.now()}`;
  const { connectUrl } = await eu.client.connectTwilioCall({
    twilioCallDirection: Direction.INBOUND,
    roomName,
    participantIdentity: 'twilio-caller',
    destinationCountry: 'BR',
  });
  assert.ok(connectUrl.startsWith('ws://127.0.0.1:65001/'), `issued by node-sa: ${connectUrl}`);
  assert.equal(sa.server.twilio!.list().filter((c) => c.roomName === roomName).length, 1);
  assert.equal(eu.server.twilio!.list().filter((c) => c.roomName === roomName).length, 0);
  const call = (await listing(eu)).twilioCalls.find((c) => c.roomName === roomName);
  assert.equal(call?.instanceId, 'node-sa');
  assert.equal(call?.region, 'sa');
  assert.deepEqual(call?.placement, { reason: 'region', wantedRegion: 'sa' });
  // Without a destination country it is issued where it was asked.
  const here = await eu.client.connectTwilioCall({
    twilioCallDirection: Direction.OUTBOUND,
    roomName: `${roomName}-here`,
  });
  assert.ok(here.connectUrl.startsWith('ws://127.0.0.1:65002/'), here.connectUrl);
});

test('a dial for Brazil through the eu instance runs on the sa instance, and every listing says so', async () => {
  const callId = await dial(eu, '15550009001', 'BR');
  try {
    assert.ok(sa.server.calls!.registry.get(callId), 'held by node-sa');
    assert.equal(eu.server.calls!.registry.get(callId), undefined);
    for (const through of [eu, sa]) {
      const { calls, instances } = await listing(through);
      const call = calls.find((c) => c.callId === callId);
      assert.ok(call, `listed through ${through.id}`);
      assert.equal(call.instanceId, 'node-sa');
      assert.equal(call.region, 'sa');
      assert.deepEqual(call.placement, { reason: 'region', wantedRegion: 'sa' });
      assert.deepEqual(
        instances.map((i) => [i.id, i.region, i.error]).sort(),
        [
          ['node-eu', 'eu', undefined],
          ['node-sa', 'sa', undefined],
        ].sort(),
      );
    }
    // Asked with a key only node-eu knows: node-sa is asked with the cluster's own key.
    const withExtraKey = await listing(eu, '', { apiKey: EXTRA_KEY, apiSecret: EXTRA_SECRET });
    assert.equal(withExtraKey.calls.find((c) => c.callId === callId)?.instanceId, 'node-sa');
    assert.equal(withExtraKey.instances.find((i) => i.id === 'node-sa')?.error, undefined);
    // scope=local is one instance's own calls (what peers are asked for).
    assert.equal((await listing(eu, '?scope=local')).calls.length, 0);
    // The CLI pointed at node-eu lists the call held by node-sa, with where it runs and why.
    const cli = await runCli(['calls'], {
      LIVEKIT_API_KEY: bed.lk.apiKey,
      LIVEKIT_API_SECRET: bed.lk.apiSecret,
      WHATSAPP_CONNECTOR_URL: eu.internalUrl,
    });
    assert.equal(cli.code, 0, cli.stderr);
    assert.match(cli.stdout.split('\n')[0] ?? '', /INSTANCE\s+REGION\s+PLACED/);
    const row = cli.stdout.split('\n').find((l) => l.startsWith(callId));
    assert.match(row ?? '', /\bnode-sa\s+sa\s+region sa$/, cli.stdout);
  } finally {
    await eu.client.disconnectWhatsAppCall(callId, bed.accessToken).catch(() => undefined);
  }
});

test('an accept for Brazil through the eu instance is answered by the sa instance, which holds its media', async () => {
  const userCall = await bed.simulator.placeUserCall({ from: '15550009101' });
  const roomName = `regions-accept-${Date.now()}`;
  try {
    const { roomName: answeredIn } = await acceptThrough(bed, eu, userCall, roomName, {
      destinationCountry: 'BR',
      waitUntilAnswered: true,
    });
    assert.equal(answeredIn, roomName);
    assert.ok(sa.server.calls!.registry.get(userCall.id), 'held by node-sa');
    assert.equal(eu.server.calls!.registry.get(userCall.id), undefined);
    await userCall.waitForState('active', 5000);
    const call = (await listing(eu)).calls.find((c) => c.callId === userCall.id);
    assert.equal(call?.instanceId, 'node-sa');
    assert.deepEqual(call?.placement, { reason: 'region', wantedRegion: 'sa' });
    // Hung up through the instance that does not hold it.
    await eu.client.disconnectWhatsAppCall(userCall.id, bed.accessToken);
    await userCall.waitForState('ended', 5000);
  } finally {
    if (userCall.state !== 'ended') userCall.hangUp();
  }
});

test('a dial for a region nobody runs goes to the least loaded instance', async () => {
  // node-sa holds one call; node-eu none. Japan maps to `as`, which has no instance.
  const held = await dial(sa, '15550009002', 'AR');
  let callId: string | undefined;
  try {
    assert.ok(sa.server.calls!.registry.get(held));
    await eventually(
      async () =>
        (await sa.server.cluster!.peersWithCapacity()).every((p) => p.activeCalls === 0) &&
        JSON.parse((await bed.inspect.get(`${KEY_PREFIX}instance:node-sa`)) ?? '{}').activeCalls ===
          1,
      10_000,
      'heartbeats carry the load',
    );
    callId = await dial(sa, '15550009003', 'JP');
    assert.ok(eu.server.calls!.registry.get(callId), 'held by node-eu, the least loaded');
    const call = (await listing(sa)).calls.find((c) => c.callId === callId);
    assert.equal(call?.instanceId, 'node-eu');
    assert.deepEqual(call?.placement, { reason: 'least_loaded', wantedRegion: 'as' });
  } finally {
    for (const id of [held, callId]) {
      if (id) await sa.client.disconnectWhatsAppCall(id, bed.accessToken).catch(() => undefined);
    }
  }
});

test('a listing with a peer gone names the missing instance instead of failing', async () => {
  const extra = await bed.startInstance('node-gone', { REGION: 'oc' });
  await eventually(
    async () => (await eu.server.cluster!.instances.list()).some((i) => i.id === 'node-gone'),
    10_000,
    'node-gone announced',
  );
  // Stop its listeners but leave its heartbeat record: a peer that does not answer.
  await extra.server.internalHttp.close();
  const { instances } = await listing(eu);
  const gone = instances.find((i) => i.id === 'node-gone');
  assert.ok(gone?.error, 'the unreachable instance is listed with its error');
  assert.equal(instances.find((i) => i.id === 'node-sa')?.error, undefined);
});
