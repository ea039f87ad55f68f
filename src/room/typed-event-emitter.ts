import { EventEmitter } from 'node:events';
import type { Logger } from '../log/logger.js';

/** Event name → listener argument tuple (an interface of tuples satisfies it). */
export type EventMap<E> = { [K in keyof E]: unknown[] };

/**
 * An EventEmitter with typed event names and arguments whose `emit` never throws: a listener that
 * throws is logged and the remaining listeners still run. Media and call state machines emit from
 * timers and native callbacks, where an exception from user code would otherwise tear them down.
 * An `error` event without a listener is logged instead of crashing the process.
 */
export class TypedEventEmitter<E extends EventMap<E>> {
  readonly #emitter = new EventEmitter();

  constructor(protected readonly eventLogger?: Logger) {
    // Many calls may watch one entity (bridge, metrics, tests); this is not a leak.
    this.#emitter.setMaxListeners(50);
  }

  on<K extends keyof E & string>(event: K, listener: (...args: E[K]) => void): this {
    this.#emitter.on(event, listener as (...args: unknown[]) => void);
    return this;
  }

  once<K extends keyof E & string>(event: K, listener: (...args: E[K]) => void): this {
    this.#emitter.once(event, listener as (...args: unknown[]) => void);
    return this;
  }

  off<K extends keyof E & string>(event: K, listener: (...args: E[K]) => void): this {
    this.#emitter.off(event, listener as (...args: unknown[]) => void);
    return this;
  }

  listenerCount<K extends keyof E & string>(event: K): number {
    return this.#emitter.listenerCount(event);
  }

  /** Remove every listener (used by `close()` so a closed entity holds no references). */
  protected removeAllEventListeners(): void {
    this.#emitter.removeAllListeners();
  }

  /** Call each listener in turn; exceptions are logged, never propagated. */
  protected safeEmit<K extends keyof E & string>(event: K, ...args: E[K]): void {
    const listeners = this.#emitter.listeners(event) as ((...a: E[K]) => void)[];
    if (listeners.length === 0) {
      if (event === 'error') this.eventLogger?.error({ err: args[0] }, 'unhandled error event');
      return;
    }
    for (const listener of listeners) {
      try {
        listener(...args);
      } catch (err) {
        this.eventLogger?.error({ err, event }, 'event listener threw');
      }
    }
  }
}
