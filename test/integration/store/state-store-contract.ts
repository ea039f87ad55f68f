import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  QueueFullError,
  type CallRecord,
  type QueueEntry,
  type StateStore,
} from '../../../src/store/index.js';

/**
 * The behaviour every state store implementation must have, run against each real one (SQLite
 * file, Redis server). Times are real and short: Redis measures lease idleness itself.
 */
export function describeStateStoreContract(
  kind: string,
  open: () => Promise<StateStore>,
  cleanup: () => Promise<void> = async () => undefined,
): void {
  describe(`${kind} state store`, () => {
    let store: StateStore;
    let seq = 0;
    const unique = (p: string) => `${p}-${process.pid}-${++seq}`;

    before(async () => {
      store = await open();
    });
    after(async () => {
      await store?.close();
      await cleanup();
    });

    const record = (overrides: Partial<CallRecord> = {}): CallRecord => ({
      callId: unique('wacid.test'),
      phoneNumberId: '106540352242922',
      direction: 'inbound',
      apiVersion: '24.0',
      token: { kind: 'configured', phoneNumberId: '106540352242922' },
      owner: 'instance-a',
      roomName: 'support-4915112345678',
      participantIdentity: 'whatsapp_4915112345678',
      state: 'ringing',
      createdAt: 1_000,
      updatedAt: 1_000,
      ...overrides,
    });

    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

    describe('call records', () => {
      it('a record put is read back whole, and a second put replaces it', async () => {
        const r = record({ token: { kind: 'sealed', sealed: 'v1.abc' }, direction: 'outbound' });
        await store.calls.put(r);
        assert.deepEqual(await store.calls.get(r.callId), r);
        await store.calls.put({ ...r, state: 'active', owner: 'instance-b' });
        const again = await store.calls.get(r.callId);
        assert.equal(again?.state, 'active');
        assert.equal(again?.owner, 'instance-b');
        assert.deepEqual(
          (await store.calls.listByOwner('instance-a')).filter((c) => c.callId === r.callId),
          [],
        );
        assert.equal(await store.calls.get('wacid.never-put'), undefined);
      });

      it('update changes the given fields and the time, and answers false for an unknown call', async () => {
        const r = record();
        await store.calls.put(r);
        assert.equal(
          await store.calls.update(r.callId, { state: 'ending', roomName: 'other-room' }),
          true,
        );
        const updated = await store.calls.get(r.callId);
        assert.equal(updated?.state, 'ending');
        assert.equal(updated?.roomName, 'other-room');
        assert.equal(updated?.participantIdentity, r.participantIdentity);
        assert.ok((updated?.updatedAt ?? 0) > r.updatedAt);
        assert.equal(await store.calls.update('wacid.unknown', { state: 'active' }), false);
        assert.equal(await store.calls.get('wacid.unknown'), undefined);
      });

      it('records are listed by owner, oldest first, and owners without records disappear', async () => {
        const owner = unique('owner');
        const older = record({ owner, createdAt: 10 });
        const newer = record({ owner, createdAt: 20 });
        await store.calls.put(newer);
        await store.calls.put(older);
        await store.calls.put(record({ owner: unique('someone-else') }));
        assert.deepEqual(
          (await store.calls.listByOwner(owner)).map((c) => c.callId),
          [older.callId, newer.callId],
        );
        assert.ok((await store.calls.owners()).includes(owner));
        await store.calls.remove(older.callId);
        await store.calls.remove(newer.callId);
        await store.calls.remove(newer.callId);
        assert.deepEqual(await store.calls.listByOwner(owner), []);
        assert.ok(!(await store.calls.owners()).includes(owner));
      });

      it('of several instances taking over a call at once, exactly one wins', async () => {
        const dead = unique('dead-instance');
        const r = record({ owner: dead });
        await store.calls.put(r);
        const survivors = ['s1', 's2', 's3', 's4', 's5'].map(unique);
        const results = await Promise.all(
          survivors.map((s) => store.calls.transfer(r.callId, dead, s)),
        );
        assert.equal(results.filter(Boolean).length, 1);
        const winner = survivors[results.indexOf(true)]!;
        assert.equal((await store.calls.get(r.callId))?.owner, winner);
        assert.deepEqual(
          (await store.calls.listByOwner(winner)).map((c) => c.callId),
          [r.callId],
        );
        assert.deepEqual(await store.calls.listByOwner(dead), []);
        assert.equal(await store.calls.transfer('wacid.unknown', dead, winner), false);
      });
    });

    describe('durable queue', () => {
      const policy = {
        capacity: 5,
        maxAttempts: 3,
        initialBackoffMs: 150,
        maxBackoffMs: 300,
        leaseMs: 400,
        deadLetterCapacity: 3,
      };
      const drain = async (name: string) => {
        const q = store.queue(name, policy);
        for (;;) {
          const batch = await q.claim('drainer', 100);
          if (batch.length === 0) return;
          for (const e of batch) await q.ack(e);
        }
      };

      it('an entry comes back byte for byte and is gone once acknowledged', async () => {
        const q = store.queue(unique('q'), policy);
        const payload = Buffer.from([0x7b, 0x00, 0xff, 0xfe, 0x22, 0xe2, 0x82, 0xac, 0x7d]);
        await q.enqueue(payload);
        await q.enqueue('{"second":true}');
        assert.deepEqual(await q.sizes(), { ready: 2, inFlight: 0, delayed: 0, dead: 0 });
        const [first, second] = await q.claim('worker-1', 10);
        assert.ok(first && second);
        assert.deepEqual(first.payload, payload);
        assert.equal(second.payload.toString(), '{"second":true}');
        assert.equal(first.attempts, 1);
        assert.equal(first.consumer, 'worker-1');
        assert.ok(first.enqueuedAt > 0);
        assert.deepEqual(await q.sizes(), { ready: 0, inFlight: 2, delayed: 0, dead: 0 });
        await q.ack(first);
        await q.ack(second);
        assert.deepEqual(await q.sizes(), { ready: 0, inFlight: 0, delayed: 0, dead: 0 });
        assert.deepEqual(await q.claim('worker-1'), []);
      });

      it('a claimed entry is not delivered twice while its lease runs, and is again after', async () => {
        const q = store.queue(unique('q'), policy);
        await q.enqueue('leased');
        const [first] = await q.claim('worker-1');
        assert.ok(first);
        assert.deepEqual(await q.claim('worker-2'), []);
        await sleep(policy.leaseMs + 150);
        const [again] = await q.claim('worker-2');
        assert.equal(again?.payload.toString(), 'leased');
        assert.equal(again?.attempts, 2);
        assert.equal(again?.consumer, 'worker-2');
        // The first consumer, late, cannot reschedule what another one now holds.
        await q.retry(first, 'too late');
        assert.deepEqual(await q.sizes(), { ready: 0, inFlight: 1, delayed: 0, dead: 0 });
        await q.ack(again!);
        assert.deepEqual(await q.sizes(), { ready: 0, inFlight: 0, delayed: 0, dead: 0 });
      });

      it('a retried entry waits out its backoff, carries its error, and is dead-lettered after the last attempt', async () => {
        const q = store.queue(unique('q'), policy);
        await q.enqueue('flaky');
        let entry: QueueEntry | undefined = (await q.claim('w'))[0];
        assert.equal(await q.retry(entry!, 'HTTP 503'), 'scheduled');
        assert.deepEqual(await q.sizes(), { ready: 0, inFlight: 0, delayed: 1, dead: 0 });
        assert.deepEqual(await q.claim('w'), [], 'not before the backoff');
        await sleep(policy.initialBackoffMs + 100);
        entry = (await q.claim('w'))[0];
        assert.equal(entry?.attempts, 2);
        assert.equal(entry?.lastError, 'HTTP 503');
        assert.equal(entry?.payload.toString(), 'flaky');
        assert.equal(await q.retry(entry!, 'HTTP 502'), 'scheduled');
        await sleep(policy.maxBackoffMs + 100);
        entry = (await q.claim('w'))[0];
        assert.equal(entry?.attempts, 3);
        assert.equal(await q.retry(entry!, 'HTTP 500'), 'dead');
        assert.deepEqual(await q.sizes(), { ready: 0, inFlight: 0, delayed: 0, dead: 1 });
        const [dead] = await q.deadLetters();
        assert.equal(dead?.payload.toString(), 'flaky');
        assert.equal(dead?.attempts, 3);
        assert.match(dead?.reason ?? '', /gave up after 3 attempts: HTTP 500/);
        assert.ok((dead?.failedAt ?? 0) >= (dead?.enqueuedAt ?? Infinity));
      });

      it('an entry whose consumer keeps dying is dead-lettered after the last attempt', async () => {
        const q = store.queue(unique('q'), policy);
        await q.enqueue('poison');
        for (let attempt = 1; attempt <= policy.maxAttempts; attempt++) {
          const [e] = await q.claim(`worker-${attempt}`);
          assert.equal(e?.attempts, attempt);
          // The consumer "crashes": it never settles the entry.
          await sleep(policy.leaseMs + 150);
        }
        assert.deepEqual(await q.claim('worker-last'), []);
        const [dead] = await q.deadLetters();
        assert.equal(dead?.payload.toString(), 'poison');
        assert.match(dead?.reason ?? '', /abandoned/);
        assert.equal((await q.sizes()).dead, 1);
      });

      it('a full queue refuses new entries with a retryable error until one is done', async () => {
        const q = store.queue(unique('q'), policy);
        for (let i = 0; i < policy.capacity; i++) await q.enqueue(`e${i}`);
        await assert.rejects(
          q.enqueue('one too many'),
          (err: unknown) => err instanceof QueueFullError && err.retryable && err.capacity === 5,
        );
        // In-flight and delayed entries count too: they are still held.
        const [e] = await q.claim('w', 1);
        await q.retry(e!, 'later');
        await assert.rejects(q.enqueue('still full'), QueueFullError);
        const [done] = await q.claim('w', 1);
        await q.ack(done!);
        await q.enqueue('fits again');
      });

      it('dead letters are kept up to their cap, newest first', async () => {
        const q = store.queue(unique('q'), policy);
        for (let i = 1; i <= 5; i++) {
          await q.enqueue(`d${i}`);
          const [e] = await q.claim('w');
          await q.deadLetter(e!, `reason ${i}`);
        }
        const dead = await q.deadLetters();
        assert.deepEqual(
          dead.map((d) => d.payload.toString()),
          ['d5', 'd4', 'd3'],
        );
        assert.equal(dead[0]?.reason, 'reason 5');
        assert.equal((await q.sizes()).dead, 3);
        assert.deepEqual(await q.sizes(), { ready: 0, inFlight: 0, delayed: 0, dead: 3 });
      });

      it('dead letters can be put back for a fresh round of attempts, or dropped, one or all', async () => {
        const q = store.queue(unique('q'), policy);
        for (const p of ['x1', 'x2', 'x3']) {
          await q.enqueue(p);
          const [e] = await q.claim('w');
          await q.deadLetter(e!, 'HTTP 500');
        }
        const [newest, middle] = await q.deadLetters();
        assert.equal(await q.requeueDead([newest!.id, 'no-such-id-0']), 1);
        const [again] = await q.claim('w');
        assert.equal(again?.payload.toString(), 'x3');
        assert.equal(again?.attempts, 1, 'attempts start over');
        assert.match(again?.lastError ?? '', /requeued from dead letters: HTTP 500/);
        await q.ack(again!);
        assert.equal(await q.dropDead([middle!.id]), 1);
        assert.deepEqual(
          (await q.deadLetters()).map((d) => d.payload.toString()),
          ['x1'],
        );
        assert.equal(await q.requeueDead(), 1);
        assert.equal((await q.sizes()).dead, 0);
        const [last] = await q.claim('w');
        assert.equal(last?.payload.toString(), 'x1');
        await q.deadLetter(last!, 'again');
        assert.equal(await q.dropDead(), 1);
        assert.deepEqual(await q.sizes(), { ready: 0, inFlight: 0, delayed: 0, dead: 0 });
      });

      it('queues of different names are independent, and one name is one queue', async () => {
        const a = unique('qa');
        const b = unique('qb');
        await store.queue(a, policy).enqueue('for a');
        assert.deepEqual(await store.queue(b, policy).claim('w'), []);
        assert.equal(store.queue(a), store.queue(a));
        const [e] = await store.queue(a).claim('w');
        assert.equal(e?.payload.toString(), 'for a');
        await store.queue(a).ack(e!);
        await drain(a);
      });
    });
  });
}
