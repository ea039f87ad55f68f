import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  QueueConsumer,
  openStateStore,
  type DeliveryOutcome,
  type StateStore,
} from '../../../src/store/index.js';

const root = mkdtempSync(join(tmpdir(), 'wac-consumer-'));
const stores: StateStore[] = [];
after(async () => {
  for (const s of stores) await s.close();
  rmSync(root, { recursive: true, force: true });
});

async function store(): Promise<StateStore> {
  const s = await openStateStore({
    stateDir: join(root, String(stores.length)),
    redisUrl: undefined,
    cluster: { keyPrefix: '' },
  });
  stores.push(s);
  return s;
}

const policy = { maxAttempts: 3, initialBackoffMs: 30, maxBackoffMs: 60, leaseMs: 5000 };

async function until(check: () => boolean | Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

test('a consumer processes every entry once, at most `concurrency` at a time', async () => {
  const queue = (await store()).queue('forwards', policy);
  for (let i = 0; i < 20; i++) await queue.enqueue(`e${i}`);
  const seen: string[] = [];
  let running = 0;
  let peak = 0;
  const consumer = new QueueConsumer({
    queue,
    consumer: 'instance-a',
    concurrency: 3,
    idlePollMs: 20,
    async handle(entry) {
      running++;
      peak = Math.max(peak, running);
      await new Promise((r) => setTimeout(r, 5));
      seen.push(entry.payload.toString());
      running--;
    },
  });
  consumer.start();
  await until(() => seen.length === 20, 'all entries');
  await consumer.stop();
  assert.equal(new Set(seen).size, 20);
  assert.ok(peak <= 3 && peak >= 2, `peak ${peak}`);
  assert.deepEqual(await queue.sizes(), { ready: 0, inFlight: 0, delayed: 0, dead: 0 });
});

test('a failing handler is retried with backoff, then dead-lettered; a final error goes at once', async () => {
  const queue = (await store()).queue('forwards', policy);
  await queue.enqueue('always-503');
  await queue.enqueue('bad-request');
  const outcomes: [DeliveryOutcome, string, number][] = [];
  const consumer = new QueueConsumer({
    queue,
    consumer: 'instance-a',
    idlePollMs: 10,
    async handle(entry) {
      if (entry.payload.toString() === 'bad-request') {
        throw Object.assign(new Error('HTTP 400'), { retryable: false });
      }
      throw new Error('HTTP 503');
    },
    onOutcome: (outcome, entry) =>
      outcomes.push([outcome, entry.payload.toString(), entry.attempts]),
  });
  consumer.start();
  await until(async () => (await queue.sizes()).dead === 2, 'both dead-lettered');
  await consumer.stop();
  assert.deepEqual(
    outcomes.filter(([, p]) => p === 'always-503'),
    [
      ['retried', 'always-503', 1],
      ['retried', 'always-503', 2],
      ['dead', 'always-503', 3],
    ],
  );
  assert.deepEqual(
    outcomes.filter(([, p]) => p === 'bad-request'),
    [['dead', 'bad-request', 1]],
  );
  const reasons = (await queue.deadLetters()).map((d) => d.reason).sort();
  assert.deepEqual(reasons, ['HTTP 400', 'gave up after 3 attempts: HTTP 503']);
});

test('wake() delivers a new entry without waiting for the idle poll; stop() waits for running handlers', async () => {
  const queue = (await store()).queue('webhooks', policy);
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const done: string[] = [];
  const consumer = new QueueConsumer({
    queue,
    consumer: 'instance-a',
    idlePollMs: 60_000,
    async handle(entry) {
      await gate;
      done.push(entry.payload.toString());
    },
  });
  consumer.start();
  await new Promise((r) => setTimeout(r, 50));
  await queue.enqueue('urgent');
  consumer.wake();
  await until(() => consumer.busy === 1, 'the handler to start');
  const stopping = consumer.stop();
  let stopped = false;
  void stopping.then(() => (stopped = true));
  await new Promise((r) => setTimeout(r, 30));
  assert.equal(stopped, false, 'stop waits for the running handler');
  release();
  await stopping;
  assert.deepEqual(done, ['urgent']);
  // Stopped: a later entry stays queued.
  await queue.enqueue('later');
  consumer.wake();
  await new Promise((r) => setTimeout(r, 50));
  assert.equal((await queue.sizes()).ready, 1);
});

test('stop() gives up on a handler that hangs after its deadline; its entry stays leased', async () => {
  const queue = (await store()).queue('webhooks', policy);
  await queue.enqueue('hangs');
  const consumer = new QueueConsumer({
    queue,
    consumer: 'instance-a',
    idlePollMs: 10,
    handle: () => new Promise(() => undefined),
  });
  consumer.start();
  await until(() => consumer.busy === 1, 'the handler to start');
  const started = Date.now();
  await consumer.stop(100);
  assert.ok(Date.now() - started < 2000);
  assert.deepEqual(await queue.sizes(), { ready: 0, inFlight: 1, delayed: 0, dead: 0 });
});
