/** The calls this instance holds, by Meta call id, while they exist here (ending included). */
import { SafeEventEmitter } from '../util/typed-emitter.js';
import type { CallSummary, WhatsAppCall } from './whatsapp-call.js';

/** Registry changes, for observers such as the cluster directory (`src/cluster/`). */
export interface CallRegistryEvents extends Record<string, unknown[]> {
  /** A call joined the registry (its id is known and it is served by this instance). */
  added: [WhatsAppCall];
  /** A call left the registry; nothing here knows it any more. */
  removed: [string];
}

export interface CallRegistryOptions {
  /**
   * How long an ended call stays findable, ms, so that a DisconnectWhatsAppCall after a user
   * hang-up still succeeds (LiveKit's 30 s cleanup window). Default 30 000.
   */
  endedRetentionMs?: number;
}

/**
 * The calls this instance holds, by Meta call id, from the moment Meta named them until they
 * are gone: a call that is `ending` (waiting for Meta to confirm its end) stays, so webhooks for
 * it still reach it and listings show it. Once ended, a call that was disconnected through the API
 * (or whose setup failed) leaves at once; any other stays `endedRetentionMs` for a late disconnect.
 */
export class CallRegistry extends SafeEventEmitter<CallRegistryEvents> {
  private readonly calls = new Map<string, WhatsAppCall>();
  private readonly retentionTimers = new Map<string, NodeJS.Timeout>();
  private readonly removeOnEnd = new Set<string>();
  private readonly endedRetentionMs: number;

  constructor(options: CallRegistryOptions = {}) {
    super();
    this.endedRetentionMs = options.endedRetentionMs ?? 30_000;
  }

  /** Calls that are neither ending nor ended: what counts against the call limit. */
  get activeCount(): number {
    let n = 0;
    for (const c of this.calls.values()) if (!c.isClosed) n++;
    return n;
  }

  /** The call, whatever its state (ending and recently ended calls included). */
  get(callId: string): WhatsAppCall | undefined {
    return this.calls.get(callId);
  }

  add(call: WhatsAppCall): void {
    this.calls.set(call.callId, call);
    call.once('ended', () => {
      if (this.removeOnEnd.has(call.callId) || call.isDisconnected) {
        this.remove(call.callId);
        return;
      }
      const timer = setTimeout(() => this.remove(call.callId), this.endedRetentionMs);
      timer.unref();
      this.retentionTimers.set(call.callId, timer);
    });
    this.emit('added', call);
  }

  /**
   * Forget `callId` as soon as its call has ended (at once if it has): for calls the API already
   * let go of, such as a failed accept or a disconnected call.
   */
  releaseWhenEnded(callId: string): void {
    const call = this.calls.get(callId);
    if (!call) return;
    if (call.isEnded) this.remove(callId);
    else this.removeOnEnd.add(callId);
  }

  /** Forget a call now (its teardown is the caller's business). */
  remove(callId: string): boolean {
    clearTimeout(this.retentionTimers.get(callId));
    this.retentionTimers.delete(callId);
    this.removeOnEnd.delete(callId);
    const removed = this.calls.delete(callId);
    if (removed) this.emit('removed', callId);
    return removed;
  }

  list(): CallSummary[] {
    return [...this.calls.values()].map((c) => c.summary());
  }

  all(): WhatsAppCall[] {
    return [...this.calls.values()];
  }

  /** Clear retention timers and forget every call (the calls themselves are ended by their owner). */
  close(): void {
    for (const t of this.retentionTimers.values()) clearTimeout(t);
    this.retentionTimers.clear();
    this.removeOnEnd.clear();
    this.calls.clear();
  }
}
