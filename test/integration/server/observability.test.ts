/**
 * What an operator sees of calls and webhooks on a real service (livekit-server, the simulator as
 * Meta, the gateway routing calls): per-call metrics at the end of a call, webhook signature
 * failures, Graph API errors by Meta's code, and admission control refusing new calls with
 * `resource_exhausted` through the API and with a reject at Meta for a webhook's call.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { dispose } from '@livekit/rtc-node';
import { eventually } from '../calls/bridge-harness.js';
import {
  about,
  graphActions,
  startGatewayBridge,
  type GatewayBridge,
} from '../gateway/gateway-harness.js';

const ROUTED = '106540352242922';
let bridge: GatewayBridge;

before(async () => {
  bridge = await startGatewayBridge(
    {
      numbers: [
        {
          phone_number_id: ROUTED,
          access_token: 'test-meta-access-token',
          api_version: '24.0',
          inbound: { room: 'observed-{callId}' },
        },
      ],
    },
    { simulator: { defaultCallPermission: 'permanent' }, env: { ADMISSION_CONTROL: 'true' } },
  );
});

after(async () => {
  await bridge?.stop();
  await dispose();
});

async function metrics(): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${bridge.server.internalPort}/metrics`);
  return res.text();
}

function value(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`whatsapp_connector_${series} `));
  return line === undefined ? undefined : Number(line.split(' ').pop());
}

test('a call routed by the gateway reports its setup, end reason and media quality when it ends', async () => {
  const userCall = await bridge.simulator.placeUserCall({
    from: '4915100000101',
    phoneNumberId: ROUTED,
    voice: { kind: 'tone', frequencyHz: 440 },
  });
  await bridge.waitForProcessed(about(userCall.id, 'call_connect', 'accepted'));
  await eventually(
    () => (bridge.server.calls!.registry.get(userCall.id)?.media.stats().packetsReceived ?? 0) > 50,
    10_000,
    'audio from the user reached the connector',
  );
  let text = await metrics();
  assert.equal(value(text, 'calls_active{direction="inbound",state="active"}'), 1);
  assert.ok((value(text, 'media_live_packets_received') ?? 0) > 50);
  const stats = bridge.server.calls!.registry.get(userCall.id)!.media.stats() as {
    framesDecoded?: number;
    framesConcealed?: number;
  };
  const decodedFrames = (stats.framesDecoded ?? 0) + (stats.framesConcealed ?? 0);
  userCall.hangUp();
  await eventually(
    async () =>
      value(await metrics(), 'calls_ended_total{direction="inbound",reason="user_hangup"}') === 1,
    10_000,
    'the end is counted',
  );
  text = await metrics();
  assert.equal(value(text, 'call_setup_seconds_count{direction="inbound"}'), 1);
  assert.equal(value(text, 'call_packet_loss_ratio_count{direction="inbound"}'), 1);
  // Concealment is the connector's only when it decodes the user's audio (not in passthrough).
  assert.equal(
    value(text, 'call_concealment_ratio_count{direction="inbound"}'),
    decodedFrames > 0 ? 1 : undefined,
  );
  assert.equal(value(text, 'call_jitter_seconds_count{direction="inbound"}'), 1);
  assert.ok((value(text, 'webhooks_received_total{type="call_connect"}') ?? 0) >= 1);
  assert.ok((value(text, 'webhooks_received_total{type="call_terminate"}') ?? 0) >= 1);
});

test('webhooks with a wrong or missing signature are counted by reason', async () => {
  const body = JSON.stringify({ object: 'whatsapp_business_account', entry: [] });
  const post = (headers: Record<string, string>) =>
    fetch(bridge.webhookUrl, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', ...headers },
      body,
    });
  assert.equal((await post({ 'X-Hub-Signature-256': `sha256=${'0'.repeat(64)}` })).status, 403);
  assert.equal((await post({ 'X-Hub-Signature-256': `sha256=${'1'.repeat(64)}` })).status, 403);
  assert.equal((await post({})).status, 401);
  const text = await metrics();
  assert.equal(value(text, 'webhook_signature_failures_total{reason="mismatch"}'), 2);
  assert.equal(value(text, 'webhook_signature_failures_total{reason="missing"}'), 1);
});

test("a Graph API error is counted under the operation and Meta's error code", async () => {
  bridge.simulator.setFaults({ graphErrorsNext: 1, graphFaultActions: ['connect'] });
  try {
    await assert.rejects(
      bridge.client.dialWhatsAppCall({
        whatsappPhoneNumberId: ROUTED,
        whatsappToPhoneNumber: '4915100000102',
        whatsappApiKey: bridge.accessToken,
        whatsappCloudApiVersion: '24.0',
        roomName: `observed-dial-${Date.now()}`,
      }),
    );
  } finally {
    bridge.simulator.setFaults({ graphErrorsNext: 0, graphFaultActions: [] });
  }
  const text = await metrics();
  assert.equal(value(text, 'graph_api_errors_total{operation="calls.connect",code="131000"}'), 1);
});

// Last: it leaves the door closed.
test('an instance over its CPU limit refuses Dial with resource_exhausted and rejects a webhook call at Meta', async () => {
  const admission = bridge.server.admission;
  // Any work at all is over 0.1 % of a core: the real measurement closes the door.
  admission.settings.maxCpu = 0.001;
  for (let i = 0; i < 5; i++) admission.sampleNow();
  assert.equal(admission.open, false);

  await assert.rejects(
    bridge.client.dialWhatsAppCall({
      whatsappPhoneNumberId: ROUTED,
      whatsappToPhoneNumber: '4915100000103',
      whatsappApiKey: bridge.accessToken,
      whatsappCloudApiVersion: '24.0',
      roomName: `observed-refused-${Date.now()}`,
    }),
    (err: Error & { code?: string }) => {
      assert.equal(err.code, 'resource_exhausted');
      assert.match(err.message, /instance overloaded: main-thread CPU \d+ % .*ADMISSION_MAX_CPU/);
      return true;
    },
  );

  const userCall = await bridge.simulator.placeUserCall({
    from: '4915100000104',
    phoneNumberId: ROUTED,
  });
  await bridge.waitForProcessed(about(userCall.id, 'call_connect'));
  await userCall.waitForState('ended', 10_000);
  assert.deepEqual(graphActions(bridge, userCall.id), ['reject']);
  assert.equal(bridge.server.calls!.registry.get(userCall.id), undefined);

  const text = await metrics();
  assert.equal(value(text, 'admission_open'), 0);
  assert.equal(value(text, 'admission_refusals_total{reason="cpu"}'), 2);
});
