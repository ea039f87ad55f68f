import type { RoomAgentDispatch } from '@livekit/protocol';
import {
  AudioSource,
  AudioStream,
  ConnectError,
  DisconnectReason,
  LocalAudioTrack,
  ParticipantKind as RtcParticipantKind,
  Room,
  RoomEvent,
  TrackKind,
  TrackPublishOptions,
  TrackSource,
  type AudioFrame,
  type LocalTrackPublication,
  type ParticipantKind,
  type RemoteParticipant,
  type RemoteTrack,
  type RemoteTrackPublication,
} from '@livekit/rtc-node';
import type { RoomDataMessage, RoomParticipantKind } from '../calls/call-ports.js';
import { ConnectorError } from '../errors/connector-error.js';
import type { Logger } from '../log/logger.js';
import { CallerAudioPublisher } from './caller-audio-publisher.js';
import { createConnectorToken, type ConnectorKindDetail } from './connector-token.js';
import { dtmfCodeOfDigit, dtmfDigitOfCode } from './dtmf-digit.js';
import { FrameClock } from './frame-clock.js';
import { FrameMixer, type FrameMixerInput } from './frame-mixer.js';
import { RoomAgentDispatcher } from './room-agent-dispatcher.js';
import { detachDisconnectedRoom } from './rtc-ffi-listeners.js';
import { SafeEventEmitter, logListenerErrors } from '../util/typed-emitter.js';

/** Sample rates the bridge exchanges with the leg (Opus wideband and fullband). */
export const ROOM_LEG_SAMPLE_RATES = [16_000, 48_000] as const;
/** Frame duration of all PCM exchanged with the bridge. */
export const ROOM_LEG_FRAME_MS = 20;
/** Name of the track carrying the WhatsApp caller's voice. */
export const CALLER_TRACK_NAME = 'whatsapp';
/**
 * Native AudioSource queue. rtc-node's default is 1000 ms, which lets latency grow to a second;
 * the publisher keeps its own (smaller) limit and drops above it, so this only has to be larger.
 */
const AUDIO_SOURCE_QUEUE_MS = 100;

export interface RoomLegOptions {
  /** Required - livekit-server URL; ws(s):// or http(s):// (both are derived from it). */
  url: string;
  /** Required - API key of livekit-server. */
  apiKey: string;
  /** Required - API secret of livekit-server. */
  apiSecret: string;
  /** Required - room to join (created if it does not exist and auto-create is on). */
  roomName: string;
  /** Required - identity of the connector participant. */
  identity: string;
  /** Optional - display name of the participant. */
  name?: string | undefined;
  /** Optional - participant metadata. */
  metadata?: string | undefined;
  /** Optional - initial participant attributes (e.g. from {@link buildCallAttributes}). */
  attributes?: Record<string, string> | undefined;
  /** Optional - agents to dispatch into the room, each exactly once. */
  agents?: RoomAgentDispatch[] | undefined;
  /** Optional - which connector the participant stands for. Default `connector_whatsapp`. */
  kindDetail?: ConnectorKindDetail | undefined;
  /**
   * Optional - join hidden (a grant of the token): others neither see the participant nor its
   * track until the server makes it visible (`UpdateParticipant`). Default false.
   */
  hidden?: boolean | undefined;
  /** Optional - name of the published caller track. Default {@link CALLER_TRACK_NAME}. */
  callerTrackName?: string | undefined;
  /** Required - PCM rate in Hz of audio exchanged with the bridge: 16000 or 48000. */
  sampleRate: number;
  /**
   * Optional - most caller audio (ms) allowed to queue before pushCallerAudio drops frames.
   * Default 60 ms.
   */
  maxCallerQueueMs?: number | undefined;
  /**
   * Optional - after joining, wait up to this long (ms) until every audio track already published
   * in the room is subscribed and mixed, so the first mix frames carry the room rather than
   * silence (a transfer switches the caller over at once). Default 0: no wait.
   */
  awaitRoomAudioMs?: number | undefined;
  /** Optional - logger; a child with the room name is used. */
  logger?: Logger | undefined;
}

/** Why the room side ended the leg. The bridge ends the call at Meta on any of them. */
export type RoomLegDisconnectReason =
  | 'room-deleted'
  | 'room-closed'
  | 'participant-removed'
  | 'duplicate-identity'
  | 'server-shutdown'
  | 'connection-lost'
  | 'other';

/** A remote participant as reported by `participantsChanged`. */
export interface RoomLegParticipant {
  identity: string;
  sid: string;
  name: string;
  /** rtc-node's participant kind (its own enum, not the protocol numbers). */
  kind: ParticipantKind;
}

export interface RoomLegEvents {
  /** 20 ms mono mix of all other participants at `sampleRate`, on a steady clock (silence too). */
  audio: [pcm: Int16Array];
  /** A DTMF digit sent into the room (SipDTMF packet); identity undefined when server-sent. */
  dtmf: [digit: string, fromIdentity: string | undefined];
  /** Remote participants joined or left; the full current list. */
  participantsChanged: [participants: RoomLegParticipant[]];
  /** The room side ended the leg (not emitted for `close()`). */
  disconnected: [reason: RoomLegDisconnectReason, code: DisconnectReason];
  error: [error: Error];
  /** A data packet from another participant (or the server API). */
  data: [message: RoomDataMessage];
}

/** rtc-node's participant kind in the call layer's words. */
export function roomParticipantKind(kind: RtcParticipantKind | undefined): RoomParticipantKind {
  switch (kind) {
    case RtcParticipantKind.STANDARD:
      return 'standard';
    case RtcParticipantKind.AGENT:
      return 'agent';
    case RtcParticipantKind.SIP:
      return 'sip';
    case RtcParticipantKind.INGRESS:
      return 'ingress';
    case RtcParticipantKind.EGRESS:
      return 'egress';
    case RtcParticipantKind.CONNECTOR:
      return 'connector';
    default:
      return 'unknown';
  }
}

/** Counters for metrics and tests. */
export interface RoomLegStats {
  /** Caller frames dropped to keep latency bounded. */
  callerFramesDropped: number;
  /** Caller frames handed to the AudioSource. */
  callerFramesCaptured: number;
  /** Caller audio (ms) waiting to be sent right now: AudioSource queue estimate plus pending. */
  callerQueuedMs: number;
  /** Mix frames emitted. */
  mixFramesEmitted: number;
  /** Remote samples dropped because a participant ran ahead of the mix clock. */
  remoteSamplesDropped: number;
  /** Remote audio tracks currently mixed. */
  remoteTracks: number;
}

function toDisconnectReason(code: DisconnectReason): RoomLegDisconnectReason {
  switch (code) {
    case DisconnectReason.ROOM_DELETED:
      return 'room-deleted';
    case DisconnectReason.ROOM_CLOSED:
      return 'room-closed';
    case DisconnectReason.PARTICIPANT_REMOVED:
      return 'participant-removed';
    case DisconnectReason.DUPLICATE_IDENTITY:
      return 'duplicate-identity';
    case DisconnectReason.SERVER_SHUTDOWN:
    case DisconnectReason.MIGRATION:
      return 'server-shutdown';
    case DisconnectReason.UNKNOWN_REASON:
    case DisconnectReason.SIGNAL_CLOSE:
    case DisconnectReason.CONNECTION_TIMEOUT:
    case DisconnectReason.MEDIA_FAILURE:
    case DisconnectReason.STATE_MISMATCH:
    case DisconnectReason.JOIN_FAILURE:
      return 'connection-lost';
    default:
      return 'other';
  }
}

function validate(options: RoomLegOptions): void {
  const bad = (message: string) => new ConnectorError('invalid_argument', message);
  if (!/^(wss?|https?):\/\//.test(options.url ?? ''))
    throw bad('url must be ws(s):// or http(s)://');
  if (!options.apiKey || !options.apiSecret) throw bad('apiKey and apiSecret are required');
  if (!options.roomName) throw bad('roomName is required');
  if (!options.identity) throw bad('identity is required');
  if (!(ROOM_LEG_SAMPLE_RATES as readonly number[]).includes(options.sampleRate)) {
    throw bad('sampleRate must be 16000 or 48000');
  }
}

interface RemoteAudioInput {
  input: FrameMixerInput;
  reader: ReadableStreamDefaultReader<AudioFrame>;
  /**
   * Frames read from the track so far that were not digital silence (the decoder yields zeros
   * until the track's first packets arrive).
   */
  soundingFrames: number;
}

/** Sounding frames a remote track must have delivered before the room's audio counts as mixed. */
const ROOM_AUDIO_READY_FRAMES = 2;

/** Whether a frame carries anything but (near) digital silence. */
function sounds(pcm: Int16Array): boolean {
  for (let i = 0; i < pcm.length; i += 4) {
    const v = pcm[i] ?? 0;
    if (v > 8 || v < -8) return true;
  }
  return false;
}

/**
 * The LiveKit side of one WhatsApp call: a CONNECTOR participant (kind detail WhatsApp) that
 * publishes the caller's voice as track `whatsapp` and hands the bridge a 20 ms mix of everyone
 * else. Modelled on LiveKit SIP's room participant (one published track, all remote audio mixed
 * on a 20 ms ticker, DTMF as SipDTMF data packets).
 *
 * rtc-node runs one native client per process and delivers every FFI event to every listener, so
 * the leg adds no FFI listeners of its own beyond what rtc-node needs (the Room, one AudioStream
 * per remote audio track, one transient listener per captured frame).
 */
export class RoomLeg extends SafeEventEmitter<RoomLegEvents> {
  readonly roomName: string;
  readonly participantIdentity: string;
  readonly sampleRate: number;
  readonly #room: Room;
  readonly #log: Logger | undefined;
  readonly #samplesPerFrame: number;
  readonly #mixer: FrameMixer;
  readonly #clock: FrameClock;
  readonly #remoteInputs = new Map<string, RemoteAudioInput>();
  #source: AudioSource | undefined;
  #publisher: CallerAudioPublisher | undefined;
  #publication: LocalTrackPublication | undefined;
  #mixFramesEmitted = 0;
  #remoteSamplesDropped = 0;
  #closing: Promise<void> | undefined;
  #ended = false;

  private constructor(options: RoomLegOptions, room: Room) {
    super(logListenerErrors(options.logger));
    this.roomName = options.roomName;
    this.participantIdentity = options.identity;
    this.sampleRate = options.sampleRate;
    this.#room = room;
    this.#log = options.logger?.child({ room: options.roomName, component: 'room-leg' });
    this.#samplesPerFrame = (options.sampleRate * ROOM_LEG_FRAME_MS) / 1000;
    this.#mixer = new FrameMixer(this.#samplesPerFrame);
    this.#clock = new FrameClock(ROOM_LEG_FRAME_MS, () => this.#tick());
  }

  /**
   * Join the room as the WhatsApp connector participant, publish the caller track and make sure
   * the requested agents are dispatched once. Rejects with a ConnectorError (`invalid_argument`
   * for bad options, `unavailable` when livekit-server cannot be reached or refuses the join);
   * nothing is left connected on failure.
   */
  static async join(options: RoomLegOptions): Promise<RoomLeg> {
    validate(options);
    const wsUrl = options.url.replace(/^http/, 'ws');
    const httpUrl = options.url.replace(/^ws/, 'http');
    const dispatcher = new RoomAgentDispatcher(httpUrl, options.apiKey, options.apiSecret);
    const plan = await dispatcher.plan(options.roomName, options.agents);
    const token = await createConnectorToken({
      apiKey: options.apiKey,
      apiSecret: options.apiSecret,
      roomName: options.roomName,
      identity: options.identity,
      name: options.name,
      metadata: options.metadata,
      attributes: options.attributes,
      agents: plan.mode === 'token' ? plan.agents : undefined,
      kindDetail: options.kindDetail,
      hidden: options.hidden,
    });

    const room = new Room();
    const leg = new RoomLeg(options, room);
    leg.#attach();
    try {
      try {
        await room.connect(wsUrl, token, { autoSubscribe: true, dynacast: false });
      } catch (err) {
        const message = err instanceof ConnectError ? err.message : 'connect failed';
        throw new ConnectorError(
          'unavailable',
          'could not join the LiveKit room',
          { reason: message },
          { cause: err },
        );
      }
      await leg.#publish(options.maxCallerQueueMs, options.callerTrackName);
      await dispatcher.complete(options.roomName, plan);
    } catch (err) {
      await leg.close();
      throw err;
    }
    if (leg.#ended) {
      // The room ended the session while we were publishing or dispatching.
      await leg.close();
      throw new ConnectorError('unavailable', 'the room ended the session during join');
    }
    // Tracks subscribed before our listeners ran (defensive: rtc-node normally replays them).
    for (const participant of room.remoteParticipants.values()) {
      for (const pub of participant.trackPublications.values()) {
        if (pub.track) leg.#addRemoteTrack(pub.track, pub, participant);
      }
    }
    leg.#clock.start();
    if (options.awaitRoomAudioMs) await leg.#awaitRoomAudio(options.awaitRoomAudioMs);
    leg.#log?.debug({ participantSid: leg.participantSid, agentDispatch: plan.mode }, 'joined');
    return leg;
  }

  /**
   * Resolves once each audio track published in the room delivers sound into the mix (a
   * subscription alone is not enough: its first frames are silence until its packets flow), or
   * after `timeoutMs` (a participant who is silent just makes the join take that long).
   */
  async #awaitRoomAudio(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.#ended && Date.now() < deadline) {
      let pending = 0;
      for (const participant of this.#room.remoteParticipants.values()) {
        for (const pub of participant.trackPublications.values()) {
          if (pub.kind !== TrackKind.KIND_AUDIO) continue;
          const entry = this.#remoteInputs.get(pub.sid ?? '');
          if (!entry || entry.soundingFrames < ROOM_AUDIO_READY_FRAMES) pending++;
        }
      }
      if (pending === 0) return;
      await new Promise((resolve) => setTimeout(resolve, ROOM_LEG_FRAME_MS / 2));
    }
    this.#log?.debug({ timeoutMs }, 'room audio not all subscribed in time; going on');
  }

  /** Server-assigned sid of the connector participant ('' before join completes). */
  get participantSid(): string {
    return this.#room.localParticipant?.sid ?? '';
  }

  /** Whether the leg is still in the room. */
  get connected(): boolean {
    return !this.#ended && this.#room.isConnected;
  }

  /** Identities and kinds of the other participants. */
  get participants(): RoomLegParticipant[] {
    return [...this.#room.remoteParticipants.values()].map((p) => ({
      identity: p.identity,
      sid: p.sid ?? '',
      name: p.name ?? '',
      kind: p.kind,
    }));
  }

  get stats(): RoomLegStats {
    let dropped = this.#remoteSamplesDropped;
    for (const { input } of this.#remoteInputs.values()) dropped += input.droppedSamples;
    return {
      callerFramesDropped: this.#publisher?.droppedFrames ?? 0,
      callerFramesCaptured: this.#publisher?.capturedFrames ?? 0,
      callerQueuedMs: this.#publisher?.queuedMs ?? 0,
      mixFramesEmitted: this.#mixFramesEmitted,
      remoteSamplesDropped: dropped,
      remoteTracks: this.#remoteInputs.size,
    };
  }

  /**
   * Publish one 20 ms mono frame of the caller's voice (Int16 at `sampleRate`). Never blocks:
   * when the queue towards the room is full the frame is dropped rather than delayed.
   */
  pushCallerAudio(pcm: Int16Array): void {
    this.#publisher?.push(pcm);
  }

  /** Send a DTMF digit into the room as LiveKit SIP does (SipDTMF data packet, reliable). */
  async sendDtmf(digit: string): Promise<void> {
    const code = dtmfCodeOfDigit(digit);
    const local = this.#requireConnected();
    await local.publishDtmf(code, digit.toUpperCase());
  }

  /** Set (merge) attributes of the connector participant; an empty value deletes a key. */
  async setAttributes(attrs: Record<string, string>): Promise<void> {
    for (const [key, value] of Object.entries(attrs)) {
      if (typeof value !== 'string' || key === '') {
        throw new ConnectorError(
          'invalid_argument',
          'attributes must map non-empty keys to strings',
        );
      }
    }
    await this.#requireConnected().setAttributes(attrs);
  }

  /** Send a reliable data packet on `topic` to one participant. */
  async sendData(topic: string, payload: Uint8Array, destinationIdentity: string): Promise<void> {
    await this.#requireConnected().publishData(payload, {
      reliable: true,
      topic,
      destination_identities: [destinationIdentity],
    });
  }

  /** Leave the room: stop the mix clock, unpublish, disconnect. Idempotent; never rejects. */
  close(): Promise<void> {
    this.#closing ??= this.#shutdown(true);
    return this.#closing;
  }

  #requireConnected() {
    const local = this.#room.localParticipant;
    if (this.#ended || !local || !this.#room.isConnected) {
      throw new ConnectorError('failed_precondition', 'room leg is not connected');
    }
    return local;
  }

  #attach(): void {
    const room = this.#room;
    room.on(RoomEvent.TrackSubscribed, (track, pub, participant) =>
      this.#addRemoteTrack(track, pub, participant),
    );
    room.on(RoomEvent.TrackUnsubscribed, (track) => this.#removeRemoteTrack(track.sid ?? ''));
    room.on(RoomEvent.ParticipantConnected, () => this.#participantsChanged());
    room.on(RoomEvent.ParticipantDisconnected, () => this.#participantsChanged());
    room.on(RoomEvent.DtmfReceived, (code, digit, participant) => {
      const d = digit || dtmfDigitOfCode(code);
      if (d) this.emit('dtmf', d, participant?.identity);
    });
    room.on(RoomEvent.DataReceived, (payload, participant, _kind, topic) => {
      this.emit('data', {
        topic: topic || undefined,
        payload,
        from: participant
          ? { identity: participant.identity, kind: roomParticipantKind(participant.kind) }
          : undefined,
      });
    });
    room.on(RoomEvent.Disconnected, (code) => {
      if (this.#closing) return;
      const reason = toDisconnectReason(code);
      this.#log?.info({ reason, code }, 'room leg disconnected by the room');
      this.#closing = this.#shutdown(false).then(() => {
        this.emit('disconnected', reason, code);
      });
    });
  }

  #participantsChanged(): void {
    this.emit('participantsChanged', this.participants);
  }

  async #publish(maxCallerQueueMs: number | undefined, trackName?: string): Promise<void> {
    const source = new AudioSource(this.sampleRate, 1, AUDIO_SOURCE_QUEUE_MS);
    this.#source = source;
    this.#publisher = new CallerAudioPublisher(source, {
      maxQueuedMs: maxCallerQueueMs,
      onError: (err) => this.emit('error', err),
    });
    const track = LocalAudioTrack.createAudioTrack(trackName ?? CALLER_TRACK_NAME, source);
    const opts = new TrackPublishOptions();
    opts.source = TrackSource.SOURCE_MICROPHONE;
    try {
      this.#publication = await this.#room.localParticipant!.publishTrack(track, opts);
    } catch (err) {
      throw new ConnectorError(
        'unavailable',
        'could not publish the caller track',
        {},
        {
          cause: err,
        },
      );
    }
  }

  #addRemoteTrack(
    track: RemoteTrack,
    pub: RemoteTrackPublication,
    participant: RemoteParticipant,
  ): void {
    if (this.#ended || track.kind !== TrackKind.KIND_AUDIO) return;
    const sid = pub.sid ?? track.sid ?? '';
    if (sid === '' || this.#remoteInputs.has(sid)) return;
    const stream = new AudioStream(track, {
      sampleRate: this.sampleRate,
      numChannels: 1,
      frameSizeMs: ROOM_LEG_FRAME_MS,
    });
    const entry: RemoteAudioInput = {
      input: this.#mixer.addInput(),
      reader: stream.getReader(),
      soundingFrames: 0,
    };
    this.#remoteInputs.set(sid, entry);
    this.#log?.debug({ trackSid: sid, participant: participant.identity }, 'mixing remote track');
    void this.#readRemote(sid, entry);
  }

  async #readRemote(sid: string, entry: RemoteAudioInput): Promise<void> {
    try {
      for (;;) {
        const { done, value } = await entry.reader.read();
        if (done) break;
        if (entry.soundingFrames < ROOM_AUDIO_READY_FRAMES && sounds(value.data)) {
          entry.soundingFrames++;
        }
        entry.input.push(value.data);
      }
    } catch (err) {
      if (!this.#ended) this.#log?.warn({ err, trackSid: sid }, 'remote audio stream failed');
    } finally {
      this.#removeRemoteTrack(sid, entry);
    }
  }

  #removeRemoteTrack(sid: string, only?: RemoteAudioInput): void {
    const entry = this.#remoteInputs.get(sid);
    if (!entry || (only && entry !== only)) return;
    this.#remoteInputs.delete(sid);
    this.#remoteSamplesDropped += entry.input.droppedSamples;
    this.#mixer.removeInput(entry.input);
    entry.reader.cancel().catch(() => undefined);
  }

  #tick(): void {
    const pcm = this.#mixer.mix();
    this.#mixFramesEmitted++;
    this.emit('audio', pcm);
  }

  async #shutdown(clientInitiated: boolean): Promise<void> {
    this.#ended = true;
    this.#clock.stop();
    this.#publisher?.close();
    for (const sid of [...this.#remoteInputs.keys()]) this.#removeRemoteTrack(sid);
    if (clientInitiated && this.#room.isConnected) {
      const local = this.#room.localParticipant;
      if (local && this.#publication?.sid) {
        await local.unpublishTrack(this.#publication.sid).catch((err: unknown) => {
          this.#log?.debug({ err }, 'unpublish failed');
        });
      }
      await this.#room.disconnect().catch((err: unknown) => {
        this.#log?.warn({ err }, 'disconnect failed');
      });
    } else {
      // The server ended the session: rtc-node keeps the Room on the process-wide FFI client.
      detachDisconnectedRoom(this.#room);
      this.#room.removeAllListeners();
    }
    await this.#source?.close().catch(() => undefined);
    this.#source = undefined;
    if (clientInitiated) this.removeAllListeners();
  }
}
