import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  endReasonOfDialRefusal,
  endReasonOfTerminate,
} from '../../../src/calls/call-end-reason.js';

test("Meta's terminate webhook is read into an end reason: errors first, then who answered", () => {
  const outbound = { direction: 'outbound' as const, answered: false };
  const answered = { direction: 'inbound' as const, answered: true };
  const ringingInbound = { direction: 'inbound' as const, answered: false };
  const cases: Array<[Parameters<typeof endReasonOfTerminate>, string]> = [
    // Meta's media timeouts (13802x), as in the captured 138021 terminate.
    [[{ status: 'FAILED', errorCodes: [138021] }, answered], 'media_timeout'],
    [[{ status: 'FAILED', errorCodes: [138023] }, answered], 'media_timeout'],
    [[{ status: 'FAILED', errorCodes: [138020] }, answered], 'failed'],
    [[{ status: 'FAILED', errorCodes: [131000] }, outbound], 'failed'],
    // No errors: a dialled call nobody picked up, a caller who gave up, a normal hang-up.
    [[{ status: 'FAILED' }, outbound], 'no_answer'],
    [[{ status: 'FAILED' }, ringingInbound], 'user_hangup'],
    [[{ status: 'COMPLETED' }, answered], 'user_hangup'],
    [[{ status: 'REJECTED' }, outbound], 'rejected'],
    [[{}, { direction: 'outbound', answered: true }], 'user_hangup'],
  ];
  for (const [args, expected] of cases) {
    assert.equal(endReasonOfTerminate(...args), expected, JSON.stringify(args));
  }
});

test("Meta's refusal of a dial says busy or unavailable where it is about the user", () => {
  assert.equal(endReasonOfDialRefusal(138003), 'busy');
  assert.equal(endReasonOfDialRefusal(138001), 'unavailable');
  assert.equal(endReasonOfDialRefusal(138006), 'failed');
  assert.equal(endReasonOfDialRefusal(undefined), 'failed');
});
