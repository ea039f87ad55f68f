import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  AcceptTimeoutError,
  CallEndedError,
  CallOwnerGoneError,
  CapacityError,
  InvalidSdpError,
  NoCallPermissionError,
  PeerUnreachableError,
} from '../../../src/calls/call-errors.js';
import { decodeError, encodeError } from '../../../src/cluster/cluster-error-codec.js';
import { ConnectorError, InvalidArgumentError } from '../../../src/errors/index.js';
import { GraphApiError } from '../../../src/whatsapp/graph-api-error.js';
import { GraphTransportError } from '../../../src/whatsapp/graph-transport-error.js';

/** Through JSON, as between two instances. */
function roundTrip(err: Error): Error {
  return decodeError(JSON.parse(JSON.stringify(encodeError(err))));
}

test('typed errors survive the trip between instances with their class and what decides on them', () => {
  const ended = roundTrip(new CallEndedError('wacid.1', 'rejected'));
  assert.ok(ended instanceof CallEndedError);
  assert.equal(ended.reason, 'rejected');

  const gone = roundTrip(new CallOwnerGoneError('wacid.1', 'node-x'));
  assert.ok(gone instanceof CallOwnerGoneError);
  assert.equal(gone.instanceId, 'node-x');

  const capacity = roundTrip(new CapacityError(4));
  assert.ok(capacity instanceof CapacityError);
  assert.equal(capacity.retryable, true);

  const lost = roundTrip(new PeerUnreachableError('b', 'http://b', true));
  assert.ok(lost instanceof PeerUnreachableError);
  assert.equal(lost.retryable, false, 'a request that may have arrived is not retried elsewhere');

  assert.ok(roundTrip(new AcceptTimeoutError('wacid.1')) instanceof AcceptTimeoutError);
  const sdp = roundTrip(new InvalidSdpError('answer', 'no opus'));
  assert.equal(sdp.message, 'invalid sdp answer: no opus');
  const arg = roundTrip(new InvalidArgumentError('to must be a phone number', 'to'));
  assert.ok(arg instanceof InvalidArgumentError);
  assert.equal(arg.field, 'to');
  const permission = roundTrip(new NoCallPermissionError('1065', 'no_permission', false));
  assert.ok(permission instanceof NoCallPermissionError);
  assert.equal(permission.canSendPermissionRequest, false);
});

test("Meta's errors keep what says whether Meta may have applied the request", () => {
  const refusal = roundTrip(
    new GraphApiError(
      { code: 138006, message: '(#138006) Lack of call permission', fbtrace_id: 'Az1' },
      { status: 401, operation: 'calls.connect', attempts: 1, afterUncertainAttempt: false },
    ),
  );
  assert.ok(refusal instanceof GraphApiError);
  assert.equal(refusal.graphCode, 138006);
  assert.equal(refusal.fbtraceId, 'Az1');
  assert.equal(refusal.outcomeUnknown, false);
  const timeout = roundTrip(
    new GraphTransportError('timeout', 'no answer', {
      operation: 'calls.connect',
      attempts: 1,
      outcomeUnknown: true,
    }),
  );
  assert.ok(timeout instanceof GraphTransportError);
  assert.equal(timeout.outcomeUnknown, true);
  const legacy = roundTrip(new ConnectorError('unavailable', 'room worker exited', { w: '1' }));
  assert.ok(legacy instanceof ConnectorError);
  assert.equal(legacy.code, 'unavailable');
});

test('an unexpected error crosses without its message, which may hold internals', () => {
  const err = roundTrip(new Error('database password=hunter2'));
  assert.ok(!err.message.includes('hunter2'));
});
