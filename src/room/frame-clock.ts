/**
 * A steady frame clock: calls `onTick` every `intervalMs` on average. Each timeout is set for the
 * next deadline computed from the start time, so timer lateness does not accumulate as drift the
 * way `setInterval` does. After an event-loop stall, missed ticks are caught up in a burst of at
 * most `maxCatchUpTicks`; beyond that the clock re-bases rather than flood the consumer.
 */
export class FrameClock {
  #timer: NodeJS.Timeout | undefined;
  #startMs = 0;
  #ticks = 0;
  #running = false;
  /** Ticks skipped because the loop stalled longer than the catch-up allowance. */
  skippedTicks = 0;

  /**
   * @param intervalMs tick period in milliseconds (20 for telephony frames)
   * @param onTick called once per tick; exceptions are the caller's to handle
   * @param maxCatchUpTicks ticks run back-to-back after a stall before re-basing. Default 5.
   */
  constructor(
    private readonly intervalMs: number,
    private readonly onTick: () => void,
    private readonly maxCatchUpTicks = 5,
  ) {}

  get running(): boolean {
    return this.#running;
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#startMs = performance.now();
    this.#ticks = 0;
    this.#schedule();
  }

  stop(): void {
    this.#running = false;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #schedule(): void {
    const next = this.#startMs + (this.#ticks + 1) * this.intervalMs;
    this.#timer = setTimeout(() => this.#fire(), Math.max(0, next - performance.now()));
  }

  #fire(): void {
    if (!this.#running) return;
    const due = Math.floor((performance.now() - this.#startMs) / this.intervalMs) - this.#ticks;
    let run = Math.max(1, due);
    if (run > this.maxCatchUpTicks) {
      this.skippedTicks += run - this.maxCatchUpTicks;
      this.#ticks += run - this.maxCatchUpTicks;
      run = this.maxCatchUpTicks;
    }
    for (let i = 0; i < run && this.#running; i++) {
      this.#ticks++;
      this.onTick();
    }
    if (this.#running) this.#schedule();
  }
}
