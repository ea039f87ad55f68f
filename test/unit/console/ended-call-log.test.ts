import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { CallSummary } from '../../../src/calls/whatsapp-call.js';
import { EndedCallLog } from '../../../src/console/ended-call-log.js';

function ended(callId: string, endReason: CallSummary['endReason']): CallSummary {
  return {
    callId,
    direction: 'inbound',
    state: 'ended',
    roomName: 'r',
    participantIdentity: 'p',
    phoneNumberId: '1',
    createdAt: 0,
    answeredAt: undefined,
    endedAt: 1,
    endReason,
    durationSeconds: 0,
  };
}

test('ended calls are listed newest first, bounded, one entry per call', () => {
  const log = new EndedCallLog(2);
  log.add(ended('a', 'user_hangup'));
  log.add(ended('b', 'business_hangup'));
  log.add(ended('a', 'user_hangup'));
  assert.deepEqual(
    log.list().map((c) => c.callId),
    ['a', 'b'],
  );
  log.add(ended('c', 'rejected'));
  assert.deepEqual(
    log.list().map((c) => c.callId),
    ['c', 'a'],
  );
});
