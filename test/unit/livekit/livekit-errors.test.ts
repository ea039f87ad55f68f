import assert from 'node:assert/strict';
import { test } from 'node:test';
import { errorForUpgradeStatus } from '../../../src/livekit/livekit-errors.js';

test('a refused token never ends up in the error: livekit-server echoes it, the message cuts it out', () => {
  const jwt =
    'eyJhbGciOiJIUzI1NiJ9.eyJ2aWRlbyI6eyJyb29tSm9pbiI6dHJ1ZX0sInN1YiI6IngifQ.c2lnbmF0dXJlLXNlY3JldA';
  const err = errorForUpgradeStatus(401, `invalid token: ${jwt}, error: go-jose/go-jose: error`);
  assert.equal(err.reason, 'not-allowed');
  assert.equal(err.httpStatus, 401);
  assert.ok(!err.message.includes('eyJ'), err.message);
  assert.match(err.message, /invalid token: <token>/);
  // A body without a token is kept as the server wrote it.
  assert.match(errorForUpgradeStatus(404, 'room not found').message, /room not found/);
});
