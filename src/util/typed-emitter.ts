import { EventEmitter } from 'node:events';

/**
 * An EventEmitter with a typed event map whose listeners cannot break the emitter: a listener
 * that throws is reported through `onListenerError` (default: ignored after logging by the owner)
 * and the remaining listeners still run. State machines emit after they have changed state, so a
 * faulty listener never leaves them half-updated.
 */
export class SafeEventEmitter<Events extends Record<string, unknown[]>> {
  private readonly emitter = new EventEmitter();

  constructor(private readonly onListenerError: (event: string, err: unknown) => void = () => {}) {
    this.emitter.setMaxListeners(50);
  }

  on<K extends keyof Events & string>(event: K, listener: (...args: Events[K]) => void): this {
    this.emitter.on(event, listener as (...args: unknown[]) => void);
    return this;
  }

  once<K extends keyof Events & string>(event: K, listener: (...args: Events[K]) => void): this {
    this.emitter.once(event, listener as (...args: unknown[]) => void);
    return this;
  }

  off<K extends keyof Events & string>(event: K, listener: (...args: Events[K]) => void): this {
    this.emitter.off(event, listener as (...args: unknown[]) => void);
    return this;
  }

  removeAllListeners(): this {
    this.emitter.removeAllListeners();
    return this;
  }

  protected emit<K extends keyof Events & string>(event: K, ...args: Events[K]): void {
    for (const listener of this.emitter.rawListeners(event)) {
      try {
        (listener as (...a: Events[K]) => void)(...args);
      } catch (err) {
        try {
          this.onListenerError(event, err);
        } catch {
          // the error reporter itself must not break the emitter either
        }
      }
    }
  }
}
