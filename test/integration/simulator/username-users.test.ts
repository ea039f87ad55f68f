/**
 * Users who adopted a WhatsApp username and have only a business-scoped user id (BSUID): what the
 * business sees of them in webhooks, how it reaches them through Graph (`recipient`), and how the
 * phone-number fields fail for them (docs/whatsapp-usernames-bsuid.md; Meta's exact error for a
 * misplaced BSUID is UNCONFIRMED, the simulator answers code 100).
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, test } from 'node:test';
import { WhatsAppSimulator } from '../../../src/simulator/index.js';
import { WhatsAppGraphClient } from '../../../src/whatsapp/graph-client.js';
import { GraphApiError } from '../../../src/whatsapp/graph-api-error.js';
import { parseWebhookRawBody } from '../../../src/whatsapp/webhook-events.js';
import type {
  CallConnectWebhook,
  CallStatusWebhook,
  CallTerminateWebhook,
  CallsWebhookValue,
  MessagesWebhookValue,
} from '../../../src/whatsapp/webhook-payloads.js';
import { graph, WebhookReceiver, WeriftBusinessLeg } from './simulator-test-kit.js';

const ADA = {
  userId: 'US.13491208655302741918',
  parentUserId: 'US.ENT.11815799212886844830',
  username: 'ada.lovelace',
};

let sim: WhatsAppSimulator;
let hooks: WebhookReceiver;
let client: WhatsAppGraphClient;

before(async () => {
  hooks = await WebhookReceiver.start('simulator-app-secret');
  sim = await WhatsAppSimulator.start({
    webhookUrl: hooks.url,
    users: [ADA],
    timing: { permissionReplyDelayMs: 20, connectWebhookDelayMs: 10, ringingDelayMs: 10 },
  });
  client = new WhatsAppGraphClient({ baseUrl: sim.graphUrl, accessToken: sim.accessToken });
});

beforeEach(() => {
  hooks.received.splice(0);
});

after(async () => {
  await sim.close();
  await hooks.close();
});

function value<T>(payload: { entry: { changes: { value: unknown }[] }[] }): T {
  return payload.entry[0]?.changes[0]?.value as T;
}

function graphPath(edge: string): string {
  return `/v24.0/${sim.defaultPhoneNumberId}/${edge}`;
}

test('a username-only user who calls is named by BSUID, parent BSUID and username, never by number', async () => {
  const call = await sim.placeUserCall({ from: ADA.userId });
  const connect = await hooks.waitFor('connect', call.id);
  const v = value<CallsWebhookValue>(connect.payload);
  const c = v.calls?.[0] as CallConnectWebhook;
  assert.equal('from' in c, false);
  assert.equal(c.from_user_id, ADA.userId);
  assert.equal(c.from_parent_user_id, ADA.parentUserId);
  assert.equal(c.to, sim.phoneNumbers[0]?.displayPhoneNumber);
  assert.deepEqual(v.contacts, [
    {
      profile: { name: ADA.username, username: ADA.username },
      user_id: ADA.userId,
      parent_user_id: ADA.parentUserId,
    },
  ]);
  // The connector's parser reads them back as one user.
  const parsed = parseWebhookRawBody(connect.raw).events[0];
  assert.equal(parsed?.kind, 'call_connect');
  assert.deepEqual(parsed.kind === 'call_connect' ? parsed.user : undefined, ADA);

  call.hangUp();
  const terminate = await hooks.waitFor('terminate', call.id);
  const t = value<CallsWebhookValue>(terminate.payload).calls?.[0] as CallTerminateWebhook;
  assert.equal('from' in t, false);
  assert.equal(t.from_user_id, ADA.userId);
});

test('the business calls a username-only user by recipient: connect, RINGING, ACCEPTED and terminate name the BSUID only', async () => {
  const ada = sim.findUser(ADA.userId);
  assert.ok(ada);
  ada.setPermission(sim.defaultPhoneNumberId, 'temporary');
  const business = new WeriftBusinessLeg(1000);
  try {
    // The connector's Graph client puts a BSUID given as `to` into `recipient`.
    const { callId } = await client.connectCall({
      phoneNumberId: sim.defaultPhoneNumberId,
      to: ADA.userId,
      sdp: await business.offer(),
    });
    const sent = sim.requestLog.at(-1)?.body as Record<string, unknown>;
    assert.equal(sent.recipient, ADA.userId);
    assert.equal('to' in sent, false);

    const connect = await hooks.waitFor('connect', callId);
    const c = value<CallsWebhookValue>(connect.payload).calls?.[0] as CallConnectWebhook;
    assert.equal('to' in c, false);
    assert.equal(c.to_user_id, ADA.userId);
    assert.equal(c.to_parent_user_id, ADA.parentUserId);
    await business.applyAnswer(c.session.sdp);

    const ringing = await hooks.waitFor('status:RINGING', callId);
    const r = value<CallsWebhookValue>(ringing.payload).statuses?.[0] as CallStatusWebhook;
    assert.equal('recipient_id' in r, false);
    assert.equal(r.recipient_user_id, ADA.userId);
    assert.equal(r.recipient_parent_user_id, ADA.parentUserId);

    const call = sim.call(callId);
    assert.ok(call);
    await call.answer();
    await hooks.waitFor('status:ACCEPTED', callId);
    await client.terminateCall({ phoneNumberId: sim.defaultPhoneNumberId, callId });
    const terminate = await hooks.waitFor('terminate', callId);
    const t = value<CallsWebhookValue>(terminate.payload).calls?.[0] as CallTerminateWebhook;
    assert.equal(t.status, 'COMPLETED');
    assert.equal(t.to_user_id, ADA.userId);
    assert.equal('to' in t, false);
  } finally {
    await business.close();
  }
});

test('call permissions of a username-only user are read by recipient=', async () => {
  sim.findUser(ADA.userId)?.setPermission(sim.defaultPhoneNumberId, 'temporary');
  const permissions = await client.getCallPermissions({
    phoneNumberId: sim.defaultPhoneNumberId,
    userWaId: ADA.userId,
  });
  assert.equal(sim.requestLog.at(-1)?.query.recipient, ADA.userId);
  assert.equal(permissions.status, 'temporary');
  const byParent = await graph(
    sim.graphUrl,
    'GET',
    `${graphPath('call_permissions')}?recipient=${ADA.parentUserId}`,
  );
  assert.equal(byParent.status, 200);
});

test('a permission request by recipient is answered with the BSUID and replied to without a number', async () => {
  const bob = sim.addUser({ userId: 'BR.90876543210987654321', username: 'bob_builder' });
  const sent = await graph(sim.graphUrl, 'POST', graphPath('messages'), {
    messaging_product: 'whatsapp',
    recipient_type: 'individual',
    recipient: bob.userId,
    type: 'interactive',
    interactive: { type: 'call_permission_request', action: { name: 'call_permission_request' } },
  });
  assert.equal(sent.status, 200);
  assert.deepEqual(sent.body.contacts, [{ input: bob.userId, user_id: bob.userId }]);
  const reply = await hooks.waitFor('call_permission_reply');
  const message = value<MessagesWebhookValue>(reply.payload).messages?.[0] as Record<
    string,
    unknown
  >;
  assert.equal('from' in message, false);
  assert.equal(message.from_user_id, bob.userId);
  assert.equal(bob.permission(sim.defaultPhoneNumberId).status, 'temporary');
});

test('phone-number fields refuse a BSUID, recipient refuses a phone number, and an unknown BSUID reaches nobody', async () => {
  const offer = 'v=0\r\n';
  const cases: [string, Promise<{ status: number; body: { error?: Record<string, unknown> } }>][] =
    [
      [
        'connect to: BSUID',
        graph(sim.graphUrl, 'POST', graphPath('calls'), {
          messaging_product: 'whatsapp',
          to: ADA.userId,
          action: 'connect',
          session: { sdp_type: 'offer', sdp: offer },
        }),
      ],
      [
        'call_permissions user_wa_id=BSUID',
        graph(sim.graphUrl, 'GET', `${graphPath('call_permissions')}?user_wa_id=${ADA.userId}`),
      ],
      [
        'messages to: BSUID',
        graph(sim.graphUrl, 'POST', graphPath('messages'), {
          messaging_product: 'whatsapp',
          to: ADA.userId,
          type: 'text',
          text: { body: 'hi' },
        }),
      ],
      [
        'connect recipient: phone number',
        graph(sim.graphUrl, 'POST', graphPath('calls'), {
          messaging_product: 'whatsapp',
          recipient: '4915112345678',
          action: 'connect',
          session: { sdp_type: 'offer', sdp: offer },
        }),
      ],
      [
        'call_permissions recipient=unknown BSUID',
        graph(sim.graphUrl, 'GET', `${graphPath('call_permissions')}?recipient=US.1`),
      ],
    ];
  for (const [name, pending] of cases) {
    const res = await pending;
    assert.equal(res.status, 400, name);
    assert.equal(res.body.error?.code, 100, name);
    assert.match(
      String((res.body.error?.error_data as { details?: string } | undefined)?.details),
      /business-scoped user ID|phone number/,
      name,
    );
  }
  // The same mistake through the connector's client is a GraphApiError with Meta's code.
  await assert.rejects(
    client.getCallPermissions({ phoneNumberId: sim.defaultPhoneNumberId, recipient: 'US.1' }),
    (err: unknown) => err instanceof GraphApiError && err.graphCode === 100,
  );
});

test('to takes precedence over recipient when a request names both', async () => {
  const phoneUser = sim.user('4915112399001');
  phoneUser.setPermission(sim.defaultPhoneNumberId, 'permanent');
  const business = new WeriftBusinessLeg(undefined);
  try {
    const placed = await graph(sim.graphUrl, 'POST', graphPath('calls'), {
      messaging_product: 'whatsapp',
      to: '4915112399001',
      recipient: ADA.userId,
      action: 'connect',
      session: { sdp_type: 'offer', sdp: await business.offer() },
    });
    assert.equal(placed.status, 200, JSON.stringify(placed.body));
    const id = (placed.body.calls as { id: string }[])[0]?.id ?? '';
    assert.equal(sim.call(id)?.user, phoneUser);
    sim.call(id)?.hangUp();
  } finally {
    await business.close();
  }
});
