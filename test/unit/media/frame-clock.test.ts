import assert from 'node:assert/strict';
import { test } from 'node:test';

import { FrameClock } from '../../../src/media/frame-clock.js';
import { ManualTimers } from './manual-timers.js';

test('ticks once per interval from one interval after start, without drift', () => {
  const timers = new ManualTimers();
  const at: number[] = [];
  const clock = new FrameClock({ onTick: () => at.push(timers.now()), timers });
  clock.start();
  clock.start(); // a second start is a no-op
  timers.advance(19);
  assert.deepEqual(at, []);
  timers.advance(1000 - 19);
  assert.equal(at.length, 50);
  assert.deepEqual(at.slice(0, 3), [20, 40, 60]);
  assert.equal(clock.ticks, 50);
  assert.equal(clock.resyncs, 0);
});

test('catches up a short stall in one burst and re-bases after a long one', () => {
  const timers = new ManualTimers();
  let ticks = 0;
  let stallMs = 0;
  const clock = new FrameClock({
    timers,
    onTick: () => {
      ticks++;
      // The event loop is blocked inside this tick.
      timers.block(stallMs);
      stallMs = 0;
    },
  });
  clock.start();
  timers.advance(20);
  assert.equal(ticks, 1);
  stallMs = 70; // 3.5 intervals: caught up
  timers.advance(20);
  assert.equal(ticks, 2 + 3, 'three missed ticks run back to back');
  assert.equal(clock.resyncs, 0);
  stallMs = 500; // 25 intervals: beyond the 5-tick allowance
  timers.advance(40);
  assert.equal(clock.resyncs, 1);
  assert.ok(clock.skippedTicks >= 19, `${clock.skippedTicks} skipped`);
  const before = ticks;
  timers.advance(100);
  assert.equal(ticks - before, 5, 'steady again after the re-base');
});

test('stop() inside a tick ends the clock; a throwing tick is reported and the clock goes on', () => {
  const timers = new ManualTimers();
  const errors: unknown[] = [];
  let ticks = 0;
  const clock = new FrameClock({
    timers,
    onTick: () => {
      ticks++;
      if (ticks === 2) throw new Error('listener bug');
      if (ticks === 4) clock.stop();
    },
    onError: (err) => errors.push(err),
  });
  clock.start();
  timers.advance(1000);
  assert.equal(ticks, 4);
  assert.equal(clock.tickErrors, 1);
  assert.equal((errors[0] as Error).message, 'listener bug');
  assert.equal(clock.running, false);
  assert.equal(timers.pendingCount, 0, 'no timer left behind');
});
