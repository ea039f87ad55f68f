import { fork, type ChildProcess } from 'node:child_process';
import type { Duplex } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { ConnectorError } from '../errors/connector-error.js';
import type { Logger } from '../log/logger.js';
import { RemoteRoomLeg } from './remote-room-leg.js';
import type { RoomLegOptions } from './room-leg.js';
import { loggerBindings } from './room-leg-factory.js';
import { AUDIO_FRAME_KIND, RoomWorkerAudioChannel } from './room-worker-audio-channel.js';
import {
  deserializeError,
  type JoinedResult,
  type ParentToWorkerMessage,
  type WorkerToParentMessage,
} from './room-worker-protocol.js';

export interface RoomWorkerOptions {
  /** Optional - log level of the worker's own log lines (written to the inherited stdout). Default `info`. */
  logLevel?: string | undefined;
  /** Optional - mask phone numbers in the worker's logs. Default true. */
  redactPhoneNumbers?: boolean | undefined;
  /** Optional - how long `close()` lets the worker leave its rooms before SIGKILL, ms. Default 3000. */
  closeGraceMs?: number | undefined;
  /** Optional - how long to wait for a new worker to report ready, ms. Default 20000. */
  startTimeoutMs?: number | undefined;
  logger?: Logger | undefined;
}

/** What `RemoteRoomLeg` needs from its worker. */
export interface RoomWorkerLink {
  request(message: DistributiveOmit<ParentToWorkerMessage, 'requestId'>): Promise<unknown>;
  sendCallerAudio(legId: number, pcm: Int16Array): void;
  /** The leg is closed: forget it. */
  release(legId: number): void;
  readonly alive: boolean;
  readonly pid: number | undefined;
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

interface PendingRequest {
  resolve: (value: unknown) => void;
  reject: (err: Error) => void;
}

/**
 * Where the worker's code is: next to this module, as TypeScript (development and tests, run
 * through tsx) or as compiled JavaScript (`dist/`).
 */
function workerEntry(): { path: string; execArgv: string[] } {
  const self = fileURLToPath(import.meta.url);
  if (self.endsWith('.ts')) {
    return {
      path: fileURLToPath(new URL('./room-worker-main.ts', import.meta.url)),
      // Resolved here so the worker does not depend on the current directory to find tsx.
      execArgv: ['--import', import.meta.resolve('tsx')],
    };
  }
  return { path: fileURLToPath(new URL('./room-worker-main.js', import.meta.url)), execArgv: [] };
}

/**
 * One room worker process seen from the connector: forks it, routes control messages and audio
 * of its legs, and turns its death into `disconnected` on every leg it hosted (so each call ends
 * at Meta). `close()` asks the worker to leave its rooms and exit, and kills it if it does not.
 */
export class RoomWorker implements RoomWorkerLink {
  readonly #child: ChildProcess;
  readonly #audio: RoomWorkerAudioChannel;
  readonly #legs = new Map<number, RemoteRoomLeg>();
  readonly #requests = new Map<number, PendingRequest>();
  readonly #log: Logger | undefined;
  readonly #closeGraceMs: number;
  readonly #ready: Promise<void>;
  readonly #exited: Promise<void>;
  #nextRequestId = 1;
  #nextLegId = 1;
  #alive = true;
  #closing: Promise<void> | undefined;
  /** Joins in flight; counted as load so concurrent joins spread over workers. */
  #joining = 0;
  #started = false;
  /** Called whenever the number of legs changes or the worker exits. */
  onLoadChanged: () => void = () => undefined;

  constructor(options: RoomWorkerOptions = {}) {
    const entry = workerEntry();
    this.#closeGraceMs = options.closeGraceMs ?? 3000;
    this.#child = fork(entry.path, [], {
      execArgv: entry.execArgv,
      serialization: 'json',
      // fd 3: the audio socket; fd 4: IPC for control.
      stdio: ['ignore', 'inherit', 'inherit', 'pipe', 'ipc'],
      env: {
        ...process.env,
        ROOM_WORKER_LOG_LEVEL: options.logLevel ?? 'info',
        ROOM_WORKER_REDACT_PHONE_NUMBERS: String(options.redactPhoneNumbers ?? true),
      },
    });
    this.#log = options.logger?.child({ component: 'room-worker', workerPid: this.#child.pid });
    // An idle worker never keeps the connector alive (it exits on its own when the connector
    // does); the IPC channel is referenced only while the worker starts or a request waits.
    this.#child.unref();
    (this.#child.stdio[3] as Duplex & { unref?: () => void }).unref?.();
    this.#audio = new RoomWorkerAudioChannel(
      this.#child.stdio[3] as Duplex,
      (kind, legId, pcm) => {
        if (kind === AUDIO_FRAME_KIND.roomMix) this.#legs.get(legId)?.deliverMix(pcm);
      },
      (reason) => {
        this.#log?.error({ reason }, 'room worker sent corrupt audio; killing it');
        this.#child.kill('SIGKILL');
      },
    );
    this.#exited = new Promise((resolve) => {
      this.#child.once('exit', (code, signal) => {
        this.#onExit(code, signal);
        resolve();
      });
    });
    this.#child.on('error', (err) => this.#log?.error({ err }, 'room worker process error'));
    this.#ready = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new ConnectorError('unavailable', 'room worker did not start in time'));
        this.#child.kill('SIGKILL');
      }, options.startTimeoutMs ?? 20_000);
      this.#child.on('message', (message: WorkerToParentMessage) => {
        if (message.type === 'ready') {
          clearTimeout(timer);
          this.#started = true;
          this.#updateRef();
          resolve();
        } else {
          this.#onMessage(message);
        }
      });
      void this.#exited.then(() => {
        clearTimeout(timer);
        reject(new ConnectorError('unavailable', 'room worker exited while starting'));
      });
    });
    this.#ready.catch(() => undefined);
    this.#log?.debug('room worker started');
  }

  /** OS process id of the worker (for logs and tests). */
  get pid(): number | undefined {
    return this.#child.pid;
  }

  get alive(): boolean {
    return this.#alive;
  }

  /** Legs hosted plus joins in flight. */
  get load(): number {
    return this.#legs.size + this.#joining;
  }

  /** Resolves when the worker accepts requests; rejects if it fails to start. */
  ready(): Promise<void> {
    return this.#ready;
  }

  /** Resolves once the process has exited. */
  exited(): Promise<void> {
    return this.#exited;
  }

  /** Join a room in this worker. Same rejections as `RoomLeg.join` (ConnectorError). */
  async join(options: RoomLegOptions): Promise<RemoteRoomLeg> {
    this.#joining++;
    const legId = this.#nextLegId++;
    const { logger, agents, ...rest } = options;
    const leg = new RemoteRoomLeg(this, legId, options);
    try {
      await this.#ready;
      this.#legs.set(legId, leg);
      const joined = (await this.request({
        type: 'join',
        legId,
        options: {
          ...rest,
          agents: agents?.map((a) => a.toJson()),
          logBindings: loggerBindings(logger),
        },
      })) as JoinedResult;
      leg.markJoined(joined);
      return leg;
    } catch (err) {
      this.#legs.delete(legId);
      throw err;
    } finally {
      this.#joining--;
      this.onLoadChanged();
    }
  }

  request(message: DistributiveOmit<ParentToWorkerMessage, 'requestId'>): Promise<unknown> {
    if (!this.#alive || !this.#child.connected) {
      return Promise.reject(new ConnectorError('unavailable', 'room worker is not running'));
    }
    const requestId = this.#nextRequestId++;
    return new Promise((resolve, reject) => {
      this.#requests.set(requestId, {
        resolve: (value) => {
          this.#requests.delete(requestId);
          this.#updateRef();
          resolve(value);
        },
        reject: (err) => {
          this.#requests.delete(requestId);
          this.#updateRef();
          reject(err);
        },
      });
      this.#updateRef();
      this.#child.send({ ...message, requestId } as ParentToWorkerMessage, (err) => {
        if (!err) return;
        this.#requests
          .get(requestId)
          ?.reject(
            new ConnectorError('unavailable', 'room worker is not running', {}, { cause: err }),
          );
      });
    });
  }

  sendCallerAudio(legId: number, pcm: Int16Array): void {
    this.#audio.send(AUDIO_FRAME_KIND.callerAudio, legId, pcm);
  }

  release(legId: number): void {
    if (this.#legs.delete(legId)) this.onLoadChanged();
  }

  /** Ask the worker to leave its rooms and exit; SIGKILL after the grace period. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      if (this.#alive && this.#child.connected) {
        this.#child.send({ type: 'shutdown' } satisfies ParentToWorkerMessage, () => undefined);
      }
      const timer = setTimeout(() => this.#child.kill('SIGKILL'), this.#closeGraceMs);
      await this.#exited;
      clearTimeout(timer);
    })();
    return this.#closing;
  }

  /** Kill the process at once (parent exiting synchronously). */
  killNow(): void {
    if (this.#alive) this.#child.kill('SIGKILL');
  }

  #updateRef(): void {
    const channel = this.#child.channel;
    if (!channel) return;
    if (this.#alive && (!this.#started || this.#requests.size > 0)) channel.ref();
    else channel.unref();
  }

  #onMessage(message: WorkerToParentMessage): void {
    switch (message.type) {
      case 'result': {
        const pending = this.#requests.get(message.requestId);
        if (!pending) return;
        if (message.ok) pending.resolve(message.value);
        else pending.reject(deserializeError(message.error));
        return;
      }
      case 'participants':
        this.#legs.get(message.legId)?.deliverParticipants(message.participants);
        return;
      case 'dtmf':
        this.#legs.get(message.legId)?.deliverDtmf(message.digit, message.fromIdentity);
        return;
      case 'data':
        this.#legs.get(message.legId)?.deliverData({
          topic: message.topic,
          payload: new Uint8Array(Buffer.from(message.payloadBase64, 'base64')),
          from: message.from,
        });
        return;
      case 'disconnected': {
        const leg = this.#legs.get(message.legId);
        this.release(message.legId);
        leg?.deliverDisconnected(message.reason, message.code);
        return;
      }
      case 'error':
        this.#legs.get(message.legId)?.deliverError(deserializeError(message.error));
        return;
      case 'stats':
        for (const [legId, stats] of message.legs) this.#legs.get(legId)?.deliverStats(stats);
        return;
      case 'ready':
        return;
    }
  }

  #onExit(code: number | null, signal: NodeJS.Signals | null): void {
    this.#alive = false;
    this.#audio.close();
    const expected = this.#closing !== undefined;
    if (expected) this.#log?.debug({ code, signal }, 'room worker exited');
    else this.#log?.error({ code, signal, legs: this.#legs.size }, 'room worker exited');
    const failure = new ConnectorError('unavailable', 'room worker exited');
    for (const pending of [...this.#requests.values()]) pending.reject(failure);
    const legs = [...this.#legs.values()];
    this.#legs.clear();
    for (const leg of legs) leg.deliverWorkerExit(expected);
    this.onLoadChanged();
  }
}
