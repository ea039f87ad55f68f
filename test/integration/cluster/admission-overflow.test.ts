/**
 * Admission control in a cluster: a busy instance says so in its heartbeat, hands its new calls
 * (a Dial, and an inbound call whose webhook it received) to a peer that takes calls, and gets
 * none from its peers.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dispose } from '@livekit/rtc-node';
import { stringify } from 'yaml';
import { eventually } from '../calls/bridge-harness.js';
import {
  KEY_PREFIX,
  startClusterBed,
  type ClusterBed,
  type ClusterInstance,
} from './cluster-harness.js';

let bed: ClusterBed;
let busy: ClusterInstance;
let calm: ClusterInstance;
let dir: string;

before(async () => {
  bed = await startClusterBed();
  dir = mkdtempSync(join(tmpdir(), 'wa-overflow-'));
  const configFile = join(dir, 'config.yaml');
  writeFileSync(
    configFile,
    stringify({
      whatsapp: {
        numbers: [
          {
            phone_number_id: bed.phoneNumberId,
            access_token: bed.accessToken,
            inbound: { room: 'overflow-{callId}' },
          },
        ],
      },
    }),
  );
  busy = await bed.startInstance('node-busy', {
    WHATSAPP_CONNECTOR_CONFIG: configFile,
    ADMISSION_CONTROL: 'true',
  });
  calm = await bed.startInstance('node-calm', { WHATSAPP_CONNECTOR_CONFIG: configFile });
});

after(async () => {
  bed?.simulator.setWebhookUrl(undefined);
  await bed?.stop();
  await dispose();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('a busy instance hands a Dial and a webhook call to a peer, and peers send it none', async () => {
  const admission = busy.server.admission;
  // Any work at all is over 0.1 % of the main thread: the real measurement closes the door.
  admission.settings.maxCpu = 0.001;
  for (let i = 0; i < 5; i++) admission.sampleNow();
  assert.equal(admission.open, false);
  await eventually(
    async () =>
      JSON.parse((await bed.inspect.get(`${KEY_PREFIX}instance:node-busy`)) ?? '{}').accepting ===
      false,
    10_000,
    'the heartbeat says node-busy takes no calls',
  );
  assert.deepEqual(
    (await calm.server.cluster!.peersWithCapacity()).map((p) => p.id),
    [],
    'node-calm does not count node-busy as a peer with room',
  );

  const dialled = await busy.client.dialWhatsAppCall({
    whatsappPhoneNumberId: bed.phoneNumberId,
    whatsappToPhoneNumber: '15550007001',
    whatsappApiKey: bed.accessToken,
    whatsappCloudApiVersion: '24.0',
    roomName: `overflow-dial-${Date.now()}`,
  });
  const callIds = [dialled.whatsappCallId];
  try {
    assert.ok(calm.server.calls!.registry.get(dialled.whatsappCallId), 'the Dial ran on node-calm');
    assert.equal(busy.server.calls!.registry.get(dialled.whatsappCallId), undefined);

    // Meta delivers an inbound call's connect webhook to the busy instance.
    bed.simulator.setWebhookUrl(`${busy.url}${busy.config.whatsapp.webhookPath}`);
    const userCall = await bed.simulator.placeUserCall({ from: '15550007002' });
    callIds.push(userCall.id);
    await userCall.waitForState('active', 15_000);
    assert.ok(calm.server.calls!.registry.get(userCall.id), 'the inbound call runs on node-calm');
    assert.equal(busy.server.calls!.registry.get(userCall.id), undefined);
    const metrics = await (await fetch(`${busy.internalUrl}/metrics`)).text();
    assert.match(metrics, /^whatsapp_connector_admission_open 0$/m);
  } finally {
    bed.simulator.setWebhookUrl(undefined);
    for (const id of callIds) {
      await calm.client.disconnectWhatsAppCall(id, bed.accessToken).catch(() => undefined);
    }
  }
});
