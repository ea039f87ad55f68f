/**
 * The Graph client names a user the way Meta expects: a phone number in `to` / `user_wa_id`, a
 * BSUID or parent BSUID in `recipient` (reference §2.1, §2.6, §2.7). Requests go through an
 * injected `fetch` that records them and answers with Meta's documented bodies.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { ConnectorError } from '../../../src/errors/connector-error.js';
import { WhatsAppGraphClient } from '../../../src/whatsapp/graph-client.js';

const GRAPH = new URL('../../fixtures/whatsapp/graph/', import.meta.url);
const BSUID = 'US.13491208655302741918';
const PARENT = 'US.ENT.11815799212886844830';
const SDP = 'v=0\r\n';

interface Sent {
  url: URL;
  body: unknown;
}

function clientAnswering(fixture: string): { client: WhatsAppGraphClient; sent: Sent[] } {
  const sent: Sent[] = [];
  const answer = readFileSync(new URL(fixture, GRAPH), 'utf8');
  const client = new WhatsAppGraphClient({
    accessToken: 'token',
    fetch: async (input, init) => {
      sent.push({
        url: new URL(String(input)),
        body: typeof init?.body === 'string' ? JSON.parse(init.body) : undefined,
      });
      return new Response(answer, { status: 200 });
    },
  });
  return { client, sent };
}

test('connect to a BSUID sends it in recipient and no to', async () => {
  const { client, sent } = clientAnswering('connect-success.json');
  const { callId } = await client.connectCall({ phoneNumberId: '1', to: BSUID, sdp: SDP });
  assert.match(callId, /^wacid\./);
  const body = sent[0]?.body as Record<string, unknown>;
  assert.equal(body.recipient, BSUID);
  assert.equal('to' in body, false);
  assert.equal(body.action, 'connect');
});

test('connect to a parent BSUID given as recipient sends it unchanged', async () => {
  const { client, sent } = clientAnswering('connect-success.json');
  await client.connectCall({ phoneNumberId: '1', recipient: PARENT, sdp: SDP });
  assert.equal((sent[0]?.body as Record<string, unknown>).recipient, PARENT);
});

test('connect to a phone number still sends to, and both fields go out when both are given', async () => {
  const { client, sent } = clientAnswering('connect-success.json');
  await client.connectCall({ phoneNumberId: '1', to: '+4915112345678', sdp: SDP });
  await client.connectCall({ phoneNumberId: '1', to: '4915112345678', recipient: BSUID, sdp: SDP });
  const [first, second] = sent.map((s) => s.body as Record<string, unknown>);
  assert.equal(first?.to, '+4915112345678');
  assert.equal(first?.recipient, undefined);
  assert.equal(second?.to, '4915112345678');
  assert.equal(second?.recipient, BSUID);
});

test('call permissions of a BSUID are read with recipient=', async () => {
  const { client, sent } = clientAnswering('call-permissions.json');
  await client.getCallPermissions({ phoneNumberId: '1', userWaId: BSUID });
  await client.getCallPermissions({ phoneNumberId: '1', recipient: PARENT });
  await client.getCallPermissions({ phoneNumberId: '1', userWaId: '+1 408 555 1234' });
  assert.deepEqual(
    sent.map((s) => Object.fromEntries(s.url.searchParams)),
    [{ recipient: BSUID }, { recipient: PARENT }, { user_wa_id: '14085551234' }],
  );
});

test('a permission request to a BSUID sends recipient and reports the BSUID Meta echoed', async () => {
  const { client, sent } = clientAnswering('messages-success-bsuid.json');
  const result = await client.sendCallPermissionRequest({ phoneNumberId: '1', to: BSUID });
  const body = sent[0]?.body as Record<string, unknown>;
  assert.equal(body.recipient, BSUID);
  assert.equal('to' in body, false);
  assert.deepEqual(result, {
    messageId: 'wamid.gBGGFlaCmZ9plHrf2Mh-o',
    waId: undefined,
    userId: BSUID,
    parentUserId: undefined,
  });
});

test('a user that is neither a number nor a BSUID is refused before any request', async () => {
  const { client, sent } = clientAnswering('connect-success.json');
  const cases: Promise<unknown>[] = [
    client.connectCall({ phoneNumberId: '1', to: 'ada.lovelace', sdp: SDP }),
    client.connectCall({ phoneNumberId: '1', recipient: '4915112345678', sdp: SDP }),
    client.getCallPermissions({ phoneNumberId: '1', userWaId: '12' }),
    client.getCallPermissions({ phoneNumberId: '1', recipient: '4915112345678' }),
    client.sendCallPermissionRequest({ phoneNumberId: '1', to: '@ada' }),
  ];
  for (const pending of cases) {
    await assert.rejects(pending, (err: unknown) => {
      assert.ok(err instanceof ConnectorError);
      assert.equal(err.code, 'invalid_argument');
      return true;
    });
  }
  assert.equal(sent.length, 0);
});
