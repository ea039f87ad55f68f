import { DisconnectReason } from '@livekit/rtc-node';
import { RoomServiceClient } from 'livekit-server-sdk';
import type { RoomDataMessage } from '../calls/call-ports.js';
import { ConnectorError } from '../errors/connector-error.js';
import type { Logger } from '../log/logger.js';
import type {
  RoomLegDisconnectReason,
  RoomLegEvents,
  RoomLegOptions,
  RoomLegParticipant,
  RoomLegStats,
} from './room-leg.js';
import type { RoomLegHandle } from './room-leg-factory.js';
import type { JoinedResult } from './room-worker-protocol.js';
import type { RoomWorkerLink } from './room-worker.js';
import { SafeEventEmitter, logListenerErrors } from '../util/typed-emitter.js';

const EMPTY_STATS: RoomLegStats = {
  callerFramesDropped: 0,
  callerFramesCaptured: 0,
  callerQueuedMs: 0,
  mixFramesEmitted: 0,
  remoteSamplesDropped: 0,
  remoteTracks: 0,
};

/**
 * A call's room leg running in a room worker process: same surface and events as `RoomLeg`.
 * Audio crosses the process boundary one 20 ms frame at a time; DTMF, attributes and close are
 * requests answered by the worker. If the worker dies, the leg reports `disconnected`
 * (`connection-lost`) so the bridge ends the call at Meta, exactly as for a lost room.
 */
export class RemoteRoomLeg extends SafeEventEmitter<RoomLegEvents> implements RoomLegHandle {
  readonly roomName: string;
  readonly participantIdentity: string;
  readonly sampleRate: number;
  readonly #worker: RoomWorkerLink;
  readonly #legId: number;
  readonly #log: Logger | undefined;
  /** Kept to evict the participant if the worker dies (in memory only, never logged). */
  readonly #server: Pick<RoomLegOptions, 'url' | 'apiKey' | 'apiSecret'>;
  #participantSid = '';
  #participants: RoomLegParticipant[] = [];
  #stats: RoomLegStats = EMPTY_STATS;
  #mixFramesReceived = 0;
  #joined = false;
  #ended = false;
  #closing: Promise<void> | undefined;

  /** Created by `RoomWorker.join`; not for direct use. */
  constructor(worker: RoomWorkerLink, legId: number, options: RoomLegOptions) {
    super(logListenerErrors(options.logger));
    this.#worker = worker;
    this.#legId = legId;
    this.roomName = options.roomName;
    this.participantIdentity = options.identity;
    this.sampleRate = options.sampleRate;
    this.#server = { url: options.url, apiKey: options.apiKey, apiSecret: options.apiSecret };
    this.#log = options.logger?.child({ room: options.roomName, component: 'remote-room-leg' });
  }

  /** OS process id of the room worker hosting this leg. */
  get workerPid(): number | undefined {
    return this.#worker.pid;
  }

  get participantSid(): string {
    return this.#participantSid;
  }

  get connected(): boolean {
    return this.#joined && !this.#ended && this.#worker.alive;
  }

  get participants(): RoomLegParticipant[] {
    return [...this.#participants];
  }

  /**
   * The worker's counters as of its last report (about once a second); `mixFramesEmitted` is
   * counted here, so it is exact.
   */
  get stats(): RoomLegStats {
    return { ...this.#stats, mixFramesEmitted: this.#mixFramesReceived };
  }

  pushCallerAudio(pcm: Int16Array): void {
    if (this.#joined && !this.#ended) this.#worker.sendCallerAudio(this.#legId, pcm);
  }

  async sendDtmf(digit: string): Promise<void> {
    this.#requireConnected();
    await this.#worker.request({ type: 'dtmf', legId: this.#legId, digit });
  }

  async setAttributes(attrs: Record<string, string>): Promise<void> {
    this.#requireConnected();
    await this.#worker.request({ type: 'setAttributes', legId: this.#legId, attributes: attrs });
  }

  async sendData(topic: string, payload: Uint8Array, destinationIdentity: string): Promise<void> {
    this.#requireConnected();
    await this.#worker.request({
      type: 'sendData',
      legId: this.#legId,
      topic,
      payloadBase64: Buffer.from(payload).toString('base64'),
      destinationIdentity,
    });
  }

  close(): Promise<void> {
    this.#closing ??= this.#shutdown();
    return this.#closing;
  }

  async #shutdown(): Promise<void> {
    const wasEnded = this.#ended;
    this.#ended = true;
    if (!wasEnded && this.#worker.alive) {
      await this.#worker
        .request({ type: 'close', legId: this.#legId })
        .catch((err: unknown) => this.#log?.debug({ err }, 'closing the remote leg failed'));
    }
    this.#worker.release(this.#legId);
    this.removeAllListeners();
  }

  #requireConnected(): void {
    if (!this.connected) {
      throw new ConnectorError('failed_precondition', 'room leg is not connected');
    }
  }

  // ---- called by RoomWorker ------------------------------------------------------------------

  /** @internal */
  markJoined(result: JoinedResult): void {
    this.#joined = true;
    this.#participantSid = result.participantSid;
    this.#participants = result.participants;
  }

  /** @internal */
  deliverMix(pcm: Int16Array): void {
    if (!this.#joined || this.#ended) return;
    this.#mixFramesReceived++;
    this.emit('audio', pcm);
  }

  /** @internal */
  deliverDtmf(digit: string, fromIdentity: string | undefined): void {
    if (!this.#ended) this.emit('dtmf', digit, fromIdentity);
  }

  /** @internal */
  deliverData(message: RoomDataMessage): void {
    if (!this.#ended) this.emit('data', message);
  }

  /** @internal */
  deliverParticipants(participants: RoomLegParticipant[]): void {
    if (this.#ended) return;
    this.#participants = participants;
    this.emit('participantsChanged', [...participants]);
  }

  /** @internal */
  deliverStats(stats: RoomLegStats): void {
    this.#stats = stats;
  }

  /** @internal */
  deliverError(err: Error): void {
    if (!this.#ended) this.emit('error', err);
  }

  /**
   * A killed worker cannot say goodbye: livekit-server would keep the participant (silent) until
   * its own timeout, tens of seconds. Removing it through the server API ends it in the room now.
   */
  #evict(): void {
    const rooms = new RoomServiceClient(
      this.#server.url.replace(/^ws/, 'http'),
      this.#server.apiKey,
      this.#server.apiSecret,
    );
    rooms
      .removeParticipant(this.roomName, this.participantIdentity)
      .catch((err: unknown) => this.#log?.debug({ err }, 'removing the participant failed'));
  }

  /** @internal The room ended the leg (in the worker). */
  deliverDisconnected(reason: RoomLegDisconnectReason, code: number): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#closing ??= Promise.resolve();
    this.emit('disconnected', reason, code as DisconnectReason);
  }

  /**
   * @internal The worker process is gone. Unless the pool was closing it, this is a crash: the
   * leg left the room without a word, which the bridge must treat like a lost connection.
   */
  deliverWorkerExit(expected: boolean): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#closing ??= Promise.resolve();
    if (!expected) {
      this.#log?.warn('room worker exited; removing the orphaned participant');
      this.#evict();
    }
    this.emit(
      'disconnected',
      expected ? 'server-shutdown' : 'connection-lost',
      DisconnectReason.UNKNOWN_REASON,
    );
  }
}
