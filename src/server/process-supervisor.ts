import { fork, type ChildProcess } from 'node:child_process';
import { createServer, type Server, type Socket } from 'node:net';
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
  /** The public port the supervisor accepts connections on (0 = any free port). */
  port: number;
  /** Its bind address. */
  bindAddress: string;
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
/** The variable giving a child the public port its supervisor accepts on. */
export const CHILD_PUBLIC_PORT_ENV = 'WHATSAPP_CONNECTOR_CHILD_PUBLIC_PORT';
/** IPC message carrying an accepted public connection (the socket is its handle). */
export const CONNECTION_MESSAGE = 'whatsapp-connector:connection';

/** True in a process a {@link ProcessSupervisor} started. */
export function isSupervisedChild(): boolean {
  return process.env[CHILD_INDEX_ENV] !== undefined && typeof process.send === 'function';
}

/** In a child: hand every public connection the supervisor passes to `accept`. */
export function receiveConnections(accept: (socket: Socket) => void): void {
  process.on('message', (message: unknown, handle: unknown) => {
    if (message === CONNECTION_MESSAGE && handle) accept(handle as Socket);
  });
}

/** Tell the supervisor (if any) that this child is serving. */
export function reportChildStarted(message: Omit<ChildStartedMessage, 'type'>): void {
  if (!isSupervisedChild() || !process.send) return;
  process.send({ type: 'whatsapp-connector:started', ...message } satisfies ChildStartedMessage);
}

/** Message a child sends whenever its number of calls changes. */
export interface ChildLoadMessage {
  type: 'whatsapp-connector:load';
  /** Calls neither ending nor ended, as `CallRegistry.activeCount`. */
  activeCalls: number;
}

/** Tell the supervisor (if any) how many calls this child holds. */
export function reportChildLoad(activeCalls: number): void {
  if (!isSupervisedChild() || !process.send) return;
  process.send({ type: 'whatsapp-connector:load', activeCalls } satisfies ChildLoadMessage);
}

interface Slot {
  /** Calls the child last reported. */
  activeCalls: number;
  index: number;
  worker: ChildProcess | undefined;
  startedAt: number;
  restartDelayMs: number;
  restartTimer: NodeJS.Timeout | undefined;
  info: SupervisedChild | undefined;
}

/**
 * `serve --processes N`: keeps N connector processes (the same command, forked) behind one public
 * port. The supervisor accepts each connection and hands its socket to the serving child holding
 * the fewest calls (see {@link handOver}); it reads no byte of it. The children are instances of one cluster (Redis), so a request
 * reaching any of them finds the call wherever it is held.
 *
 * Not `node:cluster`: its workers share every socket they bind with the same port, UDP included,
 * and the media legs' ICE sockets (port 0) would then receive each other's packets.
 *
 * Each signal the supervisor gets is forwarded once to every child as SIGTERM, so the children
 * drain as a single `serve` does (`GracefulShutdown`: the first signal drains, a second cuts the
 * drain short). The children run in their own process group so that a terminal's Ctrl-C does not
 * reach them twice. A child that dies is restarted in its slot (the calls it held are ended at
 * Meta by the orphan cleaner of the child that replaces it);
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
  private readonly listener: Server;
  private next = 0;

  constructor(options: ProcessSupervisorOptions) {
    this.options = options;
    // Paused: the child that gets the socket reads the request, not the supervisor.
    this.listener = createServer({ pauseOnConnect: true }, (socket) => this.handOver(socket));
    this.logger = options.logger.child({ component: 'supervisor' });
    this.exited = new Promise((resolve) => (this.resolveExited = resolve));
    this.started = new Promise((resolve, reject) => {
      this.resolveStarted = resolve;
      this.rejectStarted = reject;
    });
    // The caller handles the rejection through start(); never an unhandled rejection.
    this.started.catch(() => undefined);
  }

  /** The public port, once {@link start} resolved. */
  get port(): number {
    const address = this.listener.address();
    return typeof address === 'object' && address ? address.port : 0;
  }

  /**
   * Listen on the public port, then start every child; resolves once all of them serve, rejects
   * if the port cannot be bound or a child exits first.
   */
  async start(): Promise<SupervisedChild[]> {
    try {
      await new Promise<void>((resolve, reject) => {
        this.listener.once('error', reject);
        this.listener.listen(this.options.port, this.options.bindAddress, () => {
          this.listener.off('error', reject);
          resolve();
        });
      });
    } catch (err) {
      // No child started: nothing to wait for.
      this.stopping = true;
      this.resolveExited(1);
      throw new Error(
        `cannot listen on ${this.options.bindAddress}:${this.options.port}: ${(err as Error).message}`,
      );
    }
    this.listener.on('error', (err) => this.logger.error({ err }, 'public listener failed'));
    for (let index = 0; index < this.options.processes; index++) {
      const slot: Slot = {
        index,
        worker: undefined,
        startedAt: 0,
        restartDelayMs: this.options.restartDelayMs ?? 1000,
        restartTimer: undefined,
        info: undefined,
        activeCalls: 0,
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

  /**
   * SIGTERM every child (again on a repeated call) and restart none; the public port closes once
   * all have exited (see {@link exited}).
   */
  stop(): void {
    this.stopping = true;
    // The port stays open until every child is gone: a child draining its calls still answers
    // requests for them (a Disconnect, say); once it closes, it closes what it is handed.
    for (const slot of this.slots) {
      if (slot.restartTimer) clearTimeout(slot.restartTimer);
      slot.restartTimer = undefined;
      if (slot.worker && isRunning(slot.worker)) slot.worker.kill('SIGTERM');
    }
    this.checkAllExited();
  }

  /**
   * The serving child holding the fewest calls gets the connection, ties in turn; with none
   * serving, it is closed. Fewest calls, not plain turns: calls last minutes and requests
   * milliseconds, and a fixed pattern of requests (each call's webhook, then its Accept) would
   * otherwise put every call on the same child.
   */
  private handOver(socket: Socket): void {
    const serving = this.slots.filter((s) => s.info && s.worker?.connected);
    const fewest = Math.min(...serving.map((s) => s.activeCalls));
    const least = serving.filter((s) => s.activeCalls === fewest);
    const slot = least[this.next++ % Math.max(least.length, 1)];
    if (!slot?.worker) {
      socket.destroy();
      return;
    }
    slot.worker.send(CONNECTION_MESSAGE, socket, { keepOpen: false }, (err) => {
      if (err) socket.destroy();
    });
  }

  private fork(slot: Slot): void {
    const worker = fork(process.argv[1]!, process.argv.slice(2), {
      env: {
        ...process.env,
        ...this.options.childEnv(slot.index),
        [CHILD_INDEX_ENV]: String(slot.index),
        [CHILD_PUBLIC_PORT_ENV]: String(this.port),
      },
      execArgv: process.execArgv,
      stdio: 'inherit',
      // Its own process group: a terminal's Ctrl-C reaches the supervisor only, which forwards
      // it once. Signalled twice (by the terminal and by us) a child would cut its drain short.
      detached: true,
    });
    slot.worker = worker;
    slot.startedAt = Date.now();
    slot.info = undefined;
    slot.activeCalls = 0;
    worker.on('message', (msg: Partial<ChildStartedMessage> | Partial<ChildLoadMessage>) => {
      if (msg?.type === 'whatsapp-connector:load') {
        slot.activeCalls = (msg as ChildLoadMessage).activeCalls;
        return;
      }
      if (msg?.type !== 'whatsapp-connector:started') return;
      slot.info = {
        index: slot.index,
        pid: worker.pid ?? 0,
        port: (msg as ChildStartedMessage).port,
        internalPort: (msg as ChildStartedMessage).internalPort,
        instanceId: (msg as ChildStartedMessage).instanceId,
      };
      this.logger.info({ child: slot.index, ...slot.info }, 'child process serving');
      if (!this.allStarted && this.slots.every((s) => s.info)) {
        this.allStarted = true;
        this.resolveStarted(this.children());
      }
    });
    worker.on('exit', (code, signal) => this.onExit(slot, worker, code, signal));
    // Without this a failed fork (or a send to a child that just died) would throw.
    worker.on('error', (err) =>
      this.logger.warn({ err, child: slot.index }, 'child process error'),
    );
  }

  private onExit(
    slot: Slot,
    worker: ChildProcess,
    code: number | null,
    signal: string | null,
  ): void {
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
      { child: slot.index, pid: worker.pid, code, signal, wasServing, restartInMs: delay },
      'child process died; restarting it (its replacement ends the calls it held at Meta)',
    );
    slot.restartTimer = setTimeout(() => {
      slot.restartTimer = undefined;
      if (!this.stopping) this.fork(slot);
    }, delay);
  }

  private checkAllExited(): void {
    if (!this.stopping) return;
    if (this.slots.some((s) => s.restartTimer || (s.worker && isRunning(s.worker)))) return;
    if (this.listener.listening) this.listener.close();
    this.resolveExited(this.failedCode);
  }
}

function isRunning(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null;
}
