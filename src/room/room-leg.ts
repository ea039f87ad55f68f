/**
 * The LiveKit side of one call, on our own TypeScript participant (`src/livekit`): a CONNECTOR
 * participant that publishes the caller's voice as one track and hands the call the room's audio.
 * Modelled on LiveKit SIP's room participant (one published track, DTMF as SipDTMF packets,
 * `sip.*`-style attributes), without its codec on the common path:
 * - caller → room: Meta's Opus goes onto the track byte for byte ({@link CallerTrackWriter});
 * - room → caller: one speaker's Opus is forwarded, two or more are decoded and mixed
 *   ({@link RoomAudioRouter}).
 * PCM in and out is there too, for Twilio's μ-law leg and the ringback tone.
 */
import { isIP } from 'node:net';
import type { RoomAgentDispatch } from '@livekit/protocol';
import type { CallEndReason } from '../calls/call-end-reason.js';
import { ConnectorError } from '../errors/connector-error.js';
import { ParticipantKind as ParticipantKindEnum, type ParticipantKind } from '../livekit/index.js';
import {
  DisconnectReason,
  LiveKitError,
  LiveKitParticipant,
  type LocalAudioTrack,
  type RemoteAudioTrack,
} from '../livekit/index.js';
import type { Logger } from '../log/logger.js';
import { FrameClock } from '../media/frame-clock.js';
import { assertOpusPcmRate, type OpusPcmRate } from '../media/opus-codec.js';
import { ToneGenerator } from '../media/tone.js';
import { SafeEventEmitter, logListenerErrors } from '../util/typed-emitter.js';
import {
  CallerTrackWriter,
  type CallerOpusPacket,
  type CallerTrackWriterStats,
} from './caller-track-writer.js';
import { createConnectorToken, type ConnectorKindDetail } from './connector-token.js';
import { dtmfCodeOfDigit, dtmfDigitOfCode } from './dtmf-digit.js';
import { RoomAgentDispatcher } from './room-agent-dispatcher.js';
import {
  RoomAudioRouter,
  type RoomAudioMode,
  type RoomAudioRouterStats,
  type RoomOpusPacket,
} from './room-audio-router.js';

export type { CallerOpusPacket } from './caller-track-writer.js';
export type { RoomAudioMode, RoomOpusPacket } from './room-audio-router.js';

/** Sample rates of the PCM the leg exchanges (Opus wideband and fullband). */
export const ROOM_LEG_SAMPLE_RATES = [16_000, 48_000] as const;
/** Frame duration of all PCM exchanged with the leg. */
export const ROOM_LEG_FRAME_MS = 20;
/** Name of the track carrying the WhatsApp caller's voice. */
export const CALLER_TRACK_NAME = 'whatsapp';
/**
 * Default of {@link RoomLegOptions.reconnectTimeoutMs}: long enough for a livekit-server restart
 * (a few seconds) plus a full reconnect, short of Meta's 20-30 s media rules (the media leg
 * keeps Meta fed meanwhile, but the user hears nothing).
 */
export const ROOM_LEG_RECONNECT_TIMEOUT_MS = 15_000;

/**
 * The LiveKit DisconnectReason the connector leaves with, by why the call ended. LiveKit SIP's
 * mapping for the same situations: a user who declined → USER_REJECTED; busy, unreachable or not
 * answering → USER_UNAVAILABLE; a normal end → CLIENT_INITIATED. livekit-server v1.13.5 passes
 * only CLIENT_INITIATED, USER_UNAVAILABLE, USER_REJECTED and AGENT_ERROR on to the room (and
 * webhooks); anything else reaches them as CLIENT_INITIATED. `room_closed` and
 * `participant_removed` come from the room itself, which ended the session: no leave is sent.
 */
export const DISCONNECT_REASON_OF_END: Readonly<Record<CallEndReason, DisconnectReason>> = {
  user_hangup: DisconnectReason.CLIENT_INITIATED,
  business_hangup: DisconnectReason.CLIENT_INITIATED,
  rejected: DisconnectReason.USER_REJECTED,
  no_answer: DisconnectReason.USER_UNAVAILABLE,
  busy: DisconnectReason.USER_UNAVAILABLE,
  unavailable: DisconnectReason.USER_UNAVAILABLE,
  media_timeout: DisconnectReason.CLIENT_INITIATED,
  failed: DisconnectReason.CLIENT_INITIATED,
  room_closed: DisconnectReason.ROOM_CLOSED,
  participant_removed: DisconnectReason.PARTICIPANT_REMOVED,
  max_duration: DisconnectReason.CLIENT_INITIATED,
  shutdown: DisconnectReason.CLIENT_INITIATED,
  transferred: DisconnectReason.CLIENT_INITIATED,
};

/** Ringback: 425 Hz, 1 s on / 4 s off (ITU-T E.180's common cadence), at −16 dBFS. */
const RINGBACK_HZ = 425;
const RINGBACK_ON_FRAMES = 50;
const RINGBACK_CYCLE_FRAMES = 250;
const RINGBACK_AMPLITUDE = 0.22;

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
  /** Optional - initial participant attributes (e.g. from `buildCallAttributes`). */
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
  /** Required - PCM rate in Hz of `pushCallerAudio` and `audio` frames: 16000 or 48000. */
  sampleRate: number;
  /**
   * Optional - forward a single remote speaker's Opus undecoded (`opus` events) instead of
   * mixing it (`audio` events). Default true; Twilio's leg sets false (it needs PCM).
   */
  forwardSingleSpeaker?: boolean | undefined;
  /**
   * Optional - host addresses for the LiveKit peer connection's ICE candidates. Default:
   * `127.0.0.1` when `url` names a loopback host (livekit-server on this machine), else every
   * non-loopback interface.
   */
  iceHostAddresses?: string[] | undefined;
  /**
   * Optional - how long the leg tries to resume or reconnect after losing livekit-server before
   * it gives up (`disconnected` with `connection-lost`), ms. Default
   * {@link ROOM_LEG_RECONNECT_TIMEOUT_MS}.
   */
  reconnectTimeoutMs?: number | undefined;
  /**
   * Optional - after joining, wait up to this long (ms) until every unmuted audio track already
   * published in the room has delivered a few packets, so the room's audio flows from the first
   * moment the leg is used (a transfer switches the caller over at once). Default 0: no wait.
   */
  awaitRoomAudioMs?: number | undefined;
  /** Optional - logger; a child with the room name is used. */
  logger?: Logger | undefined;
}

/** Packets a remote track must have delivered before the room's audio counts as flowing. */
const ROOM_AUDIO_READY_PACKETS = 2;

/** Kinds of LiveKit participants, as a room leg reports the sender of a data message. */
export type RoomParticipantKind =
  'standard' | 'agent' | 'sip' | 'ingress' | 'egress' | 'connector' | 'unknown';

/** A data packet (`publishData`) another participant sent into the call's room. */
export interface RoomDataMessage {
  /** The packet's topic; undefined when it has none. */
  topic: string | undefined;
  payload: Uint8Array;
  /**
   * Who sent it, as livekit-server forwarded it (the identity and kind come from the sender's
   * token, which only the holder of the API secret can issue); undefined when sent by the server
   * API rather than by a participant.
   */
  from: { identity: string; kind: RoomParticipantKind } | undefined;
}

/** The protocol's participant kind in the call layer's words. */
export function roomParticipantKind(kind: ParticipantKind): RoomParticipantKind {
  switch (kind) {
    case ParticipantKindEnum.STANDARD:
      return 'standard';
    case ParticipantKindEnum.AGENT:
      return 'agent';
    case ParticipantKindEnum.SIP:
      return 'sip';
    case ParticipantKindEnum.INGRESS:
      return 'ingress';
    case ParticipantKindEnum.EGRESS:
      return 'egress';
    case ParticipantKindEnum.CONNECTOR:
      return 'connector';
    default:
      return 'unknown';
  }
}

/** Why the room side ended the leg. The call ends at Meta on any of them. */
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
  kind: ParticipantKind;
}

export interface RoomLegEvents {
  /**
   * How the room's audio comes now: `passthrough` → `opus` events, `mixing` → `audio` events.
   * Emitted before the first packet or frame of the new mode.
   */
  audioMode: [mode: RoomAudioMode];
  /** Passthrough: one Opus packet of the only speaker, as it arrived. */
  opus: [packet: RoomOpusPacket];
  /** Mixing: a 20 ms mono mix of the other participants at `sampleRate`, every 20 ms. */
  audio: [pcm: Int16Array];
  /** A DTMF digit sent into the room (SipDTMF packet); identity undefined when server-sent. */
  dtmf: [digit: string, fromIdentity: string | undefined];
  /** Remote participants joined or left; the full current list. */
  participantsChanged: [participants: RoomLegParticipant[]];
  /** livekit-server was lost; the leg resumes or reconnects (media to the room pauses). */
  reconnecting: [];
  /** Back in the room: `resumed` (same session) or `reconnected` (a new one). */
  reconnected: [how: 'resumed' | 'reconnected'];
  /** The room side ended the leg, or it could not recover (not emitted for `close()`). */
  disconnected: [reason: RoomLegDisconnectReason, code: DisconnectReason];
  error: [error: Error];
  /** A user data packet from another participant (or the server API). */
  data: [message: RoomDataMessage];
}

/** Counters for metrics and tests. */
export interface RoomLegStats {
  caller: CallerTrackWriterStats;
  room: RoomAudioRouterStats;
  /** Remote audio tracks subscribed. */
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

function validate(options: RoomLegOptions): asserts options is RoomLegOptions & {
  sampleRate: OpusPcmRate;
} {
  const bad = (message: string) => new ConnectorError('invalid_argument', message);
  if (!/^(wss?|https?):\/\//.test(options.url ?? ''))
    throw bad('url must be ws(s):// or http(s)://');
  if (!options.apiKey || !options.apiSecret) throw bad('apiKey and apiSecret are required');
  if (!options.roomName) throw bad('roomName is required');
  if (!options.identity) throw bad('identity is required');
  if (!(ROOM_LEG_SAMPLE_RATES as readonly number[]).includes(options.sampleRate)) {
    throw bad('sampleRate must be 16000 or 48000');
  }
  assertOpusPcmRate(options.sampleRate);
}

/** Loopback livekit-server → gather on loopback only (werift never gathers it otherwise). */
function defaultHostAddresses(url: string): string[] | undefined {
  let host: string;
  try {
    host = new URL(url).hostname.replace(/^\[|\]$/g, '');
  } catch {
    return undefined;
  }
  if (host === 'localhost' || (isIP(host) === 4 && host.startsWith('127.'))) return ['127.0.0.1'];
  return undefined;
}

/**
 * One call's participant in its LiveKit room. Join with {@link RoomLeg.join}; leave with
 * {@link RoomLeg.close} and the call's end reason (mapped by {@link DISCONNECT_REASON_OF_END}).
 */
export class RoomLeg extends SafeEventEmitter<RoomLegEvents> {
  readonly roomName: string;
  readonly participantIdentity: string;
  readonly sampleRate: OpusPcmRate;
  readonly #participant: LiveKitParticipant;
  readonly #track: LocalAudioTrack;
  readonly #writer: CallerTrackWriter;
  readonly #router: RoomAudioRouter;
  readonly #log: Logger | undefined;
  readonly #remote = new Set<string>();
  /** RTP packets received per remote track, counted up to {@link ROOM_AUDIO_READY_PACKETS}. */
  readonly #remotePackets = new Map<string, number>();
  #ringback: { clock: FrameClock; tone: ToneGenerator; frame: number } | undefined;
  #closing: Promise<void> | undefined;

  private constructor(
    options: RoomLegOptions & { sampleRate: OpusPcmRate },
    participant: LiveKitParticipant,
    log: Logger | undefined,
  ) {
    super(logListenerErrors(log));
    this.roomName = options.roomName;
    this.participantIdentity = options.identity;
    this.sampleRate = options.sampleRate;
    this.#participant = participant;
    this.#log = log;
    const track = participant.localTracks[0];
    if (!track) throw new ConnectorError('internal', 'the caller track was not published');
    this.#track = track;
    this.#writer = new CallerTrackWriter(track, { sampleRate: options.sampleRate });
    this.#router = new RoomAudioRouter({
      sampleRate: options.sampleRate,
      passthrough: options.forwardSingleSpeaker ?? true,
      onListenerError: (event, err) => log?.error({ err, event }, 'room audio listener threw'),
    });
    this.#router.on('mode', (mode) => {
      this.#log?.debug({ mode }, 'room audio mode');
      this.emit('audioMode', mode);
    });
    this.#router.on('opus', (packet) => this.emit('opus', packet));
    this.#router.on('audio', (pcm) => this.emit('audio', pcm));
  }

  /**
   * Join the room as the connector participant with the caller track published, and make sure
   * the requested agents are dispatched once. Rejects with a ConnectorError (`invalid_argument`
   * for bad options, `unavailable` when livekit-server cannot be reached or refuses the join);
   * nothing is left connected on failure.
   */
  static async join(options: RoomLegOptions): Promise<RoomLeg> {
    validate(options);
    const log = options.logger?.child({ room: options.roomName, component: 'room-leg' });
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
    const hostAddresses = options.iceHostAddresses ?? defaultHostAddresses(options.url);
    let participant: LiveKitParticipant;
    try {
      participant = await LiveKitParticipant.join({
        url: options.url.replace(/^http/, 'ws'),
        token,
        ice: hostAddresses ? { hostAddresses } : {},
        timeouts: { reconnectMs: options.reconnectTimeoutMs ?? ROOM_LEG_RECONNECT_TIMEOUT_MS },
        logger: log,
        audioTracks: [{ name: options.callerTrackName ?? CALLER_TRACK_NAME }],
      });
    } catch (err) {
      throw new ConnectorError(
        'unavailable',
        'could not join the LiveKit room',
        { reason: err instanceof LiveKitError ? err.reason : 'connect failed' },
        { cause: err },
      );
    }
    const leg = new RoomLeg(options, participant, log);
    leg.#attach();
    try {
      await dispatcher.complete(options.roomName, plan);
    } catch (err) {
      await leg.close();
      throw err;
    }
    if (leg.#closing) {
      // The room ended the session while agents were being dispatched.
      throw new ConnectorError('unavailable', 'the room ended the session during join');
    }
    if (options.awaitRoomAudioMs) await leg.#awaitRoomAudio(options.awaitRoomAudioMs);
    log?.debug({ participantSid: participant.sid, agentDispatch: plan.mode }, 'joined the room');
    return leg;
  }

  /** Resolves once each unmuted audio track of the room delivers packets, or after `timeoutMs`. */
  async #awaitRoomAudio(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.#closing && Date.now() < deadline) {
      let pending = 0;
      for (const p of this.#participant.remoteParticipants.values()) {
        for (const track of p.audioTracks) {
          if (track.muted) continue;
          if ((this.#remotePackets.get(track.sid) ?? 0) < ROOM_AUDIO_READY_PACKETS) pending++;
        }
      }
      if (pending === 0) return;
      await new Promise((resolve) => setTimeout(resolve, ROOM_LEG_FRAME_MS / 2));
    }
    this.#log?.debug({ timeoutMs }, 'room audio not all flowing in time; going on');
  }

  /** Server-assigned sid of the connector participant (changes after a full reconnect). */
  get participantSid(): string {
    return this.#participant.sid;
  }

  /** Whether the leg is still in the room (also while reconnecting). */
  get connected(): boolean {
    return this.#closing === undefined && !this.#participant.closed;
  }

  /** How the room's audio reaches the caller right now. */
  get audioMode(): RoomAudioMode {
    return this.#router.mode;
  }

  /** Identities and kinds of the other participants. */
  get participants(): RoomLegParticipant[] {
    return [...this.#participant.remoteParticipants.values()].map((p) => ({
      identity: p.identity,
      sid: p.sid,
      name: p.name,
      kind: p.kind,
    }));
  }

  get stats(): RoomLegStats {
    return {
      caller: this.#writer.stats,
      room: this.#router.stats(),
      remoteTracks: this.#remote.size,
    };
  }

  /** The published caller track's sid (undefined while re-publishing after a reconnect). */
  get callerTrackSid(): string | undefined {
    return this.#track.sid;
  }

  /**
   * Forward one of Meta's Opus packets onto the caller track, byte for byte. Never blocks;
   * dropped while the track is not connected. Ignored while the ringback plays.
   */
  pushCallerOpus(packet: CallerOpusPacket): void {
    if (this.#closing || this.#ringback) return;
    this.#writer.writeOpus(packet);
  }

  /** Encode one 20 ms mono frame at `sampleRate` onto the caller track (Twilio's path). */
  pushCallerAudio(pcm: Int16Array): void {
    if (this.#closing || this.#ringback) return;
    this.#writer.writePcm(pcm);
  }

  /**
   * Play a ringback tone on the caller track (an outbound call ringing), or stop it. While it
   * plays, caller audio is ignored; it stops the moment it is turned off.
   */
  setRingback(on: boolean): void {
    if (!on) {
      this.#ringback?.clock.stop();
      this.#ringback = undefined;
      return;
    }
    if (this.#ringback || this.#closing) return;
    const frameSamples = (this.sampleRate * ROOM_LEG_FRAME_MS) / 1000;
    const silence = new Int16Array(frameSamples);
    const ringback = {
      tone: new ToneGenerator(RINGBACK_HZ, this.sampleRate, RINGBACK_AMPLITUDE),
      frame: 0,
      clock: new FrameClock({
        onTick: () => {
          const inTone = ringback.frame % RINGBACK_CYCLE_FRAMES < RINGBACK_ON_FRAMES;
          ringback.frame++;
          this.#writer.writePcm(inTone ? ringback.tone.next(frameSamples) : silence);
        },
        onError: (err) => this.#log?.warn({ err }, 'ringback frame failed'),
      }),
    };
    this.#ringback = ringback;
    ringback.clock.start();
  }

  /** Whether the ringback tone is playing. */
  get ringbackPlaying(): boolean {
    return this.#ringback !== undefined;
  }

  /** Send a DTMF digit into the room as LiveKit SIP does (SipDTMF data packet, reliable). */
  async sendDtmf(digit: string): Promise<void> {
    const code = dtmfCodeOfDigit(digit);
    this.#requireConnected();
    await this.#participant.sendDtmf(code, digit.toUpperCase());
  }

  /** Send a reliable user data packet on `topic` to one participant. */
  async sendData(topic: string, payload: Uint8Array, destinationIdentity: string): Promise<void> {
    this.#requireConnected();
    await this.#participant.publishData(payload, {
      reliable: true,
      topic,
      destinationIdentities: [destinationIdentity],
    });
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
    this.#requireConnected();
    await this.#participant.setAttributes(attrs);
  }

  /**
   * Leave the room with the DisconnectReason `reason` maps to ({@link DISCONNECT_REASON_OF_END};
   * CLIENT_INITIATED without one). Idempotent; never rejects.
   */
  close(reason?: CallEndReason): Promise<void> {
    this.#closing ??= this.#shutdown(
      reason ? DISCONNECT_REASON_OF_END[reason] : DisconnectReason.CLIENT_INITIATED,
    );
    return this.#closing;
  }

  #requireConnected(): void {
    if (this.#closing || this.#participant.closed) {
      throw new ConnectorError('failed_precondition', 'room leg is not connected');
    }
  }

  #attach(): void {
    const participant = this.#participant;
    for (const track of participant.remoteTracks.values()) this.#addTrack(track);
    participant.on('trackSubscribed', (track) => this.#addTrack(track));
    participant.on('trackUnsubscribed', (track) => this.#removeTrack(track.sid));
    participant.on('participantConnected', () => this.#participantsChanged());
    participant.on('participantDisconnected', () => this.#participantsChanged());
    participant.on('dtmfReceived', (code, digit, from) => {
      const d = digit || dtmfDigitOfCode(code);
      if (d) this.emit('dtmf', d, from?.identity);
    });
    participant.on('dataReceived', (payload, topic, from) => {
      this.emit('data', {
        topic: topic || undefined,
        payload,
        from: from ? { identity: from.identity, kind: roomParticipantKind(from.kind) } : undefined,
      });
    });
    participant.on('reconnecting', () => {
      this.#log?.info('lost livekit-server; reconnecting');
      this.emit('reconnecting');
    });
    participant.on('resumed', () => {
      this.#log?.info('room session resumed');
      this.emit('reconnected', 'resumed');
    });
    participant.on('reconnected', () => {
      this.#log?.info('room session reconnected');
      this.emit('reconnected', 'reconnected');
    });
    participant.on('disconnected', (code, err) => {
      if (this.#closing) return;
      const reason = err ? 'connection-lost' : toDisconnectReason(code);
      this.#log?.info(
        { reason, code: DisconnectReason[code], err: err?.message },
        'room leg disconnected by the room',
      );
      this.#closing = this.#shutdown(undefined).then(() => {
        this.emit('disconnected', reason, code);
        this.removeAllListeners();
      });
    });
  }

  #participantsChanged(): void {
    this.emit('participantsChanged', this.participants);
  }

  #addTrack(track: RemoteAudioTrack): void {
    if (this.#closing || this.#remote.has(track.sid)) return;
    this.#remote.add(track.sid);
    const sid = track.sid;
    track.on('rtp', (packet) => {
      const seen = this.#remotePackets.get(sid) ?? 0;
      if (seen < ROOM_AUDIO_READY_PACKETS) this.#remotePackets.set(sid, seen + 1);
      this.#router.receive(sid, packet);
    });
    track.on('muted', (muted) => this.#router.setMuted(sid, muted));
    track.on('ended', () => this.#removeTrack(sid));
    this.#log?.debug({ trackSid: sid, participant: track.participant.identity }, 'remote audio');
    this.#router.addTrack(sid, track.muted);
  }

  #removeTrack(sid: string): void {
    if (!this.#remote.delete(sid)) return;
    this.#remotePackets.delete(sid);
    this.#router.removeTrack(sid);
  }

  /** `leaveReason` undefined: the room already ended the session. */
  async #shutdown(leaveReason: DisconnectReason | undefined): Promise<void> {
    this.setRingback(false);
    this.#router.close();
    this.#remote.clear();
    if (leaveReason !== undefined) {
      await this.#participant.leave(leaveReason).catch((err: unknown) => {
        this.#log?.warn({ err }, 'leaving the room failed');
      });
      this.removeAllListeners();
    }
  }
}

/** Joins a room leg; rejects like {@link RoomLeg.join}. */
export type RoomLegFactory = (options: RoomLegOptions) => Promise<RoomLeg>;

/** The default factory. */
export const joinRoomLeg: RoomLegFactory = (options) => RoomLeg.join(options);
