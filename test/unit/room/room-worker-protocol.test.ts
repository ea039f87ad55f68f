import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConnectorError } from '../../../src/errors/connector-error.js';
import { deserializeError, serializeError } from '../../../src/room/room-worker-protocol.js';

/** Errors cross the process boundary as JSON. */
function roundTrip(err: unknown): Error {
  return deserializeError(JSON.parse(JSON.stringify(serializeError(err))));
}

test('a ConnectorError from a worker comes back as a ConnectorError with its code and meta', () => {
  const back = roundTrip(
    new ConnectorError('unavailable', 'could not join the LiveKit room', { reason: 'refused' }),
  );
  assert.ok(back instanceof ConnectorError);
  assert.equal(back.code, 'unavailable');
  assert.equal(back.message, 'could not join the LiveKit room');
  assert.deepEqual(back.meta, { reason: 'refused' });
});

test('other errors come back as plain errors with name and message, never as ConnectorErrors', () => {
  const err = new TypeError('boom');
  const back = roundTrip(err);
  assert.ok(!(back instanceof ConnectorError));
  assert.equal(back.name, 'TypeError');
  assert.equal(back.message, 'boom');
  assert.equal(roundTrip('text').message, 'text');
});

test('an unknown code from the wire does not become a ConnectorError', () => {
  const back = deserializeError({ name: 'ConnectorError', message: 'x', code: 'no_such_code' });
  assert.ok(!(back instanceof ConnectorError));
});
