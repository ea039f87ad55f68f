/**
 * Failures of the state store, typed so callers decide by class and `retryable`, never by
 * message: a webhook that cannot be queued answers 503 (Meta retries), a call record that cannot
 * be written is logged and retried by the call code.
 */
export class StoreError extends Error {
  override readonly name: string = 'StoreError';
  constructor(
    message: string,
    /** Trying again later may succeed. */
    readonly retryable: boolean,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** The store cannot be reached or written now (Redis down or timing out, disk full, locked). */
export class StoreUnavailableError extends StoreError {
  override readonly name = 'StoreUnavailableError';
  constructor(message: string, options?: ErrorOptions) {
    super(message, true, options);
  }
}

/** The queue holds `capacity` entries already; the caller should refuse the work (503). */
export class QueueFullError extends StoreError {
  override readonly name = 'QueueFullError';
  constructor(
    readonly queue: string,
    readonly capacity: number,
  ) {
    super(`queue ${queue} is full (${capacity} entries)`, true);
  }
}

/** A sealed token that cannot be opened: the API secret changed, or the record was altered. */
export class TokenSealError extends StoreError {
  override readonly name = 'TokenSealError';
  constructor(message: string, options?: ErrorOptions) {
    super(message, false, options);
  }
}

/** Another live process holds `STATE_DIR`. Not retryable: it is a deployment mistake. */
export class StateDirLockedError extends StoreError {
  override readonly name = 'StateDirLockedError';
  constructor(
    readonly dir: string,
    readonly holderPid: number | undefined,
  ) {
    super(
      `STATE_DIR ${dir} is in use by another whatsapp-connector${holderPid ? ` (pid ${holderPid})` : ''}: give each instance its own STATE_DIR, or set REDIS_URL to share state`,
      false,
    );
  }
}
