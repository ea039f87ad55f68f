/**
 * The one 20 ms frame clock of the media stages and the simulator: calls `onTick` once per frame
 * interval on average. Each timeout is set for the next deadline, computed from the previous
 * deadline rather than from when the timer fired, so timer lateness does not accumulate as drift
 * the way `setInterval` does. After an event-loop stall the missed ticks are run back to back, at
 * most `maxCatchUpTicks` of them; beyond that the clock re-bases on the present instead of
 * flooding its consumer with a burst (counted in {@link FrameClock.resyncs}).
 *
 * The timer functions are injectable so stages can be tested under a fake clock.
 */

/** Time source and timers of a {@link FrameClock}. */
export interface ClockTimers {
  /** Monotonic time, ms. */
  now(): number;
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** The real clock: `performance.now()` and Node's timers. */
export const systemTimers: ClockTimers = {
  now: () => performance.now(),
  setTimeout: (callback, ms) => setTimeout(callback, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

export interface FrameClockOptions {
  /** Required - called once per tick. Exceptions go to `onError`; the clock keeps running. */
  onTick: () => void;
  /** Optional - tick interval, ms. Default 20 (one WhatsApp frame). */
  intervalMs?: number;
  /** Optional - ticks run back to back after a stall before the clock re-bases. Default 5. */
  maxCatchUpTicks?: number;
  /** Optional - receives what `onTick` threw. Default: counted in `tickErrors` only. */
  onError?: (err: unknown) => void;
  /** Optional - time source and timers. Default {@link systemTimers}. */
  timers?: ClockTimers;
}

export class FrameClock {
  readonly intervalMs: number;
  /** Ticks run since the clock was created. */
  ticks = 0;
  /** Times the clock fell more than `maxCatchUpTicks` behind (event loop blocked) and re-based. */
  resyncs = 0;
  /** Ticks dropped by those re-bases. */
  skippedTicks = 0;
  /** Exceptions thrown by `onTick`. */
  tickErrors = 0;
  private readonly onTick: () => void;
  private readonly onError: ((err: unknown) => void) | undefined;
  private readonly maxCatchUpTicks: number;
  private readonly timers: ClockTimers;
  private timer: unknown;
  private nextTickAt = 0;
  private isRunning = false;

  constructor(options: FrameClockOptions) {
    this.onTick = options.onTick;
    this.onError = options.onError;
    this.intervalMs = options.intervalMs ?? 20;
    this.maxCatchUpTicks = Math.max(1, Math.floor(options.maxCatchUpTicks ?? 5));
    this.timers = options.timers ?? systemTimers;
  }

  get running(): boolean {
    return this.isRunning;
  }

  /** Starts ticking; the first tick is one interval from now. Idempotent. */
  start(): void {
    if (this.isRunning) return;
    this.isRunning = true;
    this.nextTickAt = this.timers.now() + this.intervalMs;
    this.timer = this.timers.setTimeout(this.fire, this.intervalMs);
  }

  /** Stops ticking (also from inside `onTick`). Idempotent. */
  stop(): void {
    this.isRunning = false;
    if (this.timer !== undefined) this.timers.clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Runs every tick that is due, then re-arms for the next deadline. */
  private readonly fire = (): void => {
    this.timer = undefined;
    if (!this.isRunning) return;
    let now = this.timers.now();
    let ran = 0;
    // 1 ms of tolerance: timers fire on whole milliseconds, the deadline is fractional.
    while (now >= this.nextTickAt - 1 && ran < this.maxCatchUpTicks) {
      this.ticks++;
      try {
        this.onTick();
      } catch (err) {
        this.tickErrors++;
        this.onError?.(err);
      }
      if (!this.isRunning) return;
      this.nextTickAt += this.intervalMs;
      ran++;
      now = this.timers.now();
    }
    if (now - this.nextTickAt > this.intervalMs * this.maxCatchUpTicks) {
      // Blocked for long: do not burst; restart the cadence from now.
      this.resyncs++;
      this.skippedTicks += Math.floor((now - this.nextTickAt) / this.intervalMs);
      this.nextTickAt = now + this.intervalMs;
    }
    this.timer = this.timers.setTimeout(this.fire, Math.max(0, this.nextTickAt - now));
  };
}
