import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  renderCallTemplate,
  unknownTemplateVariables,
  type CallTemplateValues,
} from '../../../src/gateway/call-template.js';

const values: CallTemplateValues = {
  caller: '4915112345678',
  callerName: undefined,
  callId: 'wacid.ABC==',
  phoneNumberId: '106540352242922',
  businessNumber: '15550001234',
  bizOpaqueCallbackData: 'crm-42',
  deeplinkPayload: undefined,
  ctaPayload: undefined,
};

test('placeholders are replaced by the call’s values; a missing name falls back to the number', () => {
  assert.equal(
    renderCallTemplate(
      '{callerName} via {businessNumber} ({bizOpaqueCallbackData}) {callId}',
      values,
    ),
    '4915112345678 via 15550001234 (crm-42) wacid.ABC==',
  );
  assert.equal(renderCallTemplate('x{ctaPayload}y', values), 'xy');
});

test('callHash is stable per call and short; random differs every time', () => {
  const a = renderCallTemplate('{callHash}', values);
  assert.match(a, /^[0-9a-f]{12}$/);
  assert.equal(renderCallTemplate('{callHash}', values), a);
  assert.notEqual(renderCallTemplate('{random}', values), renderCallTemplate('{random}', values));
});

test('unknown placeholders are reported', () => {
  assert.deepEqual(unknownTemplateVariables('room-{caller}-{callerNumber}'), ['callerNumber']);
  assert.deepEqual(unknownTemplateVariables('{caller}'), []);
});

test('{callerId} is the BSUID when Meta sent one, else the number; {callerUsername} the username', () => {
  const usernameOnly: CallTemplateValues = {
    ...values,
    caller: undefined,
    callerUserId: 'US.13491208655302741918',
    callerUsername: 'ada.lovelace',
  };
  assert.equal(
    renderCallTemplate('wa-{callerId}/{callerUsername}/{caller}', usernameOnly),
    'wa-US.13491208655302741918/ada.lovelace/',
  );
  // A missing profile name falls back to the username, then to the number or BSUID.
  assert.equal(renderCallTemplate('{callerName}', usernameOnly), 'ada.lovelace');
  assert.equal(
    renderCallTemplate('{callerName}', { ...usernameOnly, callerUsername: undefined }),
    'US.13491208655302741918',
  );
  // Both sent: the BSUID is the stable id (it stays when the user hides the number later).
  assert.equal(
    renderCallTemplate('{callerId}', { ...usernameOnly, caller: '4915112345678' }),
    'US.13491208655302741918',
  );
  assert.equal(renderCallTemplate('{callerId}|{callerUsername}', values), '4915112345678|');
  assert.deepEqual(unknownTemplateVariables('{callerId}{callerUsername}'), []);
});
