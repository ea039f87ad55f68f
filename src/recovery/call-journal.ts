/**
 * Keeps a persisted record of every call this instance holds, so that a process that did not
 * start a call can end it at Meta after a crash: written when the call joins the registry,
 * updated with its state, removed once the call has ended at Meta. A call whose end Meta never
 * confirmed (the retries were abandoned at shutdown) keeps its record, and the next start (or a
 * surviving peer) ends it.
 */
import type { CallRegistry } from '../calls/call-registry.js';
import type { WhatsAppCall } from '../calls/whatsapp-call.js';
import type { Logger } from '../log/index.js';
import type { CallRecord, CallStore, TokenSealer } from '../store/index.js';

export interface CallJournalOptions {
  /** Required - the registry whose calls are recorded. */
  registry: CallRegistry;
  /** Required - where records go (Redis with `REDIS_URL`, else SQLite in `STATE_DIR`). */
  store: CallStore;
  /** Required - seals tokens the configuration does not know. */
  sealer: TokenSealer;
  /** Required - this instance's id (`INSTANCE_ID`): the records' owner. */
  owner: string;
  /** Required - the token configured for a business number, if any. Secret. */
  configuredToken(phoneNumberId: string): string | undefined;
  /** Optional - how often records whose write failed are written again, ms. Default 5000. */
  repairIntervalMs?: number;
  logger: Logger;
}

/**
 * Writes are chained per call, so a record is never removed before it was written, and a failed
 * write is logged rather than thrown: a call must not fail because its record could not be kept
 * (it would then only be ended by its own process).
 */
export class CallJournal {
  readonly #options: CallJournalOptions;
  readonly #log: Logger;
  readonly #chains = new Map<string, Promise<void>>();
  /** Per call, the write that makes its record right again after a failed one. */
  readonly #repairs = new Map<string, () => Promise<void>>();
  readonly #repairTimer: NodeJS.Timeout;
  readonly #onAdded = (call: WhatsAppCall) => this.#track(call);
  #closed = false;

  constructor(options: CallJournalOptions) {
    this.#options = options;
    this.#log = options.logger.child({ component: 'call-journal' });
    options.registry.on('added', this.#onAdded);
    // A store that was unreachable for a while (Redis restarting) gets the records again.
    this.#repairTimer = setInterval(() => this.#repair(), options.repairIntervalMs ?? 5000);
    this.#repairTimer.unref();
  }

  #repair(): void {
    for (const [callId, write] of this.#repairs) {
      this.#repairs.delete(callId);
      this.#enqueue(callId, write, 'repair', write);
    }
  }

  #track(call: WhatsAppCall): void {
    const callId = call.callId;
    if (!callId || this.#closed) return;
    const put = () => this.#options.store.put(this.#record(call));
    this.#enqueue(callId, put, 'write', put);
    const onState = (state: string) => {
      if (state === 'ended') return;
      this.#enqueue(
        callId,
        async () => {
          // No record to update: its first write failed; write it whole.
          if (!(await this.#options.store.update(callId, { state }))) await put();
        },
        'update',
        put,
      );
    };
    call.on('state', onState);
    void call.whenEnded().then((outcome) => {
      call.off('state', onState);
      if (outcome.kind === 'gave_up') {
        // Meta did not confirm the end: whoever starts next (or a peer) ends it.
        this.#log.warn(
          { callId },
          'call end not confirmed by Meta; its record is kept for recovery',
        );
        return;
      }
      const remove = () => this.#options.store.remove(callId);
      this.#enqueue(callId, remove, 'remove', remove);
    });
  }

  #record(call: WhatsAppCall): CallRecord {
    const meta = call.recoveryCredentials();
    const now = Date.now();
    return {
      callId: call.callId,
      phoneNumberId: meta.phoneNumberId,
      direction: call.direction,
      apiVersion: meta.apiVersion,
      token: this.#options.sealer.reference(
        call.callId,
        meta.phoneNumberId,
        meta.accessToken,
        this.#options.configuredToken(meta.phoneNumberId),
      ),
      owner: this.#options.owner,
      roomName: call.roomName,
      participantIdentity: call.participantIdentity,
      state: call.state,
      createdAt: call.createdAt,
      updatedAt: now,
    };
  }

  /** Run `write` after the call's earlier writes; if it fails, `repair` runs again later. */
  #enqueue(
    callId: string,
    write: () => Promise<void>,
    what: string,
    repair: () => Promise<void>,
  ): void {
    const previous = this.#chains.get(callId) ?? Promise.resolve();
    const next = previous.then(write).then(
      () => {
        // Writes of one call run in order and each leaves the record as the call is now (an
        // update falls back to a whole write): a success supersedes any repair.
        this.#repairs.delete(callId);
      },
      (err: unknown) => {
        this.#log.warn({ err, callId, what }, 'could not keep the call record; retrying');
        if (!this.#closed || what === 'remove') this.#repairs.set(callId, repair);
      },
    );
    this.#chains.set(callId, next);
    void next.then(() => {
      if (this.#chains.get(callId) === next) this.#chains.delete(callId);
    });
  }

  /** Resolves once every write started so far has settled, or after `timeoutMs`. */
  async flush(timeoutMs = 5000): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, timeoutMs);
      timer.unref();
    });
    await Promise.race([Promise.allSettled([...this.#chains.values()]), expired]);
    clearTimeout(timer);
  }

  /** Stop recording new calls (writes under way go on; see {@link flush}). Idempotent. */
  close(): void {
    this.#closed = true;
    clearInterval(this.#repairTimer);
    this.#options.registry.off('added', this.#onAdded);
  }
}
