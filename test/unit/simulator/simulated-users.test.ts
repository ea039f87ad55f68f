/**
 * Simulated users in Meta's 2026 identity model, and the webhooks the simulator builds for them
 * read back through the connector's parser: the same user comes out as went in, for users with a
 * number and for users who have only a BSUID and a username.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createPhoneNumber } from '../../../src/simulator/simulated-phone-number.js';
import {
  derivedBusinessScopedUserId,
  SimulatedUser,
} from '../../../src/simulator/simulated-user.js';
import {
  callStatusWebhook,
  connectWebhook,
  permissionReplyWebhook,
  terminateWebhook,
  type CallWebhookContext,
} from '../../../src/simulator/webhook-envelopes.js';
import { parseWebhookBody } from '../../../src/whatsapp/webhook-events.js';
import { whatsAppUserIdKind } from '../../../src/whatsapp/whatsapp-user.js';

const number = createPhoneNumber({ id: '106540352242922', displayPhoneNumber: '15550001234' });

test('a phone user gets a stable BSUID of their country, shaped like Meta’s', () => {
  const id = derivedBusinessScopedUserId('4915112345678');
  assert.equal(id, derivedBusinessScopedUserId('4915112345678'));
  assert.notEqual(id, derivedBusinessScopedUserId('4915112345679'));
  assert.match(id, /^DE\.\d{20}$/);
  assert.equal(whatsAppUserIdKind(id), 'bsuid');
  assert.match(derivedBusinessScopedUserId('14085551234'), /^US\./);
  const user = new SimulatedUser({ phoneNumber: '+49 151 12345678' }, 'no_permission');
  assert.equal(user.phoneNumber, '4915112345678');
  assert.equal(user.userId, id);
  assert.equal(user.name, '4915112345678');
});

test('a username-only user is named by BSUID and parent BSUID, not by a number', () => {
  const user = new SimulatedUser(
    {
      userId: 'US.13491208655302741918',
      parentUserId: 'US.ENT.11815799212886844830',
      username: 'ada.lovelace',
    },
    'no_permission',
  );
  assert.equal(user.phoneNumber, undefined);
  assert.equal(user.key, 'US.13491208655302741918');
  assert.equal(user.name, 'ada.lovelace');
  assert.equal(user.isNamedBy('US.13491208655302741918'), true);
  assert.equal(user.isNamedBy('US.ENT.11815799212886844830'), true);
  assert.equal(user.isNamedBy('13491208655302741918'), false);
});

test('identities that break Meta’s formats are refused with a reason', () => {
  const refuse = (identity: ConstructorParameters<typeof SimulatedUser>[0], reason: RegExp) =>
    assert.throws(() => new SimulatedUser(identity, 'no_permission'), reason);
  refuse({}, /phoneNumber or a userId/);
  refuse({ phoneNumber: '123' }, /6-15 digits/);
  refuse({ userId: 'US.ENT.1' }, /BSUID/);
  refuse({ userId: 'US.1', parentUserId: 'US.2' }, /parent BSUID/);
  for (const username of [
    'ab',
    'www.ada',
    '.ada',
    'ada.',
    'ada..l',
    '1234',
    'ada-l',
    'x'.repeat(36),
  ]) {
    refuse({ userId: 'US.1', username }, /username/);
  }
  const user = new SimulatedUser({ userId: 'US.1', username: 'ada_1.l' }, 'no_permission');
  user.adoptUsername('grace');
  assert.equal(user.username, 'grace');
  assert.throws(() => user.adoptUsername('no way'), /username/);
});

function roundTrip(user: SimulatedUser, direction: CallWebhookContext['direction']) {
  const context: CallWebhookContext = { id: 'wacid.X', direction, number, user };
  const payloads = [
    connectWebhook(context, 'v=0\r\n', 1_700_000_000_000),
    terminateWebhook(context, { at: 1_700_000_100_000, status: 'FAILED' }),
    ...(direction === 'BUSINESS_INITIATED'
      ? [callStatusWebhook(context, 'RINGING', 1_700_000_000_000)]
      : []),
    permissionReplyWebhook(
      number,
      user,
      'wamid.Y',
      undefined,
      { response: 'reject', response_source: 'user_action' },
      1_700_000_000_000,
    ),
  ];
  return payloads.map((p) => {
    const { events, problems } = parseWebhookBody(p);
    assert.deepEqual(problems, []);
    const [event] = events;
    assert.ok(event && event.kind !== 'other');
    return { kind: event.kind, user: event.user };
  });
}

test('every webhook of a phone user reads back as their number, BSUID and username', () => {
  const user = new SimulatedUser({ phoneNumber: '4915112345678' }, 'no_permission');
  user.adoptUsername('ada_l');
  for (const direction of ['USER_INITIATED', 'BUSINESS_INITIATED'] as const) {
    for (const { kind, user: parsed } of roundTrip(user, direction)) {
      assert.deepEqual(parsed, {
        phoneNumber: '4915112345678',
        userId: user.userId,
        // Status webhooks carry no contact, hence no username.
        ...(kind === 'call_status' ? {} : { username: 'ada_l' }),
      });
    }
  }
});

test('every webhook of a username-only user reads back as BSUID, parent BSUID and username only', () => {
  const user = new SimulatedUser(
    {
      userId: 'US.13491208655302741918',
      parentUserId: 'US.ENT.11815799212886844830',
      username: 'ada.lovelace',
    },
    'no_permission',
  );
  for (const direction of ['USER_INITIATED', 'BUSINESS_INITIATED'] as const) {
    for (const { user: parsed } of roundTrip(user, direction)) {
      assert.equal(parsed.phoneNumber, undefined);
      assert.equal(parsed.userId, 'US.13491208655302741918');
      assert.equal(parsed.parentUserId, 'US.ENT.11815799212886844830');
    }
  }
});
