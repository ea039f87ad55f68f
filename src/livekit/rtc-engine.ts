import {
  AddTrackRequest,
  DataChannelInfo,
  DisconnectReason,
  LeaveRequest_Action,
  MuteTrackRequest,
  ReconnectReason,
  SessionDescription,
  SignalTarget,
  SyncState,
  TrackPublishedResponse,
  TrackType,
  TrickleRequest,
  UpdateSubscription,
  type DataPacket,
  type JoinResponse,
  type LeaveRequest,
  type MediaSectionsRequirement,
  type TrackInfo,
} from '@livekit/protocol';
import {
  MediaStream,
  type MediaStreamTrack,
  type RTCDataChannel,
  type RTCRtpTransceiver,
} from 'werift';
import type { Logger } from '../log/index.js';
import { SafeEventEmitter, logListenerErrors } from '../util/typed-emitter.js';
import {
  MAX_DATA_PACKET_BYTES,
  ReliableReceiveFilter,
  ReliableSendLog,
  decodeDataPacket,
  type DataMessage,
  type DataSender,
} from './data-packets.js';
import { LiveKitError } from './livekit-errors.js';
import type { LocalAudioTrack } from './local-audio-track.js';
import type {
  IceOptions,
  IceServer,
  PeerConnectionMode,
  ResolvedTimeouts,
} from './participant-options.js';
import {
  PeerTransport,
  type IceCandidateInit,
  type PeerConnectionState,
} from './peer-transport.js';
import { ReconnectSupervisor, ResumeRefusedError } from './reconnect-supervisor.js';
import { SignalClient, type SignalRequestMessage } from './signal-client.js';
import type { SignalSocketFactory } from './signal-socket.js';
import type { SignalPath } from './signal-url.js';

/** Labels LiveKit gives its data channels (client and server side alike). */
const RELIABLE_CHANNEL = '_reliable';
const LOSSY_CHANNEL = '_lossy';
/**
 * Empty receive sections put in the first single-PC offer, so the first subscriptions need no
 * extra section (client-sdk-js adds 3 audio + 3 video; we only ever receive audio).
 */
const INITIAL_RECEIVE_SECTIONS = 2;

export interface RtcEngineOptions {
  url: string;
  token: string;
  mode: PeerConnectionMode;
  ice: IceOptions;
  timeouts: ResolvedTimeouts;
  socketFactory: SignalSocketFactory;
  logger?: Logger | undefined;
}

/** Why the engine ended; `error` is set when it was not a clean leave. */
export interface EngineEnd {
  reason: DisconnectReason;
  error?: LiveKitError | undefined;
}

export interface RtcEngineEvents {
  /** A session started: the first join, or a full reconnect (`restarted`). */
  session: [join: JoinResponse, restarted: boolean];
  participantUpdate: [participants: JoinResponse['otherParticipants']];
  /** The server muted/unmuted one of our tracks (MuteTrackRequest from the server). */
  localTrackMuted: [trackSid: string, muted: boolean];
  /** A media section now carries remote track `trackSid`; RTP comes through `source`. */
  remoteTrack: [trackSid: string, source: MediaStreamTrack];
  /** The remote track is no longer delivered on any section. */
  remoteTrackRemoved: [trackSid: string];
  data: [message: DataMessage, sender: DataSender];
  /** Reply to a request that carried a request id (UpdateParticipantMetadata). */
  requestResponse: [requestId: number, ok: boolean, message: string];
  reconnecting: [];
  resumed: [];
  reconnected: [];
  /** The engine is closed for good (not emitted for {@link RtcEngine.close}). */
  ended: [end: EngineEnd];
}

/** A local track's current publication. */
interface Publication {
  track: LocalAudioTrack;
  transceiver: RTCRtpTransceiver;
  /** AddTrackRequest.cid: werift's sender track id, which the offer's msid carries. */
  cid: string;
  /** The server's TrackInfo once published. */
  info?: TrackInfo | undefined;
}

interface PendingPublish {
  resolve: (info: TrackInfo) => void;
  reject: (err: LiveKitError) => void;
  timer: NodeJS.Timeout;
}

/**
 * The transport side of a LiveKit participant: the signal client, one (single-PC) or two
 * (publisher + subscriber) werift peer connections, their negotiation and ICE, the data
 * channels, which media section carries which remote track, and recovery (resume, then full
 * reconnect) through the {@link ReconnectSupervisor}. Room-level bookkeeping (participants,
 * subscriptions, attributes) is the participant's.
 */
export class RtcEngine extends SafeEventEmitter<RtcEngineEvents> {
  readonly signal: SignalClient;
  #path: SignalPath;
  #token: string;
  #join: JoinResponse | undefined;
  #publisher: PeerTransport | undefined;
  #subscriber: PeerTransport | undefined;
  #reliable: RTCDataChannel | undefined;
  #lossy: RTCDataChannel | undefined;
  readonly #publications = new Map<LocalAudioTrack, Publication>();
  readonly #pendingPublish = new Map<string, PendingPublish>();
  /** Per transport: media section id → remote track sid, as the server last described it. */
  readonly #midToTrack = new Map<PeerTransport, Map<string, string>>();
  readonly #sendLog = new ReliableSendLog();
  readonly #receiveFilter = new ReliableReceiveFilter();
  readonly #supervisor: ReconnectSupervisor;
  /** Waiters for a state change (connection, data channel), woken on any change. */
  readonly #changeWaiters = new Set<() => void>();
  #everConnected = false;
  /** The first join in flight (aborted if the connection is lost before it completes). */
  #joining: AbortController | undefined;
  #closed = false;
  readonly #log: Logger | undefined;

  constructor(private readonly options: RtcEngineOptions) {
    super(logListenerErrors(options.logger, 'engine listener threw'));
    this.#log = options.logger;
    this.#token = options.token;
    this.#path = options.mode === 'dual' ? 'v0' : 'v1';
    this.signal = new SignalClient({
      socketFactory: options.socketFactory,
      connectTimeoutMs: options.timeouts.signalConnectMs,
      logger: options.logger,
    });
    this.#supervisor = new ReconnectSupervisor({
      deadlineMs: options.timeouts.reconnectMs,
      logger: options.logger,
      hooks: {
        resume: (signal) => this.#resume(signal),
        restart: (signal) => this.#restart(signal),
      },
    });
    this.#supervisor.on('reconnecting', () => this.emit('reconnecting'));
    this.#supervisor.on('resumed', () => {
      this.#wake();
      this.emit('resumed');
    });
    this.#supervisor.on('reconnected', () => {
      this.#wake();
      this.emit('reconnected');
    });
    this.#supervisor.on('failed', (error) =>
      this.#end({ reason: error.disconnectReason ?? DisconnectReason.SIGNAL_CLOSE, error }),
    );
    this.#wireSignal();
  }

  /** Single peer connection (true) or publisher + subscriber. */
  get singlePeerConnection(): boolean {
    return this.#path === 'v1';
  }

  get joinResponse(): JoinResponse | undefined {
    return this.#join;
  }

  get closed(): boolean {
    return this.#closed;
  }

  get recovering(): boolean {
    return this.#supervisor.recovering;
  }

  /**
   * First join: signal session, peer connection(s), wait until connected. `tracks` are
   * published with the join (in the join request itself in single-PC mode).
   */
  async connect(tracks: LocalAudioTrack[]): Promise<JoinResponse> {
    const controller = new AbortController();
    this.#joining = controller;
    try {
      const join = await this.#startSession(tracks, false, controller.signal);
      if (controller.signal.aborted) throw controller.signal.reason;
      this.signal.markReady();
      return join;
    } catch (err) {
      throw controller.signal.aborted ? controller.signal.reason : err;
    } finally {
      this.#joining = undefined;
    }
  }

  /** Publish a local track: AddTrackRequest, TrackPublished, then offer its section. */
  async publish(track: LocalAudioTrack): Promise<void> {
    this.#assertOpen();
    if (this.#publications.has(track)) return;
    // During a recovery the session (and its publisher) is being replaced: publish on the one
    // that comes back.
    await this.#waitUntil(
      () => !this.#supervisor.recovering && this.#publisher !== undefined,
      this.options.timeouts.reconnectMs,
      undefined,
      'reconnection',
    );
    const publisher = this.#publisher;
    if (!publisher) throw new LiveKitError('closed', 'not connected');
    const publication = this.#addPublication(publisher, track);
    try {
      const published = this.#awaitPublished(publication.cid);
      this.signal.send({ case: 'addTrack', value: addTrackRequest(publication) });
      const info = await published;
      this.#attach(publication, info);
      await this.#negotiate(publisher);
    } catch (err) {
      // Not published: a later full reconnect must not publish it either.
      this.#publications.delete(track);
      throw err;
    }
  }

  /**
   * Send a request to the server: queued while reconnecting, unless `now` (requests that build
   * the new session, e.g. its subscriptions, right after a full reconnect).
   */
  send(message: SignalRequestMessage, options: { now?: boolean } = {}): void {
    if (this.#closed) return;
    if (options.now) this.signal.sendNow(message);
    else this.signal.send(message);
  }

  /**
   * Subscribe to remote tracks. With one peer connection, our own offer follows at once: the
   * server reuses a free receive section of ours for each track, but being the answerer it can
   * only ask us to renegotiate, after a fixed debounce (150 ms in livekit-server's transport when
   * the last negotiation is recent, which it always is right after a join). The server reads
   * signal messages in order, so the offer reaches it after the subscription and its answer
   * already maps the track: the audio starts ~120 ms sooner. The server's later request is still
   * honoured (one more offer, no gap). `now` as for {@link send}.
   */
  subscribe(trackSids: string[], options: { now?: boolean } = {}): void {
    if (trackSids.length === 0) return;
    this.send(
      { case: 'subscription', value: new UpdateSubscription({ trackSids, subscribe: true }) },
      options,
    );
    const publisher = this.#publisher;
    if (!publisher || !this.singlePeerConnection || this.#closed) return;
    if (this.#supervisor.recovering && !options.now) return; // the recovery negotiates anew
    this.#negotiate(publisher).catch((err: unknown) => this.#negotiationFailed(publisher, err));
  }

  /**
   * Send a data packet on the reliable or lossy channel. Waits (within the peer-connection
   * timeout) for the channel to be open, e.g. during a full reconnect.
   */
  async sendData(packet: DataPacket, reliable: boolean): Promise<void> {
    this.#assertOpen();
    const join = this.#join;
    if (join?.participant) {
      packet.participantIdentity = join.participant.identity;
      packet.participantSid = join.participant.sid;
    }
    const channel = await this.#openChannel(reliable);
    if (reliable) this.#sendLog.stamp(packet);
    const bytes = packet.toBinary();
    if (bytes.length > MAX_DATA_PACKET_BYTES) {
      throw new LiveKitError(
        'invalid-argument',
        `data packet of ${bytes.length} bytes exceeds LiveKit's ${MAX_DATA_PACKET_BYTES}`,
      );
    }
    channel.send(Buffer.from(bytes));
    if (reliable) this.#sendLog.record(packet.sequence, bytes);
  }

  /**
   * Leave (LeaveRequest with `reason`, when connected) and close everything; idempotent. No
   * `ended` event: the caller knows.
   */
  async close(reason?: DisconnectReason): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#supervisor.close();
    if (reason !== undefined) this.signal.leave(reason);
    else this.signal.close();
    await this.#teardown();
    this.removeAllListeners();
  }

  // ---- sessions ---------------------------------------------------------------------------

  /** Join (first or full reconnect) and bring the media path up. */
  async #startSession(
    tracks: LocalAudioTrack[],
    restarted: boolean,
    abort: AbortSignal,
  ): Promise<JoinResponse> {
    // Audio is subscribed explicitly by the participant (JoinOptions.autoSubscribeAudio): with
    // auto-subscribe the server would also subscribe video and ask for video sections.
    const autoSubscribe = false;
    const publications: Publication[] = [];
    let published: Promise<TrackInfo>[] = [];
    let join: JoinResponse;
    if (this.#path === 'v1') {
      const publisher = this.#createPublisher(this.#iceServers());
      publisher.addRecvTransceivers(INITIAL_RECEIVE_SECTIONS);
      for (const track of tracks) publications.push(this.#addPublication(publisher, track));
      published = publications.map((p) => this.#awaitPublished(p.cid));
      // A failed join rejects these before anyone awaits them: mark them handled.
      for (const p of published) p.catch(() => undefined);
      const offer = await publisher.createOffer();
      if (!offer) throw new LiveKitError('protocol', 'first offer could not be created');
      try {
        join = await this.signal.join(
          {
            url: this.options.url,
            token: this.#token,
            path: 'v1',
            autoSubscribe,
            publisherOffer: new SessionDescription({ type: 'offer', sdp: offer.sdp, id: offer.id }),
            addTrackRequests: publications.map(addTrackRequest),
          },
          (response) => this.#adopt(response, restarted),
        );
      } catch (err) {
        this.#rejectPending(err);
        if (this.options.mode === 'auto' && err instanceof LiveKitError && err.httpStatus === 404) {
          // /rtc/v1 is unknown before livekit-server v1.9.2: two peer connections on /rtc.
          this.#log?.info('server has no single peer connection endpoint, using two');
          await this.#teardown();
          this.#path = 'v0';
          return this.#startSession(tracks, restarted, abort);
        }
        throw err;
      }
    } else {
      join = await this.signal.join(
        { url: this.options.url, token: this.#token, path: 'v0', autoSubscribe },
        (response) => {
          // The server's first subscriber offer follows the join response at once.
          const servers = this.#iceServers(response);
          this.#createSubscriber(servers);
          const publisher = this.#createPublisher(servers);
          for (const track of tracks) publications.push(this.#addPublication(publisher, track));
          published = publications.map((p) => this.#awaitPublished(p.cid));
          for (const p of published) p.catch(() => undefined);
          for (const p of publications) {
            this.signal.sendNow({ case: 'addTrack', value: addTrackRequest(p) });
          }
          this.#adopt(response, restarted);
        },
      );
      const publisher = this.#publisher;
      // With no tracks the offer still carries the data channels, so the publisher is up
      // before the first publish or data packet (the server's `fast_publish` hint).
      if (publisher && publications.length === 0) await this.#negotiate(publisher);
    }
    const infos = await raceAbort(Promise.all(published), abort);
    publications.forEach((publication, i) => {
      const info = infos[i];
      if (info) this.#attach(publication, info);
    });
    if (this.#path === 'v0' && publications.length > 0 && this.#publisher) {
      await this.#negotiate(this.#publisher);
    }
    await this.#waitConnected(abort);
    this.#everConnected = true;
    return join;
  }

  #adopt(join: JoinResponse, restarted: boolean): void {
    this.#join = join;
    this.#sendLog.reset();
    this.emit('session', join, restarted);
  }

  /** The resume hook: same session over a new socket, media path checked. */
  async #resume(abort: AbortSignal): Promise<void> {
    const participantSid = this.#join?.participant?.sid;
    if (!participantSid || !this.#publisher) {
      throw new ResumeRefusedError('nothing to resume');
    }
    const outcome = await raceAbort(
      this.signal.resume({
        url: this.options.url,
        token: this.#token,
        path: this.#path,
        autoSubscribe: false,
        resume: { participantSid, reason: ReconnectReason.RR_SIGNAL_DISCONNECTED },
      }),
      abort,
    );
    if (!outcome.resumed) throw leaveError(outcome.leave);
    this.#sendSyncState();
    // Restart ICE only where the media path is down: after a signal-only cut the peer
    // connection still works and an ICE restart would interrupt it for nothing.
    for (const transport of this.#transports()) {
      if (transport === this.#publisher && transport.connectionState !== 'connected') {
        await this.#negotiate(transport, { iceRestart: true });
      }
    }
    await this.#waitConnected(abort);
    const lastSeq = outcome.response?.lastMessageSeq ?? 0;
    this.signal.markReady();
    for (const bytes of this.#sendLog.after(lastSeq)) this.#reliable?.send(Buffer.from(bytes));
  }

  /** The full reconnect hook: new session, tracks published again. */
  async #restart(abort: AbortSignal): Promise<void> {
    await this.#teardown();
    if (this.#closed) throw new LiveKitError('closed', 'closed during reconnect');
    await this.#startSession([...this.#publications.keys()], true, abort);
    this.signal.markReady();
  }

  /** Close the peer connections and forget per-session state (tracks stay, detached). */
  async #teardown(): Promise<void> {
    this.#rejectPending(new LiveKitError('closed', 'session ended'));
    for (const [, mapping] of this.#midToTrack) {
      for (const trackSid of new Set(mapping.values())) this.emit('remoteTrackRemoved', trackSid);
    }
    this.#midToTrack.clear();
    for (const publication of this.#publications.values()) publication.track.detach();
    const transports = this.#transports();
    this.#publisher = undefined;
    this.#subscriber = undefined;
    this.#reliable = undefined;
    this.#lossy = undefined;
    await Promise.all(transports.map((t) => t.close()));
    this.#wake();
  }

  #end(end: EngineEnd): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#supervisor.close();
    this.signal.close();
    void this.#teardown().finally(() => {
      this.emit('ended', end);
      this.removeAllListeners();
    });
  }

  #lost(loss: 'signal' | 'peer' | 'server-resume' | 'server-reconnect'): void {
    if (this.#closed) return;
    if (this.#joining) {
      // The first join fails instead: the caller gets an error rather than a participant that
      // is recovering before it ever worked.
      this.#joining.abort(
        new LiveKitError('unreachable', `connection lost during the join (${loss})`),
      );
      return;
    }
    this.#supervisor.lost(loss, { resumable: this.#everConnected });
  }

  // ---- peer connections ---------------------------------------------------------------------

  /** ICE servers for a new peer connection (see {@link IceOptions.servers}). */
  #iceServers(join?: JoinResponse): IceServer[] {
    const configured = this.options.ice.servers;
    if (configured !== 'from-server') return configured ?? [];
    const fromServer = (join ?? this.#join)?.iceServers ?? [];
    return fromServer.map((server) => ({
      urls: server.urls,
      username: server.username || undefined,
      credential: server.credential || undefined,
    }));
  }

  #createPublisher(iceServers: IceServer[]): PeerTransport {
    const publisher = this.#createTransport('publisher', iceServers);
    this.#publisher = publisher;
    this.#reliable = this.#watchChannel(
      publisher.createDataChannel(RELIABLE_CHANNEL, { ordered: true }),
    );
    this.#lossy = this.#watchChannel(
      publisher.createDataChannel(LOSSY_CHANNEL, { ordered: false, maxRetransmits: 0 }),
    );
    return publisher;
  }

  #createSubscriber(iceServers: IceServer[]): PeerTransport {
    const subscriber = this.#createTransport('subscriber', iceServers);
    this.#subscriber = subscriber;
    subscriber.on('dataChannel', (channel) => this.#watchChannel(channel));
    return subscriber;
  }

  #createTransport(target: 'publisher' | 'subscriber', iceServers: IceServer[]): PeerTransport {
    const transport = new PeerTransport({
      target,
      ice: this.options.ice,
      iceServers,
      logger: this.#log,
    });
    const signalTarget = target === 'publisher' ? SignalTarget.PUBLISHER : SignalTarget.SUBSCRIBER;
    transport.on('iceCandidate', (candidate) => {
      this.signal.send({
        case: 'trickle',
        value: new TrickleRequest({
          candidateInit: JSON.stringify(candidate),
          target: signalTarget,
        }),
      });
    });
    transport.on('connectionState', (state) => this.#onConnectionState(transport, state));
    transport.on('track', (transceiver, track) => this.#onTrack(transport, transceiver, track));
    this.#midToTrack.set(transport, new Map());
    return transport;
  }

  #onConnectionState(transport: PeerTransport, state: PeerConnectionState): void {
    this.#log?.debug({ target: transport.target, state }, 'peer connection state');
    this.#wake();
    if (state === 'failed' && this.#transports().includes(transport)) this.#lost('peer');
  }

  /** Offer from the publisher (ours), when no offer is in flight; otherwise queued. */
  async #negotiate(
    transport: PeerTransport,
    options: { iceRestart?: boolean } = {},
  ): Promise<void> {
    if (transport.closed) return;
    const offer = await transport.createOffer(options);
    if (!offer) return;
    this.signal.send({
      case: 'offer',
      value: new SessionDescription({ type: 'offer', sdp: offer.sdp, id: offer.id }),
    });
  }

  #transports(): PeerTransport[] {
    return [this.#publisher, this.#subscriber].filter((t): t is PeerTransport => t !== undefined);
  }

  /** Wait until every transport is connected and the reliable channel open. */
  async #waitConnected(abort: AbortSignal): Promise<void> {
    await this.#waitUntil(
      () => {
        const transports = this.#transports();
        return (
          transports.length > 0 &&
          transports.every((t) => t.connectionState === 'connected') &&
          this.#reliable?.readyState === 'open'
        );
      },
      this.options.timeouts.peerConnectMs,
      abort,
      'peer connection',
    );
  }

  async #openChannel(reliable: boolean): Promise<RTCDataChannel> {
    const pick = () => (reliable ? this.#reliable : this.#lossy);
    await this.#waitUntil(
      () => pick()?.readyState === 'open',
      this.options.timeouts.peerConnectMs,
      undefined,
      'data channel',
    );
    const channel = pick();
    if (!channel) throw new LiveKitError('closed', 'data channel gone');
    return channel;
  }

  /** Resolve when `ready()` holds; re-checked on every state change. */
  #waitUntil(
    ready: () => boolean,
    timeoutMs: number,
    abort: AbortSignal | undefined,
    what: string,
  ): Promise<void> {
    if (ready()) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const done = (err?: LiveKitError) => {
        clearTimeout(timer);
        this.#changeWaiters.delete(check);
        abort?.removeEventListener('abort', onAbort);
        if (err) reject(err);
        else resolve();
      };
      const check = () => {
        if (this.#closed) done(new LiveKitError('closed', `closed while waiting for ${what}`));
        else if (ready()) done();
      };
      const onAbort = () =>
        done(
          abort?.reason instanceof LiveKitError
            ? abort.reason
            : new LiveKitError('closed', `gave up waiting for ${what}`),
        );
      const timer = setTimeout(
        () => done(new LiveKitError('timeout', `${what} not ready within ${timeoutMs} ms`)),
        timeoutMs,
      );
      this.#changeWaiters.add(check);
      abort?.addEventListener('abort', onAbort, { once: true });
    });
  }

  #wake(): void {
    for (const check of [...this.#changeWaiters]) check();
  }

  // ---- data channels ----------------------------------------------------------------------

  #watchChannel(channel: RTCDataChannel): RTCDataChannel {
    channel.stateChanged.subscribe(() => this.#wake());
    channel.onMessage.subscribe((data) => {
      if (typeof data === 'string') return;
      const decoded = decodeDataPacket(data);
      if (!decoded) return;
      if (!this.#receiveFilter.accept(decoded.packet)) return;
      this.emit('data', decoded.message, decoded.sender);
    });
    return channel;
  }

  // ---- local tracks -----------------------------------------------------------------------

  #addPublication(publisher: PeerTransport, track: LocalAudioTrack): Publication {
    const transceiver = publisher.addSendTransceiver();
    // The msid of the section carries the sender's track id; the server matches it to the
    // AddTrackRequest with that cid.
    transceiver.sender.setStreams([new MediaStream({ id: `${track.name}-stream` })]);
    const publication: Publication = { track, transceiver, cid: transceiver.sender.trackId };
    this.#publications.set(track, publication);
    return publication;
  }

  #awaitPublished(cid: string): Promise<TrackInfo> {
    return new Promise<TrackInfo>((resolve, reject) => {
      const timeoutMs = this.options.timeouts.publishMs;
      const timer = setTimeout(() => {
        this.#pendingPublish.delete(cid);
        reject(new LiveKitError('timeout', `track not published within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#pendingPublish.set(cid, { resolve, reject, timer });
    });
  }

  #onTrackPublished(response: TrackPublishedResponse): void {
    const pending = this.#pendingPublish.get(response.cid);
    if (!pending || !response.track) return;
    this.#pendingPublish.delete(response.cid);
    clearTimeout(pending.timer);
    pending.resolve(response.track);
  }

  #rejectPending(err: unknown): void {
    const error = err instanceof LiveKitError ? err : new LiveKitError('closed', String(err));
    for (const [cid, pending] of this.#pendingPublish) {
      clearTimeout(pending.timer);
      pending.reject(error);
      this.#pendingPublish.delete(cid);
    }
  }

  #attach(publication: Publication, info: TrackInfo): void {
    const { track, transceiver } = publication;
    publication.info = info;
    track.attach(transceiver.sender, info.sid, (muted) =>
      this.signal.send({ case: 'mute', value: new MuteTrackRequest({ sid: info.sid, muted }) }),
    );
  }

  // ---- remote tracks ----------------------------------------------------------------------

  /** Apply the server's mid → track mapping that comes with an offer or answer. */
  #remap(transport: PeerTransport, midToTrackId: Record<string, string>): void {
    const mapping = this.#midToTrack.get(transport);
    if (!mapping) return;
    const next = new Map(Object.entries(midToTrackId));
    for (const [mid, trackSid] of mapping) {
      if (next.get(mid) !== trackSid) {
        mapping.delete(mid);
        if (![...next.values()].includes(trackSid)) this.emit('remoteTrackRemoved', trackSid);
      }
    }
    for (const [mid, trackSid] of next) mapping.set(mid, trackSid);
  }

  /** After a description is applied: announce mapped sections that have a receiving track. */
  #announceMapped(transport: PeerTransport): void {
    const mapping = this.#midToTrack.get(transport);
    if (!mapping) return;
    for (const transceiver of transport.pc.getTransceivers()) {
      const mid = transceiver.mid;
      if (mid === null) continue;
      let trackSid = mapping.get(mid);
      const fromMsid = transceiver.receiver.remoteTrackId;
      if (!trackSid && fromMsid?.startsWith('TR_') && transceiver.currentDirection !== 'inactive') {
        // Servers that send no mid → track map still name the track in the section's msid.
        trackSid = fromMsid;
        mapping.set(mid, trackSid);
      }
      if (!trackSid) continue;
      this.#log?.debug(
        {
          target: transport.target,
          mid,
          track: trackSid,
          sources: transceiver.receiver.tracks.length,
        },
        'remote track mapped',
      );
      for (const source of transceiver.receiver.tracks) this.emit('remoteTrack', trackSid, source);
    }
  }

  #onTrack(
    transport: PeerTransport,
    transceiver: RTCRtpTransceiver,
    track: MediaStreamTrack,
  ): void {
    const mid = transceiver.mid;
    const trackSid = mid === null ? undefined : this.#midToTrack.get(transport)?.get(mid);
    if (trackSid) this.emit('remoteTrack', trackSid, track);
  }

  // ---- signal -----------------------------------------------------------------------------

  #wireSignal(): void {
    const signal = this.signal;
    signal.on('lost', () => this.#lost('signal'));
    signal.on('answer', (answer) => void this.#onAnswer(answer));
    signal.on('offer', (offer) => void this.#onOffer(offer));
    signal.on('trickle', (trickle) => void this.#onTrickle(trickle));
    signal.on('trackPublished', (response) => this.#onTrackPublished(response));
    signal.on('mediaSectionsRequirement', (requirement) => void this.#onMediaSections(requirement));
    signal.on('update', (update) => this.emit('participantUpdate', update.participants));
    signal.on('mute', (mute) => this.emit('localTrackMuted', mute.sid, mute.muted));
    signal.on('leave', (leave) => this.#onLeave(leave));
    signal.on('refreshToken', (token) => {
      // Used for later reconnects, so an expiring token does not end a long call.
      this.#token = token;
    });
    signal.on('requestResponse', (response) => {
      this.emit('requestResponse', response.requestId, response.reason === 0, response.message);
    });
    signal.on('trackUnpublished', (response) => {
      this.#log?.warn({ track: response.trackSid }, 'server unpublished a local track');
    });
    signal.on('subscriptionResponse', (response) => {
      this.#log?.warn({ track: response.trackSid, err: response.err }, 'subscription failed');
    });
  }

  async #onAnswer(answer: SessionDescription): Promise<void> {
    const publisher = this.#publisher;
    if (!publisher) return;
    this.#log?.debug({ id: answer.id, midToTrackId: answer.midToTrackId }, 'answer');
    try {
      this.#remap(publisher, answer.midToTrackId);
      const { renegotiate } = await publisher.applyAnswer({ sdp: answer.sdp, id: answer.id });
      this.#announceMapped(publisher);
      if (renegotiate) await this.#negotiate(publisher, renegotiate);
    } catch (err) {
      this.#negotiationFailed(publisher, err);
    }
  }

  async #onOffer(offer: SessionDescription): Promise<void> {
    const subscriber = this.#subscriber;
    if (!subscriber) {
      this.#log?.warn('server offer without a subscriber peer connection ignored');
      return;
    }
    try {
      this.#remap(subscriber, offer.midToTrackId);
      const answer = await subscriber.answerOffer({ sdp: offer.sdp, id: offer.id });
      this.#announceMapped(subscriber);
      this.signal.send({
        case: 'answer',
        value: new SessionDescription({ type: 'answer', sdp: answer.sdp, id: answer.id }),
      });
    } catch (err) {
      this.#negotiationFailed(subscriber, err);
    }
  }

  async #onTrickle(trickle: TrickleRequest): Promise<void> {
    const transport =
      trickle.target === SignalTarget.SUBSCRIBER && this.#subscriber
        ? this.#subscriber
        : this.#publisher;
    if (!transport) return;
    let candidate: IceCandidateInit;
    try {
      candidate = JSON.parse(trickle.candidateInit) as IceCandidateInit;
    } catch {
      this.#log?.warn('unparsable ICE candidate ignored');
      return;
    }
    await transport.addIceCandidate(candidate);
    // The server marks its last candidate: werift can stop waiting for more and finish its
    // checks (it keeps pacing checks while candidates may still come).
    if (trickle.final) await transport.addIceCandidate(undefined);
  }

  async #onMediaSections(requirement: MediaSectionsRequirement): Promise<void> {
    const publisher = this.#publisher;
    if (!publisher || !this.singlePeerConnection) return;
    this.#log?.debug({ audio: requirement.numAudios }, 'media sections requirement');
    // Video is never subscribed (see autoSubscribeAudio), so only audio sections are added.
    publisher.addRecvTransceivers(requirement.numAudios);
    try {
      await this.#negotiate(publisher);
    } catch (err) {
      this.#negotiationFailed(publisher, err);
    }
  }

  #onLeave(leave: LeaveRequest): void {
    const action = leave.action;
    this.#log?.info(
      { reason: DisconnectReason[leave.reason], action: LeaveRequest_Action[action] },
      'server sent leave',
    );
    if (action === LeaveRequest_Action.RESUME) this.#lost('server-resume');
    else if (action === LeaveRequest_Action.RECONNECT || leave.canReconnect) {
      this.#lost('server-reconnect');
    } else {
      this.#end({ reason: leave.reason });
    }
  }

  #negotiationFailed(transport: PeerTransport, err: unknown): void {
    if (this.#closed || transport.closed) return;
    this.#log?.warn({ err, target: transport.target }, 'negotiation failed');
    // A peer connection that cannot take the server's description is out of step with the
    // session: only a full reconnect brings them back in line.
    this.#supervisor.lost('server-reconnect');
  }

  #sendSyncState(): void {
    const publisher = this.#publisher;
    if (!publisher) return;
    // The server's view of the negotiation it keeps: in single-PC mode our offer and its answer
    // on the publisher, else its offer and our answer on the subscriber (client-sdk-js does the
    // same; the server validates our published tracks against it and asks for a full reconnect
    // if it lost them).
    const single = this.singlePeerConnection;
    const negotiated = single ? publisher.descriptions() : this.#subscriber?.descriptions();
    const offerSdp = single ? negotiated?.local : negotiated?.remote;
    const answerSdp = single ? negotiated?.remote : negotiated?.local;
    const channels: DataChannelInfo[] = [];
    for (const channel of [this.#reliable, this.#lossy]) {
      if (channel && channel.id !== undefined) {
        channels.push(
          new DataChannelInfo({
            label: channel.label,
            id: channel.id,
            target: SignalTarget.PUBLISHER,
          }),
        );
      }
    }
    const subscribed = new Set<string>();
    for (const mapping of this.#midToTrack.values())
      for (const sid of mapping.values()) subscribed.add(sid);
    this.signal.send({
      case: 'syncState',
      value: new SyncState({
        offer: offerSdp ? new SessionDescription({ type: 'offer', sdp: offerSdp }) : undefined,
        answer: answerSdp ? new SessionDescription({ type: 'answer', sdp: answerSdp }) : undefined,
        subscription: new UpdateSubscription({ trackSids: [...subscribed], subscribe: true }),
        publishTracks: [...this.#publications.values()].flatMap((p) =>
          p.info ? [new TrackPublishedResponse({ cid: p.cid, track: p.info })] : [],
        ),
        dataChannels: channels,
      }),
    });
  }

  #assertOpen(): void {
    if (this.#closed) throw new LiveKitError('closed', 'participant is closed');
  }
}

function addTrackRequest(publication: Publication): AddTrackRequest {
  return new AddTrackRequest({
    cid: publication.cid,
    name: publication.track.name,
    type: TrackType.AUDIO,
    source: publication.track.source,
    muted: publication.track.muted,
    // We forward what the encoder made (possibly DTX) and cannot produce RED.
    disableRed: true,
  });
}

function leaveError(leave: LeaveRequest): LiveKitError {
  if (leave.action === LeaveRequest_Action.RECONNECT || leave.canReconnect) {
    return new ResumeRefusedError(
      `server refused the resume (${DisconnectReason[leave.reason] ?? leave.reason})`,
    );
  }
  return new LiveKitError('left', `server ended the session (${DisconnectReason[leave.reason]})`, {
    disconnectReason: leave.reason,
  });
}

/** `promise`, or a rejection as soon as `abort` fires. */
function raceAbort<T>(promise: Promise<T>, abort: AbortSignal): Promise<T> {
  if (abort.aborted) return Promise.reject(abortError(abort));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(abortError(abort));
    abort.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        abort.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (err: unknown) => {
        abort.removeEventListener('abort', onAbort);
        reject(err);
      },
    );
  });
}

function abortError(abort: AbortSignal): LiveKitError {
  return abort.reason instanceof LiveKitError
    ? abort.reason
    : new LiveKitError('closed', 'aborted');
}
