import { EventEmitter } from 'node:events';
import type { Logger } from '../log/index.js';

/** Reports a listener that threw (or an `error` event nobody listens to). */
export type ListenerErrorHandler = (event: string, err: unknown) => void;

/** A {@link ListenerErrorHandler} that logs through `logger` (or drops the report without one). */
export function logListenerErrors(
  logger: Logger | undefined,
  what = 'event listener threw',
): ListenerErrorHandler {
  return (event, err) => logger?.error({ err, event }, what);
}

/**
 * The one event emitter of the project: typed event names and arguments, and an `emit` that never
 * throws. A listener that throws is reported through `onListenerError` and the remaining listeners
 * still run; an `error` event without listeners is reported the same way instead of crashing the
 * process. Media legs, room legs, calls and the simulator emit from timers and native callbacks,
 * where an exception from someone else's listener would otherwise tear down a call's state machine.
 * State machines emit after they have changed state, so a faulty listener never sees them half-done.
 */
export class SafeEventEmitter<Events extends { [K in keyof Events]: unknown[] }> {
  readonly #emitter = new EventEmitter();

  constructor(private readonly onListenerError: ListenerErrorHandler = () => {}) {
    // Many parties may watch one entity (bridge, metrics, tests); this is not a leak.
    this.#emitter.setMaxListeners(100);
  }

  on<K extends keyof Events & string>(event: K, listener: (...args: Events[K]) => void): this {
    this.#emitter.on(event, listener as (...args: unknown[]) => void);
    return this;
  }

  once<K extends keyof Events & string>(event: K, listener: (...args: Events[K]) => void): this {
    this.#emitter.once(event, listener as (...args: unknown[]) => void);
    return this;
  }

  off<K extends keyof Events & string>(event: K, listener: (...args: Events[K]) => void): this {
    this.#emitter.off(event, listener as (...args: unknown[]) => void);
    return this;
  }

  listenerCount<K extends keyof Events & string>(event: K): number {
    return this.#emitter.listenerCount(event);
  }

  /** Remove every listener (a closed entity holds no references to its watchers). */
  removeAllListeners(): this {
    this.#emitter.removeAllListeners();
    return this;
  }

  protected emit<K extends keyof Events & string>(event: K, ...args: Events[K]): void {
    // rawListeners: calling a `once` wrapper also removes it.
    const listeners = this.#emitter.rawListeners(event);
    if (listeners.length === 0) {
      if (event === 'error') this.report(event, args[0]);
      return;
    }
    for (const listener of listeners) {
      try {
        (listener as (...a: Events[K]) => void)(...args);
      } catch (err) {
        this.report(event, err);
      }
    }
  }

  private report(event: string, err: unknown): void {
    try {
      this.onListenerError(event, err);
    } catch {
      // the reporter itself must not break the emitter either
    }
  }
}
