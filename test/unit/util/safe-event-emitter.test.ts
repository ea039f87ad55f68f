import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SafeEventEmitter } from '../../../src/util/typed-emitter.js';

interface Events {
  tick: [n: number];
  error: [err: Error];
}

class Ticker extends SafeEventEmitter<Events> {
  tick(n: number): void {
    this.emit('tick', n);
  }
  fail(err: Error): void {
    this.emit('error', err);
  }
}

test('a listener that throws is reported and the other listeners still run', () => {
  const reported: string[] = [];
  const t = new Ticker((event, err) => reported.push(`${event}:${(err as Error).message}`));
  const seen: number[] = [];
  t.on('tick', () => {
    throw new Error('boom');
  });
  t.on('tick', (n) => seen.push(n));
  t.tick(1);
  assert.deepEqual(seen, [1]);
  assert.deepEqual(reported, ['tick:boom']);
});

test('once listeners run once', () => {
  const t = new Ticker();
  let count = 0;
  t.once('tick', () => count++);
  t.tick(1);
  t.tick(2);
  assert.equal(count, 1);
  assert.equal(t.listenerCount('tick'), 0);
});

test('an error event nobody listens to is reported instead of thrown', () => {
  const reported: unknown[] = [];
  const t = new Ticker((_event, err) => reported.push(err));
  const err = new Error('unheard');
  t.fail(err);
  assert.deepEqual(reported, [err]);
});
