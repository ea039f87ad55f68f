import type { TwilioCall, TwilioCallSummary } from './twilio-call.js';

/** Why a connect URL with a genuine, unexpired signature cannot be used. */
export type ClaimRefusal =
  /** No call with this session id here: issued by another instance, or before a restart. */
  | 'unknown'
  /** The URL was used already (single use). */
  | 'used'
  /** The call ended before Twilio connected (e.g. the room was closed). */
  | 'ended';

export type ClaimResult = { ok: true; call: TwilioCall } | { ok: false; reason: ClaimRefusal };

export interface TwilioCallRegistryOptions {
  /** Calls (not yet ended, whether Twilio connected or not) held at once; more are refused. */
  maxCalls: number;
}

/**
 * The Twilio calls of this instance by connect-URL session id, and the single-use record of their
 * URLs. A URL's signature proves it genuine without any state; whether it was used needs this
 * record. An ended call leaves a tombstone until its URL expires, so a late second use is told
 * "used" (or "ended") rather than "unknown"; after expiry the signature check answers first.
 */
export class TwilioCallRegistry {
  readonly #calls = new Map<string, TwilioCall>();
  readonly #tombstones = new Map<string, { reason: 'used' | 'ended'; timer: NodeJS.Timeout }>();
  /** Calls whose URL was claimed by a WebSocket (possibly still completing its handshake). */
  readonly #claimed = new Set<string>();
  readonly #maxCalls: number;

  constructor(options: TwilioCallRegistryOptions) {
    this.#maxCalls = options.maxCalls;
  }

  /** Calls not yet ended. */
  get activeCount(): number {
    let n = 0;
    for (const call of this.#calls.values()) if (!call.isEnded) n++;
    return n;
  }

  /** Room for one more call, counting `pending` calls being set up. */
  hasCapacity(pending = 0): boolean {
    return this.activeCount + pending < this.#maxCalls;
  }

  get(sessionId: string): TwilioCall | undefined {
    return this.#calls.get(sessionId);
  }

  /** Track a call until it ends; then keep its tombstone until its URL expires. */
  add(call: TwilioCall): void {
    this.#calls.set(call.sessionId, call);
    call.once('ended', () => {
      this.#calls.delete(call.sessionId);
      const used = this.#claimed.delete(call.sessionId);
      const timer = setTimeout(
        () => this.#tombstones.delete(call.sessionId),
        Math.max(0, call.expiresAtMs - Date.now()),
      );
      timer.unref();
      this.#tombstones.set(call.sessionId, { reason: used ? 'used' : 'ended', timer });
    });
  }

  /**
   * Take the call of a genuine, unexpired URL for its one WebSocket. Succeeds once per call; the
   * caller then attaches the stream, or ends the call if the handshake fails.
   */
  claim(sessionId: string): ClaimResult {
    const call = this.#calls.get(sessionId);
    if (call) {
      if (this.#claimed.has(sessionId)) return { ok: false, reason: 'used' };
      if (call.state !== 'waiting') return { ok: false, reason: 'ended' };
      this.#claimed.add(sessionId);
      return { ok: true, call };
    }
    const tombstone = this.#tombstones.get(sessionId);
    return { ok: false, reason: tombstone?.reason ?? 'unknown' };
  }

  list(): TwilioCallSummary[] {
    return [...this.#calls.values()].map((c) => c.summary());
  }

  /** Every call not yet ended. */
  active(): TwilioCall[] {
    return [...this.#calls.values()].filter((c) => !c.isEnded);
  }

  /** Drop the tombstones (at shutdown). */
  clear(): void {
    for (const { timer } of this.#tombstones.values()) clearTimeout(timer);
    this.#tombstones.clear();
    this.#claimed.clear();
  }
}
