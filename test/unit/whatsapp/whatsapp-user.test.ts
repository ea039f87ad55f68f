import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  graphUserField,
  isBusinessScopedUserId,
  isWhatsAppPhoneNumber,
  whatsAppUserIdKind,
  whatsAppUserKey,
} from '../../../src/whatsapp/whatsapp-user.js';

test("Meta's example BSUID and parent BSUID are told apart from each other and from numbers", () => {
  assert.equal(whatsAppUserIdKind('US.13491208655302741918'), 'bsuid');
  assert.equal(whatsAppUserIdKind('US.ENT.11815799212886844830'), 'parent_bsuid');
  assert.equal(whatsAppUserIdKind('4915112345678'), 'phone_number');
  assert.equal(whatsAppUserIdKind('+1 (408) 555-1234'), 'phone_number');
  assert.equal(isBusinessScopedUserId('US.ENT.11815799212886844830'), true);
  assert.equal(isWhatsAppPhoneNumber('US.13491208655302741918'), false);
});

test('BSUID bodies are alphanumeric, at most 128 characters, after a two-letter country', () => {
  assert.equal(whatsAppUserIdKind(`BR.${'a1'.repeat(64)}`), 'bsuid');
  assert.equal(whatsAppUserIdKind(`BR.${'a1'.repeat(64)}9`), undefined);
  assert.equal(whatsAppUserIdKind('PE.2290670648352185'), 'bsuid');
  for (const bad of ['USA.123', 'U.123', '1S.123', 'US.', 'US.12-34', 'US..1', 'US.ENT.', '']) {
    assert.equal(whatsAppUserIdKind(bad), undefined, bad);
  }
});

test('phone numbers need 6 to 15 digits and nothing but separators', () => {
  assert.equal(whatsAppUserIdKind('12345'), undefined);
  assert.equal(whatsAppUserIdKind('1234567890123456'), undefined);
  assert.equal(whatsAppUserIdKind('1-800-FLOWERS'), undefined);
  assert.equal(whatsAppUserIdKind('++4915112345678'), undefined);
  assert.equal(whatsAppUserIdKind('1.408.555.1234'), 'phone_number');
});

test('a BSUID is sent in recipient untouched, a phone number in to', () => {
  assert.deepEqual(graphUserField(' US.13491208655302741918 '), {
    field: 'recipient',
    value: 'US.13491208655302741918',
  });
  assert.deepEqual(graphUserField('US.ENT.11815799212886844830'), {
    field: 'recipient',
    value: 'US.ENT.11815799212886844830',
  });
  assert.deepEqual(graphUserField('+4915112345678'), { field: 'to', value: '+4915112345678' });
  assert.equal(graphUserField('nobody'), undefined);
});

test('a user is keyed by phone number, else BSUID, else parent BSUID', () => {
  assert.equal(whatsAppUserKey({ phoneNumber: '1555', userId: 'US.1' }), '1555');
  assert.equal(whatsAppUserKey({ userId: 'US.1', parentUserId: 'US.ENT.1' }), 'US.1');
  assert.equal(whatsAppUserKey({ parentUserId: 'US.ENT.1' }), 'US.ENT.1');
  assert.equal(whatsAppUserKey({ username: 'ada' }), undefined);
});
