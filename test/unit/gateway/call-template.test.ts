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
