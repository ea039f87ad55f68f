import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  parseWhatsAppUser,
  validateAcceptParams,
  validateDialParams,
} from '../../../src/calls/call-params-validation.js';
import { InvalidArgumentError } from '../../../src/errors/index.js';
import { acceptParams, dialParams } from './call-fakes.js';

test('a WhatsApp user is a phone number with country code, a BSUID or a parent BSUID', () => {
  assert.deepEqual(parseWhatsAppUser('+1 555-123-0002'), { phoneNumber: '15551230002' });
  assert.deepEqual(parseWhatsAppUser('US.ENT.11815799212886844830'), {
    parentUserId: 'US.ENT.11815799212886844830',
  });
  assert.deepEqual(parseWhatsAppUser('4915100000001'), { phoneNumber: '4915100000001' });
  assert.deepEqual(parseWhatsAppUser('US.13491208655302741918'), {
    userId: 'US.13491208655302741918',
  });
  for (const bad of ['', 'call me', '12', 'U.1349', '+', '1'.repeat(16), 'US.']) {
    assert.throws(
      () => parseWhatsAppUser(bad, 'to'),
      (err: unknown) => {
        assert.ok(err instanceof InvalidArgumentError);
        assert.equal(err.field, 'to');
        return true;
      },
    );
  }
});

test('dial parameters are checked in full: user, room, attributes, country, opaque data, timeout', () => {
  validateDialParams(dialParams());
  const participant = dialParams().participant;
  const bad = [
    dialParams({ to: { phoneNumber: '+15551230002' } }),
    dialParams({ meta: { ...dialParams().meta, accessToken: '' } }),
    dialParams({ participant: { ...participant, identity: ' ' } }),
    dialParams({ participant: { ...participant, attributes: { '': 'x' } } }),
    dialParams({ destinationCountry: 'de' }),
    dialParams({ bizOpaqueCallbackData: 'x'.repeat(513) }),
    dialParams({ ringingTimeoutMs: 0 }),
  ];
  for (const params of bad) {
    assert.throws(() => validateDialParams(params), InvalidArgumentError, JSON.stringify(params));
  }
});

test('accept parameters need the call id and the offer', () => {
  validateAcceptParams(acceptParams());
  assert.throws(() => validateAcceptParams(acceptParams({ callId: '' })), InvalidArgumentError);
  assert.throws(() => validateAcceptParams(acceptParams({ offerSdp: '' })), InvalidArgumentError);
});
