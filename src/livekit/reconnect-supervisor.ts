import type { Logger } from '../log/index.js';
import { SafeEventEmitter, logListenerErrors } from '../util/typed-emitter.js';
import { LiveKitError } from './livekit-errors.js';

/** What broke, as the engine saw it. */
export type ConnectionLoss =
  /** The signal socket closed or stopped answering pings. */
  | 'signal'
  /** A peer connection failed (ICE/DTLS). */
  | 'peer'
  /** The server asked us to resume (LeaveRequest action RESUME). */
  | 'server-resume'
  /** The server asked for a full reconnect (LeaveRequest action RECONNECT, e.g. shutting down). */
  | 'server-reconnect';

/** The two ways back, tried in this order. */
export type RecoveryStep = 'resume' | 'restart';

/**
 * Thrown by a resume hook when the server refused the resume but a full reconnect may work
 * (LeaveRequest with action RECONNECT, typically a restarted server that does not know us).
 */
export class ResumeRefusedError extends LiveKitError {
  constructor(message: string) {
    super('left', message, { retryable: true });
  }
}

export interface RecoveryHooks {
  /** Resume the session: new signal socket with `reconnect=1`, ICE restart, media back. */
  resume(signal: AbortSignal): Promise<void>;
  /** Full reconnect: new session (new participant sid), tracks published again. */
  restart(signal: AbortSignal): Promise<void>;
}

export interface ReconnectSupervisorOptions {
  hooks: RecoveryHooks;
  /** The whole recovery must succeed within this many milliseconds of the loss. */
  deadlineMs: number;
  /**
   * Wait before attempt n (0-based); the last value repeats. Default: 0, 300, 600, 1000, 2000,
   * then 2000 ms (the first retries come fast: a restarted livekit-server is back in ~1 s).
   */
  retryDelaysMs?: readonly number[] | undefined;
  logger?: Logger | undefined;
}

export interface ReconnectSupervisorEvents {
  /** Recovery started (once per loss episode). */
  reconnecting: [];
  /** Attempt n of a step is starting (for logs/metrics). */
  attempt: [step: RecoveryStep, attempt: number];
  /** Back through a resume: same session, published tracks kept. */
  resumed: [];
  /** Back through a full reconnect: new session, tracks re-published. */
  reconnected: [];
  /** No way back within the deadline (or a final refusal); the engine closes everything. */
  failed: [error: LiveKitError];
}

const DEFAULT_RETRY_DELAYS_MS = [0, 300, 600, 1000, 2000] as const;

/**
 * Decides how to get back after the connection is lost: resume first (cheap: the session, its
 * tracks and subscriptions survive), a full reconnect when the server refuses the resume or the
 * media path does not come back, with back-off, all within one deadline. Modeled on
 * client-sdk-js's RTCEngine.handleDisconnect/attemptReconnect and server-sdk-go's
 * handleDisconnect. The actual work is in the hooks; this class only sequences them.
 */
export class ReconnectSupervisor extends SafeEventEmitter<ReconnectSupervisorEvents> {
  #recovering = false;
  #closed = false;
  #fullReconnectNext = false;
  /** A loss reported while an attempt was running: go around once more. */
  #lostAgain = false;
  #attempt = 0;
  #deadline: NodeJS.Timeout | undefined;
  #delay: NodeJS.Timeout | undefined;
  #abort: AbortController | undefined;
  #lastError: LiveKitError | undefined;
  readonly #delays: readonly number[];
  readonly #log: Logger | undefined;

  constructor(private readonly options: ReconnectSupervisorOptions) {
    super(logListenerErrors(options.logger, 'reconnect listener threw'));
    this.#delays =
      options.retryDelaysMs && options.retryDelaysMs.length > 0
        ? options.retryDelaysMs
        : DEFAULT_RETRY_DELAYS_MS;
    this.#log = options.logger;
  }

  /** A recovery is under way. */
  get recovering(): boolean {
    return this.#recovering;
  }

  /** The next attempt will be a full reconnect. */
  get fullReconnectNext(): boolean {
    return this.#fullReconnectNext;
  }

  /**
   * Report a loss. Starts a recovery when none runs; during one, it makes the running attempt
   * count as failed once it ends (a server RECONNECT request also forces the full reconnect).
   * `resumable: false` skips the resume (e.g. no peer connection ever connected).
   */
  lost(loss: ConnectionLoss, options: { resumable?: boolean } = {}): void {
    if (this.#closed) return;
    if (loss === 'server-reconnect' || options.resumable === false) {
      this.#fullReconnectNext = true;
    }
    if (this.#recovering) {
      this.#lostAgain = true;
      // Server-initiated requests are acted on at once rather than after the current wait.
      if (loss === 'server-reconnect' || loss === 'server-resume') this.#skipDelay();
      return;
    }
    this.#recovering = true;
    this.#attempt = 0;
    this.#lastError = undefined;
    this.#log?.warn({ loss }, 'connection lost, recovering');
    this.#deadline = setTimeout(() => this.#giveUp(this.#timeoutError()), this.options.deadlineMs);
    this.emit('reconnecting');
    this.#schedule();
  }

  /** Stop: no further attempts, no events. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#stop();
    this.removeAllListeners();
  }

  #schedule(delayMs?: number): void {
    const wait = delayMs ?? this.#delays[Math.min(this.#attempt, this.#delays.length - 1)] ?? 0;
    this.#delay = setTimeout(() => {
      this.#delay = undefined;
      void this.#run();
    }, wait);
  }

  #skipDelay(): void {
    if (!this.#delay) return;
    clearTimeout(this.#delay);
    this.#delay = undefined;
    void this.#run();
  }

  async #run(): Promise<void> {
    if (!this.#recovering || this.#closed) return;
    const step: RecoveryStep = this.#fullReconnectNext ? 'restart' : 'resume';
    const attempt = this.#attempt;
    this.#attempt += 1;
    this.#lostAgain = false;
    const abort = new AbortController();
    this.#abort = abort;
    this.emit('attempt', step, attempt);
    let error: unknown;
    try {
      if (step === 'resume') await this.options.hooks.resume(abort.signal);
      else await this.options.hooks.restart(abort.signal);
    } catch (err) {
      error = err;
    }
    if (abort.signal.aborted || !this.#recovering) return;
    this.#abort = undefined;
    if (error === undefined && !this.#lostAgain) {
      this.#succeed(step);
      return;
    }
    const failure =
      error === undefined
        ? new LiveKitError('unreachable', 'connection lost again')
        : toError(error);
    this.#lastError = failure;
    this.#log?.warn({ step, attempt, err: failure }, 'recovery attempt failed');
    if (!failure.retryable) {
      this.#giveUp(failure);
      return;
    }
    // A resume only retries while the server cannot be reached at all; anything else (refused,
    // media did not come back, protocol error) means the session is gone: reconnect in full.
    if (step === 'resume' && failure.reason !== 'unreachable') this.#fullReconnectNext = true;
    // A refused resume comes from a server that is up and answering (typically restarted): the
    // full reconnect can start at once instead of after the back-off.
    this.#schedule(failure instanceof ResumeRefusedError ? 0 : undefined);
  }

  #succeed(step: RecoveryStep): void {
    this.#stop();
    this.#fullReconnectNext = false;
    this.#log?.info({ step, attempts: this.#attempt }, 'connection recovered');
    this.emit(step === 'resume' ? 'resumed' : 'reconnected');
  }

  #giveUp(error: LiveKitError): void {
    if (!this.#recovering) return;
    this.#stop();
    this.#log?.warn({ err: error }, 'connection not recovered, giving up');
    this.emit('failed', error);
  }

  #stop(): void {
    this.#recovering = false;
    if (this.#deadline) clearTimeout(this.#deadline);
    if (this.#delay) clearTimeout(this.#delay);
    this.#deadline = undefined;
    this.#delay = undefined;
    this.#abort?.abort();
    this.#abort = undefined;
  }

  #timeoutError(): LiveKitError {
    const last = this.#lastError ? `; last error: ${this.#lastError.message}` : '';
    return new LiveKitError(
      'timeout',
      `connection not recovered within ${this.options.deadlineMs} ms${last}`,
      { retryable: false, cause: this.#lastError },
    );
  }
}

function toError(err: unknown): LiveKitError {
  if (err instanceof LiveKitError) return err;
  return new LiveKitError('unreachable', err instanceof Error ? err.message : String(err), {
    cause: err,
  });
}
