import type { CallSummary } from '../calls/whatsapp-call.js';

/** Default number of ended calls kept. */
export const DEFAULT_ENDED_CALLS_KEPT = 200;

/**
 * The calls that ended since the console started, newest first, with their end reason. The call
 * registry forgets an ended call after its 30 s retention (at once after an API disconnect); this
 * keeps the summaries longer for the console, bounded.
 */
export class EndedCallLog {
  private readonly calls: CallSummary[] = [];

  constructor(private readonly capacity = DEFAULT_ENDED_CALLS_KEPT) {}

  /** A call ended (a repeated report of the same call replaces the earlier one). */
  add(call: CallSummary): void {
    const i = this.calls.findIndex((c) => c.callId === call.callId);
    if (i >= 0) this.calls.splice(i, 1);
    this.calls.unshift({ ...call });
    if (this.calls.length > this.capacity) this.calls.length = this.capacity;
  }

  /** Newest first. */
  list(): CallSummary[] {
    return [...this.calls];
  }
}
