import cluster, { type Worker } from 'node:cluster';
import type { Logger } from '../log/index.js';

/** Message a child sends its supervisor once its listeners are up and it joined the cluster. */
export interface ChildStartedMessage {
  type: 'whatsapp-connector:started';
  /** The shared public port. */
  port: number;
  /** This child's own internal port. */
  internalPort: number;
  instanceId: string;
}

/** A started child, as the supervisor knows it. */
export interface SupervisedChild extends Omit<ChildStartedMessage, 'type'> {
  /** Position of the child, 0 to `processes - 1`; a restarted child keeps its index. */
  index: number;
  pid: number;
}

export interface ProcessSupervisorOptions {
  /** Number of connector processes to keep running, ≥ 1. */
  processes: number;
  /** Environment added to child `index`'s (its instance id, its internal port). */
  childEnv(index: number): Record<string, string>;
  logger: Logger;
  /**
   * Optional - wait before restarting a child that died, ms; doubled for each death within
   * {@link STABLE_CHILD_MS} of its start, up to 30 s. Default 1000.
   */
  restartDelayMs?: number;
}

/** A child that ran this long before dying is restarted after the base delay again, ms. */
export const STABLE_CHILD_MS = 30_000;
const MAX_RESTART_DELAY_MS = 30_000;

/** The variable telling a `serve` process that it is child `index` of a supervisor. */
export const CHILD_INDEX_ENV = 'WHATSAPP_CONNECTOR_CHILD_INDEX';

/** True in a process a {@link ProcessSupervisor} started. */
export function isSupervisedChild(): boolean {
  return cluster.isWorker && process.env[CHILD_INDEX_ENV] !== undefined;
}

/** Tell the supervisor (if any) that this child is serving. */
export function reportChildStarted(message: Omit<ChildStartedMessage, 'type'>): void {
  if (!isSupervisedChild() || !process.send) return;
  process.send({ type: 'whatsapp-connector:started', ...message } satisfies ChildStartedMessage);
}

interface Slot {
  index: number;
  worker: Worker | undefined;
  startedAt: number;
  restartDelayMs: number;
  restartTimer: NodeJS.Timeout | undefined;
  info: SupervisedChild | undefined;
}

/**
 * `serve --processes N`: keeps N connector processes (`node:cluster` workers running the same
 * command) sharing the public port; node's round-robin hands each accepted connection to the next
 * child. The children are instances of one cluster (Redis), so a request reaching any of them
 * finds the call wherever it is held.
 *
 * Signals are forwarded as SIGTERM (a terminal's Ctrl-C already sent the children SIGINT; a second
 * SIGINT would kill them without closing their calls). A child that dies is restarted in its slot;
 * one that dies before it ever started fails the whole start. {@link exited} resolves once every
 * child exited after {@link stop}.
 */
export class ProcessSupervisor {
  private readonly options: ProcessSupervisorOptions;
  private readonly logger: Logger;
  private readonly slots: Slot[] = [];
  private stopping = false;
  private failedCode = 0;
  private resolveExited!: (code: number) => void;
  /** Resolves with the exit code for the supervisor: 0 unless a child failed to start or exit. */
  readonly exited: Promise<number>;
  private resolveStarted!: (children: SupervisedChild[]) => void;
  private rejectStarted!: (err: Error) => void;
  private readonly started: Promise<SupervisedChild[]>;
  private allStarted = false;

  constructor(options: ProcessSupervisorOptions) {
    if (!cluster.isPrimary) throw new Error('a ProcessSupervisor runs in the primary process');
    this.options = options;
    this.logger = options.logger.child({ component: 'supervisor' });
    this.exited = new Promise((resolve) => (this.resolveExited = resolve));
    this.started = new Promise((resolve, reject) => {
      this.resolveStarted = resolve;
      this.rejectStarted = reject;
    });
    // The caller handles the rejection through start(); never an unhandled rejection.
    this.started.catch(() => undefined);
  }

  /** Start every child; resolves once all of them serve, rejects if one exits first. */
  start(): Promise<SupervisedChild[]> {
    for (let index = 0; index < this.options.processes; index++) {
      const slot: Slot = {
        index,
        worker: undefined,
        startedAt: 0,
        restartDelayMs: this.options.restartDelayMs ?? 1000,
        restartTimer: undefined,
        info: undefined,
      };
      this.slots.push(slot);
      this.fork(slot);
    }
    return this.started;
  }

  /** The children serving right now. */
  children(): SupervisedChild[] {
    return this.slots.flatMap((s) => (s.info ? [s.info] : []));
  }

  /** SIGTERM every child (again on a repeated call) and restart none; see {@link exited}. */
  stop(): void {
    this.stopping = true;
    for (const slot of this.slots) {
      if (slot.restartTimer) clearTimeout(slot.restartTimer);
      slot.restartTimer = undefined;
      if (slot.worker && !slot.worker.isDead()) slot.worker.process.kill('SIGTERM');
    }
    this.checkAllExited();
  }

  private fork(slot: Slot): void {
    const worker = cluster.fork({
      ...this.options.childEnv(slot.index),
      [CHILD_INDEX_ENV]: String(slot.index),
    });
    slot.worker = worker;
    slot.startedAt = Date.now();
    slot.info = undefined;
    worker.on('message', (msg: Partial<ChildStartedMessage>) => {
      if (msg?.type !== 'whatsapp-connector:started') return;
      slot.info = {
        index: slot.index,
        pid: worker.process.pid ?? 0,
        port: msg.port ?? 0,
        internalPort: msg.internalPort ?? 0,
        instanceId: msg.instanceId ?? '',
      };
      this.logger.info({ child: slot.index, ...slot.info }, 'child process serving');
      if (!this.allStarted && this.slots.every((s) => s.info)) {
        this.allStarted = true;
        this.resolveStarted(this.children());
      }
    });
    worker.on('exit', (code, signal) => this.onExit(slot, worker, code, signal));
  }

  private onExit(slot: Slot, worker: Worker, code: number | null, signal: string | null): void {
    if (slot.worker !== worker) return;
    const wasServing = slot.info !== undefined;
    slot.info = undefined;
    if (this.stopping) {
      if (code !== 0 && code !== null && this.failedCode === 0) this.failedCode = code;
      this.checkAllExited();
      return;
    }
    if (!this.allStarted) {
      // A child that cannot start (port taken, bad setting) will not start on a retry either.
      this.failedCode = code || 1;
      this.rejectStarted(
        new Error(
          `child process ${slot.index} exited (${signal ?? `code ${code}`}) while starting`,
        ),
      );
      this.stop();
      return;
    }
    const lived = Date.now() - slot.startedAt;
    if (lived >= STABLE_CHILD_MS) slot.restartDelayMs = this.options.restartDelayMs ?? 1000;
    const delay = slot.restartDelayMs;
    slot.restartDelayMs = Math.min(delay * 2, MAX_RESTART_DELAY_MS);
    this.logger.error(
      { child: slot.index, pid: worker.process.pid, code, signal, wasServing, restartInMs: delay },
      'child process died; restarting it (its calls are gone; their directory entries lapse)',
    );
    slot.restartTimer = setTimeout(() => {
      slot.restartTimer = undefined;
      if (!this.stopping) this.fork(slot);
    }, delay);
  }

  private checkAllExited(): void {
    if (!this.stopping) return;
    if (this.slots.some((s) => s.restartTimer || (s.worker && !s.worker.isDead()))) return;
    this.resolveExited(this.failedCode);
  }
}
