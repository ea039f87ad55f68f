import { SafeEventEmitter } from '../util/typed-emitter.js';
import type { CallSummary, WhatsAppCall } from './whatsapp-call.js';

/** Registry changes, for observers such as the cluster directory (`src/cluster/`). */
export interface CallRegistryEvents extends Record<string, unknown[]> {
  /** A call joined the registry (its id is known and it is served by this instance). */
  added: [WhatsAppCall];
  /** A call left the registry; a disconnect for it is now `not_found`. */
  removed: [string];
}

export interface CallRegistryOptions {
  /** Calls (not yet ended) held at once; more are refused. */
  maxConcurrentCalls: number;
  /** How long an ended call stays findable for a late DisconnectWhatsAppCall, in ms. Default 30 000. */
  endedRetentionMs?: number;
  /** Called once when a call leaves the registry (owners drop what they keep per call). */
  onRemove?: (callId: string) => void;
}

/**
 * The calls this instance owns, by Meta call id. A call that ends stays findable for
 * `endedRetentionMs` (LiveKit's 30 s cleanup window) so that a DisconnectWhatsAppCall after a
 * user hang-up still succeeds; a removed call is gone, so a second disconnect is `not_found`.
 */
export class CallRegistry extends SafeEventEmitter<CallRegistryEvents> {
  private readonly calls = new Map<string, WhatsAppCall>();
  private readonly retentionTimers = new Map<string, NodeJS.Timeout>();
  private readonly maxConcurrentCalls: number;
  private readonly endedRetentionMs: number;
  private readonly onRemove: ((callId: string) => void) | undefined;

  constructor(options: CallRegistryOptions) {
    super();
    this.maxConcurrentCalls = options.maxConcurrentCalls;
    this.endedRetentionMs = options.endedRetentionMs ?? 30_000;
    this.onRemove = options.onRemove;
  }

  /** Calls not yet ended. */
  get activeCount(): number {
    let n = 0;
    for (const c of this.calls.values()) if (!c.isEnded) n++;
    return n;
  }

  /** Room for `pending` more calls (calls being set up but not yet added count as pending). */
  hasCapacity(pending = 0): boolean {
    return this.activeCount + pending < this.maxConcurrentCalls;
  }

  get(callId: string): WhatsAppCall | undefined {
    return this.calls.get(callId);
  }

  add(call: WhatsAppCall): void {
    this.calls.set(call.callId, call);
    call.once('ended', () => {
      const timer = setTimeout(() => this.remove(call.callId), this.endedRetentionMs);
      timer.unref();
      this.retentionTimers.set(call.callId, timer);
    });
    this.emit('added', call);
  }

  /** Forget a call now (its teardown is the caller's business). */
  remove(callId: string): boolean {
    const timer = this.retentionTimers.get(callId);
    if (timer) clearTimeout(timer);
    this.retentionTimers.delete(callId);
    const removed = this.calls.delete(callId);
    if (removed) {
      this.onRemove?.(callId);
      this.emit('removed', callId);
    }
    return removed;
  }

  list(): CallSummary[] {
    return [...this.calls.values()].map((c) => c.summary());
  }

  all(): WhatsAppCall[] {
    return [...this.calls.values()];
  }

  /** Clear retention timers (the calls themselves are ended by their owner). */
  close(): void {
    for (const t of this.retentionTimers.values()) clearTimeout(t);
    this.retentionTimers.clear();
    this.calls.clear();
  }
}
