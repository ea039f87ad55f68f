import {
  DisconnectReason,
  SimulateScenario,
  UpdateParticipantMetadata,
  type JoinResponse,
  type ParticipantInfo,
} from '@livekit/protocol';
import type { MediaStreamTrack } from 'werift';
import type { Logger } from '../log/index.js';
import { SafeEventEmitter, logListenerErrors } from '../util/typed-emitter.js';
import {
  dtmfPacket,
  userPacket,
  type DataMessage,
  type DataSender,
  type PublishDataOptions,
} from './data-packets.js';
import { LiveKitError } from './livekit-errors.js';
import { LocalAudioTrack, type LocalAudioTrackOptions } from './local-audio-track.js';
import { resolveTimeouts, type JoinOptions, type ResolvedTimeouts } from './participant-options.js';
import { RemoteAudioTrack } from './remote-audio-track.js';
import { RemoteParticipant, hasLeft, type ParticipantChanges } from './remote-participant.js';
import { RtcEngine, type EngineEnd } from './rtc-engine.js';
import { openWebSocketSignalSocket } from './signal-socket.js';

export interface LiveKitParticipantEvents {
  /** A participant joined (or was there when we joined: not emitted for those). */
  participantConnected: [participant: RemoteParticipant];
  /** Name, metadata or attributes of a participant changed. */
  participantUpdated: [participant: RemoteParticipant, changes: ParticipantChanges];
  /** A participant left; `reason` is what the server reports (e.g. CLIENT_INITIATED). */
  participantDisconnected: [participant: RemoteParticipant, reason: DisconnectReason];
  /** A remote audio track is being received; its RTP comes as the track's `rtp` events. */
  trackSubscribed: [track: RemoteAudioTrack, participant: RemoteParticipant];
  /** The track ended (its `ended` event fires too). */
  trackUnsubscribed: [track: RemoteAudioTrack, participant: RemoteParticipant];
  /**
   * A SipDTMF packet (as rtc-node's `publishDtmf` sends). `participant` is undefined when the
   * server sent it (SendData API) or the sender is unknown.
   */
  dtmfReceived: [code: number, digit: string, participant: RemoteParticipant | undefined];
  /** A user data packet. */
  dataReceived: [
    payload: Uint8Array,
    topic: string | undefined,
    participant: RemoteParticipant | undefined,
  ];
  /** The connection was lost; recovery (resume, then full reconnect) is under way. */
  reconnecting: [];
  /** Recovered by resuming the session: same participant sid, tracks and subscriptions kept. */
  resumed: [];
  /**
   * Recovered by a full reconnect: a new session (new participant sid). Local tracks were
   * published again (new track sids); remote tracks were unsubscribed and subscribed again.
   */
  reconnected: [];
  /**
   * Final: the participant left or was removed, or could not recover within
   * `timeouts.reconnectMs`. Everything is closed. Not emitted after {@link LiveKitParticipant.leave}.
   */
  disconnected: [reason: DisconnectReason, error: LiveKitError | undefined];
}

/**
 * A participant in a LiveKit room, written for forwarding audio without a codec: it publishes
 * Opus RTP written by the caller and delivers remote audio tracks as Opus RTP. Signalling,
 * peer connection(s), data channels and recovery are inside; the call code sees tracks,
 * participants, data and a few typed events.
 *
 * ```ts
 * const participant = await LiveKitParticipant.join({ url, token });
 * const track = await participant.publishAudioTrack({ name: 'caller' });
 * track.writeRtp({ payload, timestamp });
 * participant.on('trackSubscribed', (remote) => remote.on('rtp', (packet) => ...));
 * await participant.leave(DisconnectReason.CLIENT_INITIATED);
 * ```
 */
export class LiveKitParticipant extends SafeEventEmitter<LiveKitParticipantEvents> {
  readonly #engine: RtcEngine;
  readonly #timeouts: ResolvedTimeouts;
  readonly #autoSubscribeAudio: boolean;
  readonly #log: Logger | undefined;
  #self: ParticipantInfo | undefined;
  #room: JoinResponse['room'];
  #serverVersion = '';
  /** By identity. */
  readonly #participants = new Map<string, RemoteParticipant>();
  /** By track sid. */
  readonly #remoteTracks = new Map<string, RemoteAudioTrack>();
  /** Sources that arrived before the participant update naming their track. */
  readonly #orphanSources = new Map<string, MediaStreamTrack[]>();
  /** Track sids we asked to subscribe to in this session. */
  readonly #subscribed = new Set<string>();
  readonly #localTracks: LocalAudioTrack[] = [];
  readonly #requests = new Map<
    number,
    { resolve: () => void; reject: (e: LiveKitError) => void }
  >();
  #nextRequestId = 1;
  /** What we set ourselves, re-applied after a full reconnect. */
  readonly #desired: { name?: string; metadata?: string; attributes: Record<string, string> } = {
    attributes: {},
  };
  #closed = false;
  /** Events start once join() has resolved (see {@link LiveKitParticipant.join}). */
  #joined = false;

  private constructor(options: JoinOptions, engine: RtcEngine, timeouts: ResolvedTimeouts) {
    super(logListenerErrors(options.logger, 'participant listener threw'));
    this.#engine = engine;
    this.#timeouts = timeouts;
    this.#autoSubscribeAudio = options.autoSubscribeAudio ?? true;
    this.#log = options.logger;
    this.#wire();
  }

  /**
   * Join the room the token names. Resolves once the peer connection(s) are connected and the
   * data channel is open; rejects with a {@link LiveKitError} (after closing what it opened).
   * `audioTracks` are published with the join (in the join request itself in single-PC mode,
   * which saves a round trip).
   *
   * Events start when this resolves: participants and remote tracks already there by then are
   * in {@link remoteParticipants} and {@link remoteTracks} (no event for them), later ones come
   * as events. Nothing can run between the resolution and the caller's next line, so reading
   * those maps and then adding listeners misses nothing.
   */
  static async join(
    options: JoinOptions & { audioTracks?: LocalAudioTrackOptions[] | undefined },
  ): Promise<LiveKitParticipant> {
    if (!options.url || !options.token) {
      throw new LiveKitError('invalid-argument', 'join needs a url and a token');
    }
    const timeouts = resolveTimeouts(options.timeouts);
    const logger = options.logger?.child({ component: 'livekit' });
    const engine = new RtcEngine({
      url: options.url,
      token: options.token,
      mode: options.peerConnectionMode ?? 'auto',
      ice: options.ice ?? {},
      timeouts,
      socketFactory: options.signalSocketFactory ?? openWebSocketSignalSocket,
      logger,
    });
    const participant = new LiveKitParticipant({ ...options, logger }, engine, timeouts);
    const tracks = (options.audioTracks ?? []).map((o) => new LocalAudioTrack(o, logger));
    participant.#localTracks.push(...tracks);
    try {
      await engine.connect(tracks);
      participant.#joined = true;
    } catch (err) {
      await participant.#shutdown();
      throw err instanceof LiveKitError
        ? err
        : new LiveKitError('protocol', `join failed: ${String(err)}`, { cause: err });
    }
    return participant;
  }

  /** Our identity (from the token). */
  get identity(): string {
    return this.#self?.identity ?? '';
  }

  /** Our participant sid; changes after a full reconnect. */
  get sid(): string {
    return this.#self?.sid ?? '';
  }

  get name(): string {
    return this.#self?.name ?? '';
  }

  get metadata(): string {
    return this.#self?.metadata ?? '';
  }

  /** Our attributes as the server last reported them (a copy). */
  get attributes(): Record<string, string> {
    return { ...this.#self?.attributes };
  }

  get roomName(): string {
    return this.#room?.name ?? '';
  }

  /** Room sid (may be empty until the server assigns it: it arrives in a room update). */
  get roomSid(): string {
    return this.#room?.sid ?? '';
  }

  /** livekit-server version from the join response. */
  get serverVersion(): string {
    return this.#serverVersion;
  }

  /** Whether this session uses one peer connection (publisher offer in the join request). */
  get singlePeerConnection(): boolean {
    return this.#engine.singlePeerConnection;
  }

  /** Other participants, by identity. */
  get remoteParticipants(): ReadonlyMap<string, RemoteParticipant> {
    return this.#participants;
  }

  /** Remote audio tracks being received, by track sid. */
  get remoteTracks(): ReadonlyMap<string, RemoteAudioTrack> {
    return this.#remoteTracks;
  }

  get localTracks(): readonly LocalAudioTrack[] {
    return this.#localTracks;
  }

  /** Signal round-trip time of the last ping, milliseconds. */
  get signalRttMs(): number {
    return this.#engine.signal.rttMs;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Publish an audio track fed with Opus RTP ({@link LocalAudioTrack.writeRtp}). Resolves once
   * the server accepted it (TrackPublishedResponse) and the offer for it is out; packets written
   * before the section is negotiated are dropped (counted in the track's stats).
   */
  async publishAudioTrack(options: LocalAudioTrackOptions): Promise<LocalAudioTrack> {
    this.#assertOpen();
    const track = new LocalAudioTrack(options, this.#log);
    this.#localTracks.push(track);
    try {
      await this.#engine.publish(track);
    } catch (err) {
      this.#localTracks.splice(this.#localTracks.indexOf(track), 1);
      track.end();
      throw err;
    }
    return track;
  }

  /**
   * Send one DTMF event as a SipDTMF packet on the reliable channel, as rtc-node's
   * `publishDtmf(code, digit)` does (code: RFC 4733 event 0-15; digit: its character).
   */
  async sendDtmf(
    code: number,
    digit: string,
    options: { destinationIdentities?: string[] } = {},
  ): Promise<void> {
    this.#assertOpen();
    await this.#engine.sendData(dtmfPacket(code, digit, options.destinationIdentities), true);
  }

  /** Send a user data packet (≤ 15 KiB payload, LiveKit's limit). */
  async publishData(payload: Uint8Array, options: PublishDataOptions = {}): Promise<void> {
    this.#assertOpen();
    await this.#engine.sendData(userPacket(payload, options), options.reliable ?? true);
  }

  /** Set our display name (needs `canUpdateOwnMetadata`); resolves when the server accepted. */
  async setName(name: string): Promise<void> {
    if (!name) throw new LiveKitError('invalid-argument', 'name must not be empty');
    this.#desired.name = name;
    await this.#updateMetadata({ name });
  }

  /**
   * Set our metadata (needs `canUpdateOwnMetadata`). The protocol cannot clear it: an empty
   * string means "unchanged" to livekit-server.
   */
  async setMetadata(metadata: string): Promise<void> {
    if (!metadata) throw new LiveKitError('invalid-argument', 'metadata must not be empty');
    this.#desired.metadata = metadata;
    await this.#updateMetadata({ metadata });
  }

  /**
   * Set attributes (needs `canUpdateOwnMetadata`): the given keys are set, others kept; an
   * empty value deletes the key. Resolves when the server accepted.
   */
  async setAttributes(attributes: Record<string, string>): Promise<void> {
    Object.assign(this.#desired.attributes, attributes);
    await this.#updateMetadata({ attributes });
  }

  /**
   * Ask livekit-server to act out a failure (LiveKit's SimulateScenario, meant for client
   * validation): `server-leave` closes our session with a full-reconnect request,
   * `node-failure` drops it silently as a crashed node would.
   */
  simulateScenario(scenario: 'server-leave' | 'node-failure'): void {
    this.#assertOpen();
    const value =
      scenario === 'server-leave'
        ? new SimulateScenario({ scenario: { case: 'serverLeave', value: true } })
        : new SimulateScenario({ scenario: { case: 'nodeFailure', value: true } });
    this.#engine.send({ case: 'simulate', value });
  }

  /**
   * Leave the room with `reason` (what other participants read as our disconnect reason;
   * livekit-server v1.13 passes on CLIENT_INITIATED, USER_UNAVAILABLE, USER_REJECTED and
   * AGENT_ERROR, and reports anything else as CLIENT_INITIATED), then close everything.
   * Idempotent; no `disconnected` event follows.
   */
  async leave(reason: DisconnectReason = DisconnectReason.CLIENT_INITIATED): Promise<void> {
    if (this.#closed) return;
    await this.#shutdown(reason);
  }

  // ---- internals --------------------------------------------------------------------------

  protected override emit<K extends keyof LiveKitParticipantEvents & string>(
    event: K,
    ...args: LiveKitParticipantEvents[K]
  ): void {
    if (this.#joined) super.emit(event, ...args);
  }

  async #shutdown(leaveReason?: DisconnectReason): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#engine.close(leaveReason);
    this.#release();
    this.removeAllListeners();
  }

  /** End every track, fail pending requests, forget the room. */
  #release(): void {
    for (const track of this.#localTracks) track.end();
    for (const sid of [...this.#remoteTracks.keys()]) this.#endRemoteTrack(sid);
    this.#orphanSources.clear();
    for (const request of this.#requests.values()) {
      request.reject(new LiveKitError('closed', 'participant closed'));
    }
    this.#requests.clear();
  }

  #assertOpen(): void {
    if (this.#closed) throw new LiveKitError('closed', 'participant has left');
  }

  async #updateMetadata(update: {
    name?: string;
    metadata?: string;
    attributes?: Record<string, string>;
  }): Promise<void> {
    this.#assertOpen();
    const requestId = this.#nextRequestId++;
    const done = new Promise<void>((resolve, reject) => {
      const timeoutMs = this.#timeouts.publishMs;
      const timer = setTimeout(() => {
        this.#requests.delete(requestId);
        reject(new LiveKitError('timeout', `metadata update not answered within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#requests.set(requestId, {
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
        reject: (err) => {
          clearTimeout(timer);
          reject(err);
        },
      });
    });
    this.#engine.send({
      case: 'updateMetadata',
      value: new UpdateParticipantMetadata({
        requestId,
        name: update.name ?? '',
        metadata: update.metadata ?? '',
        attributes: update.attributes ?? {},
      }),
    });
    await done;
  }

  #wire(): void {
    const engine = this.#engine;
    engine.on('session', (join, restarted) => this.#onSession(join, restarted));
    engine.on('participantUpdate', (infos) => this.#onParticipants(infos));
    engine.on('remoteTrack', (sid, source) => this.#onRemoteTrack(sid, source));
    engine.on('remoteTrackRemoved', (sid) => this.#endRemoteTrack(sid));
    engine.on('localTrackMuted', (sid, muted) => {
      this.#localTracks.find((track) => track.sid === sid)?.setMuted(muted);
    });
    engine.on('data', (message, sender) => this.#onData(message, sender));
    engine.on('requestResponse', (requestId, ok, message) => {
      const request = this.#requests.get(requestId);
      if (!request) return;
      this.#requests.delete(requestId);
      if (ok) request.resolve();
      else request.reject(new LiveKitError('rejected', `server refused the update: ${message}`));
    });
    engine.on('reconnecting', () => this.emit('reconnecting'));
    engine.on('resumed', () => this.emit('resumed'));
    engine.on('reconnected', () => {
      this.#reapplyDesired();
      this.emit('reconnected');
    });
    engine.on('ended', (end) => this.#onEnded(end));
  }

  #onSession(join: JoinResponse, restarted: boolean): void {
    this.#self = join.participant;
    this.#room = join.room;
    this.#serverVersion = join.serverInfo?.version || join.serverVersion;
    this.#subscribed.clear();
    if (restarted) {
      // A new session: whoever left meanwhile is gone, whoever is here is (re)announced only
      // if new to us; all remote tracks are re-subscribed on the new session.
      const present = new Set(join.otherParticipants.map((p) => p.identity));
      for (const [identity, participant] of this.#participants) {
        if (!present.has(identity))
          this.#removeParticipant(participant, DisconnectReason.UNKNOWN_REASON);
      }
    }
    this.#onParticipants(join.otherParticipants, { announce: restarted, now: true, resync: true });
  }

  /**
   * Take participant infos (join response or update). `announce`: emit events for newcomers;
   * `now`: subscribe on the session being set up; `resync`: re-check every participant's tracks
   * even if its info did not change (a new session has no subscriptions yet).
   */
  #onParticipants(
    infos: ParticipantInfo[],
    options: { announce?: boolean; now?: boolean; resync?: boolean } = { announce: true },
  ): void {
    const toSubscribe: string[] = [];
    for (const info of infos) {
      if (info.identity === this.#self?.identity) {
        if (info.sid === this.#self.sid && info.version >= this.#self.version) this.#self = info;
        continue;
      }
      let participant = this.#participants.get(info.identity);
      if (hasLeft(info)) {
        if (participant && participant.sid === info.sid) {
          participant.update(info);
          this.#removeParticipant(participant, info.disconnectReason);
        }
        continue;
      }
      if (participant && participant.sid !== info.sid) {
        // Same identity, new session (it reconnected in full, or the server restarted): the
        // old one is gone, and the server did not tell us why.
        this.#removeParticipant(participant, DisconnectReason.UNKNOWN_REASON);
        participant = undefined;
      }
      if (!participant) {
        participant = new RemoteParticipant(info);
        this.#participants.set(info.identity, participant);
        if (options.announce) this.emit('participantConnected', participant);
      } else if (participant.isOlderThan(info)) {
        const changes = participant.update(info);
        if (Object.keys(changes).length > 0) this.emit('participantUpdated', participant, changes);
      } else if (!options.resync) {
        continue;
      }
      this.#syncTracks(participant, toSubscribe);
    }
    this.#engine.subscribe(toSubscribe, { now: options.now ?? false });
  }

  /** Subscribe to new audio tracks, end unpublished ones, follow mute changes. */
  #syncTracks(participant: RemoteParticipant, toSubscribe: string[]): void {
    const published = new Set<string>();
    for (const info of participant.audioTracks) {
      published.add(info.sid);
      const track = this.#remoteTracks.get(info.sid);
      track?.setMuted(info.muted);
      if (!track) {
        const orphans = this.#orphanSources.get(info.sid);
        if (orphans) {
          this.#orphanSources.delete(info.sid);
          for (const source of orphans) this.#onRemoteTrack(info.sid, source);
        }
      }
      if (this.#autoSubscribeAudio && !this.#subscribed.has(info.sid)) {
        this.#subscribed.add(info.sid);
        toSubscribe.push(info.sid);
      }
    }
    for (const [sid, track] of this.#remoteTracks) {
      if (track.participant === participant && !published.has(sid)) this.#endRemoteTrack(sid);
    }
  }

  #onRemoteTrack(trackSid: string, source: MediaStreamTrack): void {
    let track = this.#remoteTracks.get(trackSid);
    if (!track) {
      const participant = [...this.#participants.values()].find((p) => p.track(trackSid));
      const info = participant?.track(trackSid);
      if (!participant || !info) {
        // The section was mapped before the participant update naming the track arrived.
        const pending = this.#orphanSources.get(trackSid) ?? [];
        if (!pending.includes(source)) pending.push(source);
        this.#orphanSources.set(trackSid, pending);
        return;
      }
      track = new RemoteAudioTrack(
        { sid: trackSid, name: info.name, muted: info.muted },
        participant,
        this.#log,
      );
      this.#remoteTracks.set(trackSid, track);
      track.bind(source);
      this.emit('trackSubscribed', track, participant);
      return;
    }
    track.bind(source);
  }

  #endRemoteTrack(trackSid: string): void {
    this.#orphanSources.delete(trackSid);
    const track = this.#remoteTracks.get(trackSid);
    if (!track) return;
    this.#remoteTracks.delete(trackSid);
    const participant = track.participant;
    track.end();
    this.emit('trackUnsubscribed', track, participant);
  }

  #removeParticipant(participant: RemoteParticipant, reason: DisconnectReason): void {
    if (this.#participants.get(participant.identity) !== participant) return;
    for (const [sid, track] of this.#remoteTracks) {
      if (track.participant === participant) this.#endRemoteTrack(sid);
    }
    this.#participants.delete(participant.identity);
    this.emit('participantDisconnected', participant, reason);
  }

  #onData(message: DataMessage, sender: DataSender): void {
    const participant =
      (sender.identity && this.#participants.get(sender.identity)) ||
      [...this.#participants.values()].find((p) => p.sid === sender.sid);
    if (message.kind === 'dtmf') {
      this.emit('dtmfReceived', message.code, message.digit, participant || undefined);
    } else {
      this.emit('dataReceived', message.payload, message.topic, participant || undefined);
    }
  }

  /** After a full reconnect the server has the token's name/metadata/attributes again. */
  #reapplyDesired(): void {
    const { name, metadata, attributes } = this.#desired;
    if (name === undefined && metadata === undefined && Object.keys(attributes).length === 0) {
      return;
    }
    this.#updateMetadata({
      ...(name === undefined ? {} : { name }),
      ...(metadata === undefined ? {} : { metadata }),
      attributes: { ...attributes },
    }).catch((err: unknown) => {
      this.#log?.warn({ err }, 'could not re-apply name/metadata/attributes after reconnect');
    });
  }

  #onEnded(end: EngineEnd): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#release();
    this.#log?.info(
      { reason: DisconnectReason[end.reason], err: end.error },
      'participant disconnected',
    );
    this.emit('disconnected', end.reason, end.error);
    this.removeAllListeners();
  }
}
