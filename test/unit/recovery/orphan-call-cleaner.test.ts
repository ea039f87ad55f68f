import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../../../src/log/index.js';
import { OrphanCallCleaner } from '../../../src/recovery/orphan-call-cleaner.js';
import { openStateStore, TokenSealer, type CallRecord } from '../../../src/store/index.js';
import { GraphApiError } from '../../../src/whatsapp/graph-api-error.js';
import { GraphTransportError } from '../../../src/whatsapp/graph-transport-error.js';

/** The cleaner against a real SQLite store, with Meta and LiveKit played by recording fakes. */

const root = mkdtempSync(join(tmpdir(), 'wac-orphans-'));
after(() => rmSync(root, { recursive: true, force: true }));
const sealer = new TokenSealer('orphan-test-secret-0123456789-abcdef');
let dirs = 0;

function record(callId: string, owner: string, changes: Partial<CallRecord> = {}): CallRecord {
  const now = Date.now();
  return {
    callId,
    phoneNumberId: '111',
    direction: 'inbound',
    apiVersion: '24.0',
    token: { kind: 'configured', phoneNumberId: '111' },
    owner,
    roomName: `room-${callId}`,
    participantIdentity: `wa-${callId}`,
    state: 'active',
    createdAt: now,
    updatedAt: now,
    ...changes,
  };
}

type Answer = 'ok' | 'refused' | 'unreachable';

async function bed(answers: { terminate?: Answer[]; reject?: Answer[] } = {}) {
  const store = await openStateStore({
    stateDir: join(root, String(++dirs)),
    redisUrl: undefined,
    cluster: { keyPrefix: '' },
  });
  const sent: string[] = [];
  const removed: string[] = [];
  const answer = (action: 'terminate' | 'reject', callId: string, token: string) => {
    sent.push(`${action} ${callId} ${token}`);
    const next = answers[action]?.shift() ?? 'ok';
    if (next === 'refused') {
      throw new GraphApiError(
        { code: 138004, message: 'call not found' },
        { status: 400, operation: `calls.${action}`, attempts: 1, afterUncertainAttempt: false },
      );
    }
    if (next === 'unreachable') {
      throw new GraphTransportError('timeout', 'no answer', {
        operation: `calls.${action}`,
        attempts: 3,
        outcomeUnknown: true,
      });
    }
  };
  const held = new Set<string>();
  const make = (mode: 'local' | 'cluster', live: string[] = []) =>
    new OrphanCallCleaner({
      store: store.calls,
      mode,
      self: 'me',
      liveInstances: async () => new Set(['me', ...live]),
      holds: (id) => held.has(id),
      graph: {
        terminateCall: async (r) => answer('terminate', r.callId, r.accessToken ?? ''),
        rejectCall: async (r) => answer('reject', r.callId, r.accessToken ?? ''),
      },
      sealer,
      configuredToken: (id) => (id === '111' ? 'configured-token' : undefined),
      rooms: {
        removeParticipant: async (room, identity) => void removed.push(`${room}/${identity}`),
      },
      intervalMs: 60_000,
      logger: silentLogger,
    });
  return { store, sent, removed, held, make };
}

test('local store: every record a dead process left is terminated at Meta with its token, its participant removed, its record dropped; calls held here are left alone', async () => {
  const b = await bed();
  await b.store.calls.put(record('wacid.a', 'dead-pid-1'));
  await b.store.calls.put(
    record('wacid.b', 'dead-pid-1', {
      token: sealer.reference('wacid.b', '111', 'client-token', 'configured-token'),
    }),
  );
  await b.store.calls.put(record('wacid.mine', 'me'));
  b.held.add('wacid.mine');
  const cleaner = b.make('local');
  await cleaner.scan();
  await cleaner.stop();
  assert.deepEqual(b.sent.sort(), [
    'terminate wacid.a configured-token',
    'terminate wacid.b client-token',
  ]);
  assert.deepEqual(b.removed.sort(), ['room-wacid.a/wa-wacid.a', 'room-wacid.b/wa-wacid.b']);
  assert.equal(await b.store.calls.get('wacid.a'), undefined);
  assert.equal(await b.store.calls.get('wacid.b'), undefined);
  assert.ok(await b.store.calls.get('wacid.mine'), 'a call held here is not an orphan');
  await b.store.close();
});

test('a call Meta never answered (terminate refused) is rejected; one refused both ways had ended already', async () => {
  const b = await bed({ terminate: ['refused', 'refused'], reject: ['ok', 'refused'] });
  await b.store.calls.put(record('wacid.ringing', 'dead'));
  const cleaner = b.make('local');
  await cleaner.scan();
  assert.deepEqual(b.sent, [
    'terminate wacid.ringing configured-token',
    'reject wacid.ringing configured-token',
  ]);
  await b.store.calls.put(record('wacid.gone', 'dead'));
  const next = b.make('local');
  await next.scan();
  await Promise.all([cleaner.stop(), next.stop()]);
  assert.equal(await b.store.calls.get('wacid.gone'), undefined, 'nothing left to end');
  await b.store.close();
});

test('while Meta cannot be reached the record is kept, and the next round ends the call', async () => {
  const b = await bed({ terminate: ['unreachable'] });
  await b.store.calls.put(record('wacid.later', 'dead'));
  const cleaner = b.make('local');
  await cleaner.scan();
  assert.ok(await b.store.calls.get('wacid.later'), 'kept for the next round');
  assert.deepEqual(b.removed, [], 'the participant stays until Meta ended the call');
  await cleaner.scan();
  await cleaner.stop();
  assert.equal(await b.store.calls.get('wacid.later'), undefined);
  assert.deepEqual(b.removed, ['room-wacid.later/wa-wacid.later']);
  assert.equal(b.sent.length, 2);
});

test('cluster: only records of instances that stopped heartbeating are taken over and ended', async () => {
  const b = await bed();
  await b.store.calls.put(record('wacid.peer', 'live-peer'));
  await b.store.calls.put(record('wacid.dead', 'dead-peer'));
  await b.store.calls.put(record('wacid.stale-own', 'me', { updatedAt: Date.now() - 60_000 }));
  await b.store.calls.put(record('wacid.fresh-own', 'me'));
  const cleaner = b.make('cluster', ['live-peer']);
  await cleaner.scan();
  await cleaner.stop();
  assert.deepEqual(b.sent.sort(), [
    'terminate wacid.dead configured-token',
    'terminate wacid.stale-own configured-token',
  ]);
  assert.ok(await b.store.calls.get('wacid.peer'));
  assert.ok(await b.store.calls.get('wacid.fresh-own'));
  await b.store.close();
});
