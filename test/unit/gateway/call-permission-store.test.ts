import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CallPermissionStore } from '../../../src/gateway/call-permission-store.js';
import type { CallPermissionReplyEvent } from '../../../src/whatsapp/webhook-events.js';
import type { WhatsAppUser } from '../../../src/whatsapp/whatsapp-user.js';

const NUMBER = '106540352242922';

function reply(user: WhatsAppUser, repliedAt: number, response: 'accept' | 'reject' = 'accept') {
  return {
    kind: 'call_permission_reply',
    phoneNumberId: NUMBER,
    messageId: `wamid.${repliedAt}`,
    from: user.phoneNumber,
    fromUserId: user.userId,
    user,
    response,
    isPermanent: false,
    expirationTimestamp: undefined,
    responseSource: 'user_action',
    contextId: undefined,
    callId: undefined,
    timestamp: repliedAt,
  } as unknown as CallPermissionReplyEvent;
}

test('a reply from a user with only a BSUID is recorded and found by that BSUID', () => {
  const store = new CallPermissionStore();
  const recorded = store.record(reply({ userId: 'US.13491208655302741918', username: 'ada' }, 100));
  assert.equal(recorded?.waId, undefined);
  assert.equal(recorded?.userId, 'US.13491208655302741918');
  assert.equal(store.get(NUMBER, 'US.13491208655302741918')?.response, 'accept');
  assert.equal(store.get(NUMBER, '4915112345678'), undefined);
  assert.equal(store.list().length, 1);
});

test('a user named by number and BSUID is found by either; a newer reply replaces an older one', () => {
  const store = new CallPermissionStore();
  const both = { phoneNumber: '4915112345678', userId: 'DE.7700112233' };
  store.record(reply(both, 200));
  store.record(reply(both, 300, 'reject'));
  store.record(reply(both, 250));
  assert.equal(store.get(NUMBER, '+49 151 12345678')?.response, 'reject');
  assert.equal(store.get(NUMBER, 'DE.7700112233')?.response, 'reject');
  assert.equal(store.list().length, 1);
});

test('a reply naming nobody is not recorded', () => {
  const store = new CallPermissionStore();
  assert.equal(store.record(reply({}, 1)), undefined);
});
