import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FrameClock } from '../../../src/room/frame-clock.js';

test('ticks repeatedly until stopped, and not after', async () => {
  let ticks = 0;
  const clock = new FrameClock(5, () => ticks++);
  clock.start();
  clock.start(); // second start is a no-op
  await new Promise((r) => setTimeout(r, 60));
  clock.stop();
  const atStop = ticks;
  assert.ok(atStop >= 2, `${atStop} ticks`);
  await new Promise((r) => setTimeout(r, 30));
  assert.equal(ticks, atStop);
  assert.equal(clock.running, false);
});

test('catches up missed ticks after a stall, bounded by maxCatchUpTicks', async () => {
  let ticks = 0;
  const clock = new FrameClock(5, () => ticks++, 3);
  clock.start();
  const until = performance.now() + 60; // block the loop for ~12 intervals
  while (performance.now() < until) {
    // stall
  }
  await new Promise((r) => setTimeout(r, 1));
  clock.stop();
  assert.ok(ticks >= 1 && ticks <= 3 + 1, `${ticks} ticks in the first burst`);
  assert.ok(clock.skippedTicks > 0);
});
