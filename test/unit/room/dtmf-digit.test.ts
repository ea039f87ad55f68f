import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dtmfCodeOfDigit, dtmfDigitOfCode } from '../../../src/room/dtmf-digit.js';
import { ConnectorError } from '../../../src/errors/connector-error.js';

test('maps DTMF digits to RFC 4733 event codes and back', () => {
  assert.equal(dtmfCodeOfDigit('0'), 0);
  assert.equal(dtmfCodeOfDigit('9'), 9);
  assert.equal(dtmfCodeOfDigit('*'), 10);
  assert.equal(dtmfCodeOfDigit('#'), 11);
  assert.equal(dtmfCodeOfDigit('a'), 12);
  assert.equal(dtmfCodeOfDigit('D'), 15);
  for (let code = 0; code < 16; code++) {
    assert.equal(dtmfCodeOfDigit(dtmfDigitOfCode(code)!), code);
  }
});

test('rejects anything that is not a single DTMF digit', () => {
  for (const bad of ['', '12', 'E', ' ', '+']) {
    assert.throws(
      () => dtmfCodeOfDigit(bad),
      (e: unknown) => e instanceof ConnectorError && e.code === 'invalid_argument',
      bad,
    );
  }
  assert.equal(dtmfDigitOfCode(16), undefined);
  assert.equal(dtmfDigitOfCode(-1), undefined);
});
