import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { dispose } from '@livekit/rtc-node';
import { ConnectTwilioCallRequest_TwilioCallDirection as TwilioDirection } from '@livekit/protocol';
import { startRedis, type RedisHandle } from '../../../testbed/redis.js';
import { assertTone, eventually, postTwirpJson, RoomListener } from '../calls/bridge-harness.js';
import {
  graphActions,
  liveUserCall,
  startConnector,
  killLeftovers,
  startMetaBed,
  statusOf,
  terminatedAtMeta,
  type MetaBed,
} from './durability-harness.js';

/**
 * SIGTERM on a `serve` process with live calls: the drain of issue 10. Real processes: the
 * connector as a child process, livekit-server, the simulator as Meta.
 */

let bed: MetaBed;
let redis: RedisHandle | undefined;
const listeners: RoomListener[] = [];

before(async () => {
  bed = await startMetaBed();
});

after(async () => {
  killLeftovers();
  for (const l of listeners) await l.close().catch(() => undefined);
  await dispose();
  await redis?.stop();
  await bed?.stop();
});

test('SIGTERM with two live calls: readiness drops, new calls are refused, the live calls keep audio, and the process exits 0 once the users hang up', async () => {
  const connector = await startConnector(bed, {
    stateDir: join(bed.dir, 'drain'),
    env: { SHUTDOWN_DRAIN_SECONDS: '120' },
  });
  bed.simulator.setWebhookUrl(connector.webhookUrl);
  const first = await liveUserCall(bed, '4915500000001', 440);
  const second = await liveUserCall(bed, '4915500000002', 440);
  const listener = await RoomListener.join(bed.lk, 'drain-4915500000001');
  listeners.push(listener);
  await listener.waitForConnectorTrack();

  assert.equal(await statusOf(`${connector.internalUrl}/readyz`), 200);
  // As systemd stops a service: SIGTERM to the connector and its room worker processes alike.
  connector.killGroup('SIGTERM');
  await eventually(
    async () => (await statusOf(`${connector.internalUrl}/readyz`)) === 503,
    10_000,
    '/readyz answering 503',
  );
  assert.equal(await statusOf(`${connector.internalUrl}/healthz`), 200, 'alive while draining');

  // New calls through the API: `unavailable`, for Dial, Accept and ConnectTwilioCall alike.
  const keys = bed.lk;
  const dial = await postTwirpJson(connector.internalUrl, keys, 'DialWhatsAppCall', {
    whatsapp_phone_number_id: bed.phoneNumberId,
    whatsapp_to_phone_number: '4915500000009',
    whatsapp_api_key: 'durability-meta-token',
    whatsapp_cloud_api_version: '24.0',
    room_name: 'refused-dial',
  });
  assert.equal(dial.body.code, 'unavailable', JSON.stringify(dial.body));
  const accept = await postTwirpJson(connector.internalUrl, keys, 'AcceptWhatsAppCall', {
    whatsapp_phone_number_id: bed.phoneNumberId,
    whatsapp_api_key: 'durability-meta-token',
    whatsapp_cloud_api_version: '24.0',
    whatsapp_call_id: 'wacid.refused',
    sdp: { type: 'offer', sdp: first.metaSdp },
    room_name: 'refused-accept',
  });
  assert.equal(accept.body.code, 'unavailable', JSON.stringify(accept.body));
  const twilio = await postTwirpJson(connector.internalUrl, keys, 'ConnectTwilioCall', {
    twilio_call_direction: TwilioDirection.INBOUND,
    room_name: 'refused-twilio',
  });
  assert.equal(twilio.body.code, 'unavailable', JSON.stringify(twilio.body));

  // A new call's connect webhook is not taken (503: Meta retries elsewhere) and not answered.
  const third = await bed.simulator.placeUserCall({ from: '4915500000003' });
  await eventually(
    () =>
      bed.simulator.webhookLog.some(
        (d) => d.callId === third.id && d.attempts.some((a) => a.status === 503),
      ),
    10_000,
    'the new call’s connect webhook answered 503',
  );
  assert.ok(
    !bed.simulator.webhookLog.some(
      (d) => d.callId === third.id && d.event === 'connect' && d.delivered,
    ),
    'a connect taken while draining',
  );
  assert.deepEqual(graphActions(bed, third.id), [], 'nothing sent to Meta for the new call');

  // The live calls go on, with audio both ways, well into the drain (3 s of it are checked).
  await new Promise((r) => setTimeout(r, 3000));
  assert.equal(first.state, 'active');
  assert.equal(second.state, 'active');
  assertTone(
    listener.heard(3000),
    listener.sampleRate,
    440,
    'caller heard in the room during drain',
  );
  const sent = first.recordingStats().packetsReceived;
  await eventually(
    () => first.recordingStats().packetsReceived > sent + 10,
    5000,
    'the caller still receiving media during the drain',
  );
  assert.ok(
    connector.running,
    `still running with live calls:\n${connector.output().slice(-4000)}`,
  );

  first.hangUp();
  await new Promise((r) => setTimeout(r, 1000));
  assert.ok(connector.running, 'still running with one live call');
  second.hangUp();
  assert.equal(await connector.exited, 0, connector.output());
  // The users ended the calls; the connector did not have to terminate them.
  assert.ok(!graphActions(bed, first.id).includes('terminate'));
  assert.ok(!graphActions(bed, second.id).includes('terminate'));
  third.hangUp();
});

test('a short drain terminates the calls left at Meta (end reason shutdown) and exits 0', async () => {
  const connector = await startConnector(bed, {
    stateDir: join(bed.dir, 'short-drain'),
    env: { SHUTDOWN_DRAIN_SECONDS: '2' },
  });
  bed.simulator.setWebhookUrl(connector.webhookUrl);
  const calls = [
    await liveUserCall(bed, '4915500000011', 440),
    await liveUserCall(bed, '4915500000012', 440),
  ];
  connector.kill('SIGTERM');
  assert.equal(await connector.exited, 0, connector.output());
  await terminatedAtMeta(
    bed,
    calls.map((c) => c.id),
    10_000,
  );
  for (const call of calls) {
    await call.waitForState('ended', 10_000);
    assert.equal(call.endReason, 'business_terminate');
  }
  assert.match(connector.output(), /"reason":"shutdown"/);
});

test('a second signal cuts the drain short', async () => {
  const connector = await startConnector(bed, {
    stateDir: join(bed.dir, 'second-signal'),
    env: { SHUTDOWN_DRAIN_SECONDS: '300' },
  });
  bed.simulator.setWebhookUrl(connector.webhookUrl);
  const call = await liveUserCall(bed, '4915500000021', 440);
  connector.kill('SIGTERM');
  await eventually(
    async () => (await statusOf(`${connector.internalUrl}/readyz`)) === 503,
    10_000,
    'draining',
  );
  assert.ok(connector.running);
  connector.kill('SIGINT');
  assert.equal(await connector.exited, 0, connector.output());
  await terminatedAtMeta(bed, [call.id], 10_000);
});

test('with Redis, a call whose connect webhook reaches a draining instance is answered by a peer that is not draining', async () => {
  redis = await startRedis();
  const env = (id: string) => ({
    REDIS_URL: redis!.url,
    REDIS_KEY_PREFIX: 'durability-drain:',
    INSTANCE_ID: id,
    CLUSTER_HEARTBEAT_SECONDS: '1',
    SHUTDOWN_DRAIN_SECONDS: '120',
  });
  const draining = await startConnector(bed, {
    stateDir: join(bed.dir, 'redis-drain-a'),
    env: env('draining'),
  });
  const peer = await startConnector(bed, {
    stateDir: join(bed.dir, 'redis-drain-b'),
    env: env('peer'),
  });
  bed.simulator.setWebhookUrl(draining.webhookUrl);
  const held = await liveUserCall(bed, '4915500000031');
  draining.kill('SIGTERM');
  await eventually(
    async () => (await statusOf(`${draining.internalUrl}/readyz`)) === 503,
    10_000,
    'draining',
  );
  // The peer has seen the draining flag in the heartbeat before the next call comes.
  await new Promise((r) => setTimeout(r, 1500));

  const fresh = await liveUserCall(bed, '4915500000032');
  await eventually(
    () => peer.output().includes(fresh.id) && /"msg":"call accepted"/.test(peer.output()),
    10_000,
    'the peer holding the new call',
  );
  assert.ok(
    !draining
      .output()
      .split('\n')
      .some((l) => l.includes(fresh.id) && l.includes('"msg":"call accepted"')),
    'the draining instance did not take the call itself',
  );
  assert.equal(held.state, 'active', 'the drained call goes on');
  held.hangUp();
  assert.equal(await draining.exited, 0, draining.output());
  assert.equal(fresh.state, 'active', 'the new call lives on at the peer');
  fresh.hangUp();
  peer.kill('SIGTERM');
  assert.equal(await peer.exited, 0, peer.output());
});
