import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildCallAttributes, CALL_ATTRIBUTE } from '../../../src/room/call-attributes.js';
import { InvalidArgumentError } from '../../../src/errors/service-error.js';

test('builds whatsapp.* attributes from the call state', () => {
  assert.deepEqual(
    buildCallAttributes({
      callStatus: 'active',
      callId: 'wacid.X',
      phoneNumber: '+15551234567',
      direction: 'outbound',
      destinationCountry: 'gb',
    }),
    {
      'whatsapp.callStatus': 'active',
      'whatsapp.callId': 'wacid.X',
      'whatsapp.phoneNumber': '15551234567',
      'whatsapp.direction': 'outbound',
      'whatsapp.destinationCountry': 'GB',
    },
  );
});

test('a status update carries only the status, so earlier attributes are kept', () => {
  assert.deepEqual(buildCallAttributes({ callStatus: 'hangup' }), {
    [CALL_ATTRIBUTE.callStatus]: 'hangup',
  });
});

test('the phone number can be left out for privacy', () => {
  const attrs = buildCallAttributes({
    callStatus: 'ringing',
    phoneNumber: '15551234567',
    includePhoneNumber: false,
  });
  assert.equal(attrs[CALL_ATTRIBUTE.phoneNumber], undefined);
});

test('invalid values are rejected as invalid arguments', () => {
  const invalid = (e: unknown) => e instanceof InvalidArgumentError;
  assert.throws(() => buildCallAttributes({ callStatus: 'busy' as never }), invalid);
  assert.throws(
    () => buildCallAttributes({ callStatus: 'active', phoneNumber: 'call me' }),
    invalid,
  );
  assert.throws(
    () => buildCallAttributes({ callStatus: 'active', destinationCountry: 'USA' }),
    invalid,
  );
  assert.throws(
    () => buildCallAttributes({ callStatus: 'active', direction: 'sideways' as never }),
    invalid,
  );
  assert.throws(
    () => buildCallAttributes({ callStatus: 'active', endReason: 'rejected' }),
    invalid,
  );
});

test('a hang-up says why the call ended; a BSUID user is named by user id', () => {
  assert.deepEqual(
    buildCallAttributes({
      callStatus: 'hangup',
      endReason: 'no_answer',
      userId: 'US.13491208655302741918',
    }),
    {
      [CALL_ATTRIBUTE.callStatus]: 'hangup',
      [CALL_ATTRIBUTE.endReason]: 'no_answer',
      [CALL_ATTRIBUTE.userId]: 'US.13491208655302741918',
    },
  );
});
