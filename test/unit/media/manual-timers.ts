import type { ClockTimers } from '../../../src/media/frame-clock.js';

/**
 * A fake {@link ClockTimers} for tests: time moves only through {@link ManualTimers.advance},
 * which fires due timers in deadline order.
 */
export class ManualTimers implements ClockTimers {
  private time = 0;
  private nextId = 1;
  private readonly pending = new Map<number, { at: number; callback: () => void }>();

  now(): number {
    return this.time;
  }

  setTimeout(callback: () => void, ms: number): unknown {
    const id = this.nextId++;
    this.pending.set(id, { at: this.time + Math.max(0, ms), callback });
    return id;
  }

  clearTimeout(handle: unknown): void {
    this.pending.delete(handle as number);
  }

  /** Moves time forward by `ms`, firing every timer that falls due on the way. */
  advance(ms: number): void {
    const end = this.time + ms;
    for (;;) {
      let nextId: number | undefined;
      let nextAt = Infinity;
      for (const [id, t] of this.pending) {
        if (t.at < nextAt) {
          nextAt = t.at;
          nextId = id;
        }
      }
      if (nextId === undefined || nextAt > end) break;
      const timer = this.pending.get(nextId);
      this.pending.delete(nextId);
      this.time = Math.max(this.time, nextAt);
      timer?.callback();
    }
    this.time = Math.max(this.time, end);
  }

  /** Moves time forward by `ms` without firing anything: the event loop is blocked. */
  block(ms: number): void {
    this.time += ms;
  }

  /** Timers waiting to fire. */
  get pendingCount(): number {
    return this.pending.size;
  }
}
