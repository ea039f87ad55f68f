/**
 * The bridge parts every WhatsApp call shares, whatever its direction: its legs, the pumps
 * between them, its timers, its status in the room, the requests waiting on it, and its end.
 * `InboundCall` and `OutboundCall` add how each direction is set up with Meta and ended there.
 */
import { RoomAgentDispatch } from '@livekit/protocol';
import type { Logger } from '../log/index.js';
import {
  buildCallAttributes,
  CALL_ATTRIBUTE,
  type WhatsAppCallStatus,
} from '../room/call-attributes.js';
import { SafeEventEmitter } from '../util/typed-emitter.js';
import type { CallEndReason } from './call-end-reason.js';
import { endedCallError, RoomJoinError, TransferNotPossibleError } from './call-errors.js';
import type { WhatsAppUser } from '../whatsapp/whatsapp-user.js';
import type {
  MetaContext,
  ParticipantParams,
  TransferParams,
  TransferResult,
} from './call-params.js';
import type {
  GraphCallsPort,
  MediaLegPort,
  RoomDataMessage,
  RoomJoiner,
  RoomLegPort,
} from './call-ports.js';
import { endCallAtMeta, type MetaEndOutcome, type MetaEndRetry } from './meta-call-end.js';

/**
 * How long a transfer's new room leg may wait for the audio already published in that room to be
 * subscribed and mixed before the caller is switched over, ms: without it the caller would hear
 * the new room's first few hundred milliseconds as silence. A room with no one in it costs no wait.
 */
export const TRANSFER_ROOM_AUDIO_WAIT_MS = 1500;

/**
 * After a transfer's switch, longest the caller keeps hearing the old room while the new room's
 * mix is still silence, ms. The new leg's first frames can be silence even when its room has
 * sound (its frame clock catches up after the join kept the event loop busy); the caller hears
 * the old room instead until the new one sounds, so the switch itself adds no gap.
 */
export const TRANSFER_CROSSOVER_MAX_MS = 400;

/** Direction as seen from the business: inbound = user-initiated, outbound = business-initiated. */
export type CallDirection = 'inbound' | 'outbound';

/**
 * Lifecycle of a call.
 * - outbound: `dialing` (Meta is ringing the user; no SDP answer yet) → `ringing` (answer applied,
 *   media connecting, phone still ringing) → `active` (picked up) → `ending` → `ended`
 * - inbound: `accepting` (answer built, pre_accept sent, media connecting) → `active` → `ending`
 *   → `ended`
 * `ending`: both legs are gone, and the call waits for Meta to confirm its end (terminate or
 * reject, retried in the background); `ended` once Meta confirmed, or nothing had to be sent.
 */
export type CallState = 'dialing' | 'ringing' | 'accepting' | 'active' | 'ending' | 'ended';

/** What ending a call takes at Meta, decided by each kind of call (`metaEndAction`). */
export type MetaEndAction =
  /** The call may have been answered (or pre-answered) at Meta: only terminate ends it. */
  | 'terminate'
  /** An inbound call known never to have been answered at Meta: decline it. */
  | 'reject'
  /** Nothing exists at Meta to end (or Meta ended it already). */
  | 'none';

/** Settings every call shares (from the configuration). */
export interface CallSettings {
  /** livekit-server the room legs join, and the keys the connector token is signed with. */
  livekit: { url: string; apiKey: string; apiSecret: string };
  /** PCM rate between the legs, Hz (16000). */
  sampleRate: number;
  /** Leave `whatsapp.phoneNumber` out of the participant attributes. */
  hidePhoneNumber: boolean;
  /**
   * Play a ringback tone into the room while a business-initiated call rings (until the user
   * answers). Optional; default false (`CALL_PLAY_RINGBACK`).
   */
  playRingback?: boolean;
  /**
   * No RTP from Meta for this long ends an answered call as `media_timeout`, ms. Armed when the
   * call is answered: Meta's relay stops sending when the user is gone, and its DTLS close is
   * not guaranteed to reach us.
   */
  mediaTimeoutMs: number;
  /** Longest an answered call may last before it ends as `max_duration`, ms; 0 = no limit. */
  maxDurationMs: number;
  /** Rounds of ending a call at Meta while Meta cannot be reached or fails (5xx, 429). */
  metaEndRetry: MetaEndRetry;
}

/** What a call is built from besides its parameters. */
export interface CallDependencies {
  settings: CallSettings;
  graph: GraphCallsPort;
  joinRoom: RoomJoiner;
  /** The call's WebRTC leg to Meta, created for it. */
  media: MediaLegPort;
  logger: Logger;
}

/** The parts of a call's parameters the base class uses. */
export interface WhatsAppCallInit {
  direction: CallDirection;
  meta: MetaContext;
  /** The WhatsApp user (callee for outbound, caller for inbound) when known. */
  user: WhatsAppUser | undefined;
  participant: ParticipantParams;
  destinationCountry: string | undefined;
  bizOpaqueCallbackData: string | undefined;
  /** Unanswered for this long → ended as `no_answer`, ms. */
  ringingTimeoutMs: number;
}

export interface WhatsAppCallEvents extends Record<string, unknown[]> {
  /** State changed (after the change is complete). */
  state: [state: CallState];
  /** The call is fully ended: legs released and Meta's side settled. */
  ended: [reason: CallEndReason];
  /** The call moved to another room; its media now flows there. */
  transferred: [from: { roomName: string; identity: string }, to: TransferResult];
  /** A data packet from a participant of the call's current room. */
  roomData: [message: RoomDataMessage];
}

/** A snapshot for listings (`calls` CLI, metrics, tests). No secrets. */
export interface CallSummary {
  callId: string;
  direction: CallDirection;
  state: CallState;
  roomName: string;
  participantIdentity: string;
  phoneNumberId: string;
  createdAt: number;
  answeredAt: number | undefined;
  endedAt: number | undefined;
  endReason: CallEndReason | undefined;
  /** Seconds since answer (or until end). */
  durationSeconds: number;
}

/** Options of {@link WhatsAppCall.close}. */
export interface CloseOptions {
  /** Meta already ended the call (terminate webhook, REJECTED status, DTLS closed by Meta). */
  endedAtMeta?: boolean;
  /** Access token to end the call at Meta with, instead of the call's own. Secret. */
  accessToken?: string | undefined;
}

interface Waiter {
  resolve: () => void;
  reject: (err: Error) => void;
}

/**
 * One WhatsApp call bridged into one LiveKit room: the parts both directions share. It owns the
 * media leg to Meta, the room leg, the audio and DTMF pumps between them, its timers (ringing,
 * media watchdog, maximum duration), the `whatsapp.*` status attributes, the waiters of requests
 * that wait for it, and its end: one idempotent {@link close} that never throws, releases both
 * legs at once and then ends the call at Meta — `terminate` or `reject` as the subclass decides
 * from what it sent to Meta — retrying in the background until Meta confirms.
 */
export abstract class WhatsAppCall extends SafeEventEmitter<WhatsAppCallEvents> {
  readonly direction: CallDirection;
  readonly phoneNumberId: string;
  readonly destinationCountry: string | undefined;
  readonly bizOpaqueCallbackData: string | undefined;
  readonly createdAt = Date.now();
  readonly media: MediaLegPort;
  protected readonly user: WhatsAppUser | undefined;
  /** The connector participant and its room: replaced by a transfer. */
  protected participant: ParticipantParams;
  protected readonly graph: GraphCallsPort;
  protected readonly settings: CallSettings;
  protected log: Logger;
  /** Meta credentials; the token is a secret (never logged, never in summaries). */
  readonly #meta: MetaContext;
  readonly #joinRoom: RoomJoiner;
  #callId = '';
  #room: RoomLegPort | undefined;
  #state: CallState;
  #answeredAt: number | undefined;
  #endedAt: number | undefined;
  #endReason: CallEndReason | undefined;
  #ringingTimer: NodeJS.Timeout | undefined;
  #watchdog: NodeJS.Timeout | undefined;
  #maxDurationTimer: NodeJS.Timeout | undefined;
  #closing: Promise<void> | undefined;
  #ended: Promise<MetaEndOutcome> | undefined;
  #metaEnded = false;
  /** Wakes the Meta end loop early (Meta confirmed by webhook, or the retries were abandoned). */
  readonly #metaEndWake = new AbortController();
  readonly #answeredWaiters = new Set<Waiter>();
  readonly #mediaWaiters = new Set<Waiter>();
  #callerMediaSeen = false;
  #disconnected = false;
  /** A transfer under way (one at a time), and what happened to the old leg meanwhile. */
  #transfer: { oldLegLost: CallEndReason | undefined } | undefined;
  /** The room the call was transferred from, last time (`whatsapp.transferredFrom`). */
  #transferredFrom: string | undefined;
  /**
   * Right after a transfer's switch: the old leg whose mix still reaches the caller until the new
   * leg's mix sounds or `until` (epoch ms) passes; `end()` stops it (idempotent).
   */
  #crossover: { from: RoomLegPort; until: number; end: () => void } | undefined;
  /**
   * The leg whose Opus packets go to Meta, and the offset that continues its sequence numbers
   * from the previous leg's: the media leg drops packets whose sequence goes backwards, and each
   * room leg numbers its own.
   */
  #opusSequence: { room: RoomLegPort; offset: number; last: number } | undefined;

  protected constructor(init: WhatsAppCallInit, deps: CallDependencies) {
    super((event, err) => deps.logger.error({ err, event }, 'call listener threw'));
    this.direction = init.direction;
    this.#meta = init.meta;
    this.phoneNumberId = init.meta.phoneNumberId;
    this.user = init.user;
    this.participant = init.participant;
    this.destinationCountry = init.destinationCountry || undefined;
    this.bizOpaqueCallbackData = init.bizOpaqueCallbackData || undefined;
    this.media = deps.media;
    this.graph = deps.graph;
    this.settings = deps.settings;
    this.#joinRoom = deps.joinRoom;
    this.log = deps.logger;
    this.#state = init.direction === 'outbound' ? 'dialing' : 'accepting';
    this.#ringingTimer = setTimeout(() => {
      if (this.#answeredAt !== undefined || this.isClosed) return;
      this.log.info({ ringingTimeoutMs: init.ringingTimeoutMs }, 'ringing timeout');
      void this.close('no_answer');
    }, init.ringingTimeoutMs);
    this.#ringingTimer.unref();
    this.#wireMedia();
  }

  // ---- identity and state ----------------------------------------------------------------------

  /** The room the call is in now (a transfer changes it). */
  get roomName(): string {
    return this.participant.roomName;
  }

  /** Identity of the connector participant in {@link roomName}. */
  get participantIdentity(): string {
    return this.participant.identity;
  }

  /** Meta's call id; '' for a dialled call until Meta answered the connect. */
  get callId(): string {
    return this.#callId;
  }

  get state(): CallState {
    return this.#state;
  }

  get endReason(): CallEndReason | undefined {
    return this.#endReason;
  }

  /** Closing or closed: requests can no longer change the call. */
  get isClosed(): boolean {
    return this.#state === 'ending' || this.#state === 'ended';
  }

  /** Fully ended: legs released and Meta's side settled. */
  get isEnded(): boolean {
    return this.#state === 'ended';
  }

  /** The user picked up (outbound) or Meta accepted our answer (inbound). */
  get isAnswered(): boolean {
    return this.#answeredAt !== undefined;
  }

  /**
   * A DisconnectWhatsAppCall was served for this call: it is gone for the API (a second one is
   * `not_found`) even while it still waits for Meta.
   */
  get isDisconnected(): boolean {
    return this.#disconnected;
  }

  /** The room leg, once joined. */
  get room(): RoomLegPort | undefined {
    return this.#room;
  }

  /** Credentials for Graph requests of this call (subclasses only; the token is secret). */
  protected get meta(): MetaContext {
    return this.#meta;
  }

  /**
   * The Meta credentials the call runs with, for its crash-recovery record only: the record seals
   * the token (or names the configured one) so another process can end the call. Secret.
   */
  recoveryCredentials(): Readonly<MetaContext> {
    return this.#meta;
  }

  /** Mark the call as disconnected through the API (see {@link isDisconnected}). */
  markDisconnected(): void {
    this.#disconnected = true;
  }

  protected setCallId(callId: string): void {
    this.#callId = callId;
    this.log = this.log.child({ callId });
  }

  /** Room attributes describing this call now (or with the given status). */
  attributes(status: WhatsAppCallStatus = roomStatusFor(this.#state)): Record<string, string> {
    const attributes = buildCallAttributes({
      callStatus: status,
      callId: this.#callId || undefined,
      phoneNumber: this.user?.phoneNumber,
      userId: this.user?.userId ?? this.user?.parentUserId,
      username: this.user?.username,
      includePhoneNumber: !this.settings.hidePhoneNumber,
      direction: this.direction,
      destinationCountry: this.destinationCountry,
      endReason: status === 'hangup' ? this.#endReason : undefined,
    });
    if (this.#transferredFrom) attributes[CALL_ATTRIBUTE.transferredFrom] = this.#transferredFrom;
    return attributes;
  }

  summary(): CallSummary {
    const end = this.#endedAt ?? Date.now();
    return {
      callId: this.#callId,
      direction: this.direction,
      state: this.#state,
      roomName: this.roomName,
      participantIdentity: this.participantIdentity,
      phoneNumberId: this.phoneNumberId,
      createdAt: this.createdAt,
      answeredAt: this.#answeredAt,
      endedAt: this.#endedAt,
      endReason: this.#endReason,
      durationSeconds: this.#answeredAt ? Math.max(0, (end - this.#answeredAt) / 1000) : 0,
    };
  }

  // ---- room leg ----------------------------------------------------------------------------------

  /**
   * Join the call's room as the connector participant; the call's attributes are in the token, so
   * they are there from the first moment. Resolves once the leg is attached (audio and DTMF flow);
   * a leg that arrives after the call closed is told why and sent away. Rejects with
   * {@link RoomJoinError}.
   */
  protected async joinRoom(): Promise<void> {
    const room = await this.#joinLeg(this.participant);
    if (this.isClosed) {
      await this.#leaveRoom(room);
      return;
    }
    this.#room = room;
    this.#wireRoom(room);
    this.#updateRingback();
    void this.#publishStatus();
  }

  /**
   * Join a room leg for `p` with the call's attributes in its token (plus, for a transfer, where
   * it comes from); `awaitRoomAudioMs` lets the join wait for the room's audio to be mixed.
   * Rejects with RoomJoinError.
   */
  async #joinLeg(
    p: ParticipantParams,
    transfer?: { fromRoom: string; awaitRoomAudioMs: number },
  ): Promise<RoomLegPort> {
    const attributes = { ...p.attributes, ...this.attributes() };
    if (transfer) attributes[CALL_ATTRIBUTE.transferredFrom] = transfer.fromRoom;
    try {
      return await this.#joinRoom({
        url: this.settings.livekit.url,
        apiKey: this.settings.livekit.apiKey,
        apiSecret: this.settings.livekit.apiSecret,
        roomName: p.roomName,
        identity: p.identity,
        name: p.name || undefined,
        metadata: p.metadata || undefined,
        attributes,
        agents: p.agents.map((a) => new RoomAgentDispatch(a)),
        sampleRate: this.settings.sampleRate,
        ...(transfer ? { awaitRoomAudioMs: transfer.awaitRoomAudioMs } : {}),
        logger: this.log,
      });
    } catch (err) {
      throw new RoomJoinError(p.roomName, { cause: err });
    }
  }

  /**
   * The wiring between the call and one room leg: the room's audio (one speaker's Opus, or a
   * mix) and DTMF go to Meta, its data messages to the call, and the leg ending ends the call.
   * Every handler first checks that `room` is still the call's leg, so a transfer only has to
   * swap `#room`: the old leg's late packets, digits and its own departure are ignored from that
   * moment on, without removing listeners — except that during a transfer's crossover the old
   * leg keeps feeding Meta until the new one carries sound. (Kept in this one function so a room
   * leg of a different kind only has to be wired here.)
   */
  #wireRoom(room: RoomLegPort): void {
    const current = () => this.#room === room && !this.isClosed;
    const sourceOf = (mode: string) => (mode === 'passthrough' ? 'opus' : 'pcm');
    /** Whether this leg's audio goes to Meta now; `sounding`: this packet or frame has sound. */
    const feedsMeta = (sounding: boolean): boolean => {
      if (this.isClosed) return false;
      const crossover = this.#crossover;
      if (this.#room === room) {
        if (!crossover) return true;
        if (!sounding && Date.now() < crossover.until) return false;
        crossover.end();
        this.media.selectAudioSource(sourceOf(room.audioMode));
        return true;
      }
      return crossover?.from === room;
    };
    // Room → Meta: the room leg says whether it forwards one speaker's Opus or mixes.
    if (!this.#crossover) this.media.selectAudioSource(sourceOf(room.audioMode));
    room.on('audioMode', (mode) => {
      if (this.isClosed) return;
      const feeding = this.#crossover ? this.#crossover.from === room : this.#room === room;
      if (feeding) this.media.selectAudioSource(sourceOf(mode));
    });
    room.on('opus', (packet) => {
      // DTX packets (a byte or three) are silence.
      if (!feedsMeta(packet.payload.byteLength > 3)) return;
      let sequence = this.#opusSequence;
      if (sequence?.room !== room) {
        // A new leg's packets continue the numbering Meta's stream had (first leg: unchanged).
        const next = sequence ? (sequence.last + 1) & 0xffff : packet.sequenceNumber;
        sequence = { room, offset: next - packet.sequenceNumber, last: next };
        this.#opusSequence = sequence;
      }
      const sequenceNumber = (packet.sequenceNumber + sequence.offset) & 0xffff;
      sequence.last = sequenceNumber;
      this.media.sendOpus({ ...packet, sequenceNumber });
    });
    room.on('audio', (pcm) => {
      if (feedsMeta(!isSilentFrame(pcm))) this.media.sendAudio(pcm);
    });
    room.on('reconnecting', () => this.log.info('room leg reconnecting'));
    room.on('reconnected', (how) => this.log.info({ how }, 'room leg back'));
    room.on('dtmf', (digit) => {
      if (current()) this.media.sendDtmf(digit);
    });
    room.on('disconnected', (reason) => {
      if (!current()) return;
      const endReason: CallEndReason =
        reason === 'participant-removed' || reason === 'duplicate-identity'
          ? 'participant_removed'
          : 'room_closed';
      // During a transfer the call lives on if the new room takes it; decided when it ends.
      if (this.#transfer) this.#transfer.oldLegLost = endReason;
      else void this.close(endReason);
    });
    room.on('error', (err) => {
      if (this.#room === room) this.log.warn({ err }, 'room leg error');
    });
    room.on('data', (message) => {
      if (current()) this.onRoomData(message);
    });
  }

  /** A data message from a participant of the call's current room (see `RoomLegPortEvents`). */
  protected onRoomData(message: RoomDataMessage): void {
    this.emit('roomData', message);
  }

  /**
   * Send a data packet to one participant of the call's current room. Resolves without sending
   * when the room leg cannot send data or the call has no leg.
   */
  async sendRoomData(
    topic: string,
    payload: Uint8Array,
    destinationIdentity: string,
  ): Promise<void> {
    const room = this.#room;
    if (!room?.sendData || this.isClosed) return;
    await room.sendData(topic, payload, destinationIdentity);
  }

  // ---- transfer --------------------------------------------------------------------------------

  /**
   * Move the call into another room without touching the Meta leg: join the new room as the
   * connector participant first (with the call's attributes plus `whatsapp.transferredFrom`),
   * then switch the caller's audio and DTMF to it in one step, then tell the old room the call
   * left (`whatsapp.callStatus` `hangup`, `whatsapp.endReason` `transferred`,
   * `whatsapp.transferredTo`) and leave it. The caller hears the old room until the new room's
   * mix carries sound (at most {@link TRANSFER_CROSSOVER_MAX_MS} after the switch), so the
   * switch itself adds no silence. A failed join leaves the call where it was (rejects with
   * RoomJoinError).
   * @throws TransferNotPossibleError before the room leg exists, during another transfer, or to
   *   the room and identity the call is in already; CallEndedError once the call is closing.
   */
  async transfer(params: Omit<TransferParams, 'callId'>): Promise<TransferResult> {
    if (this.isClosed) throw this.endedError();
    const old = this.#room;
    if (!old) throw new TransferNotPossibleError(this.#callId, 'not_in_a_room');
    if (this.#transfer || this.#crossover) {
      throw new TransferNotPossibleError(this.#callId, 'transfer_in_progress');
    }
    const from = { roomName: this.roomName, identity: this.participantIdentity };
    const next: ParticipantParams = {
      roomName: params.roomName,
      identity: params.identity ?? this.participant.identity,
      name: params.name ?? this.participant.name,
      metadata: params.metadata ?? this.participant.metadata,
      attributes: params.attributes ?? this.participant.attributes,
      agents: params.agents ?? [],
    };
    if (next.roomName === from.roomName && next.identity === from.identity) {
      throw new TransferNotPossibleError(this.#callId, 'same_room');
    }
    const transfer: { oldLegLost: CallEndReason | undefined } = { oldLegLost: undefined };
    this.#transfer = transfer;
    const log = this.log.child({ toRoom: next.roomName });
    log.info({ fromRoom: from.roomName }, 'transferring the call');
    let room: RoomLegPort;
    try {
      room = await this.#joinLeg(next, {
        fromRoom: from.roomName,
        awaitRoomAudioMs: TRANSFER_ROOM_AUDIO_WAIT_MS,
      });
    } catch (err) {
      this.#transfer = undefined;
      log.warn({ err }, 'transfer failed: the call stays in its room');
      if (transfer.oldLegLost) void this.close(transfer.oldLegLost);
      throw err;
    }
    this.#transfer = undefined;
    if (this.isClosed) {
      // The call ended while the new room was being joined: that room hears it ended too.
      await this.#leaveRoom(room);
      throw this.endedError();
    }
    // The switch: from here on the caller's audio goes to the new leg, and the new leg's mix to
    // the caller as soon as it sounds (the old one's until then, at most the crossover); the old
    // leg's other handlers see they are no longer current.
    const crossoverEnded = this.#startCrossover(old);
    this.#room = room;
    this.participant = next;
    this.#transferredFrom = from.roomName;
    this.#wireRoom(room);
    // A dialled call transferred while it rings keeps its ringback, now in the new room.
    this.#updateRingback();
    const result: TransferResult = {
      callId: this.#callId,
      roomName: next.roomName,
      participantIdentity: next.identity,
    };
    log.info({ fromRoom: from.roomName }, 'call transferred');
    void crossoverEnded.then(() => {
      // Ended by time with the new room silent: its kind of audio feeds Meta from now on.
      if (!this.isClosed && this.#room === room) {
        this.media.selectAudioSource(room.audioMode === 'passthrough' ? 'opus' : 'pcm');
      }
      return this.#leaveTransferredRoom(old, next.roomName);
    });
    this.emit('transferred', from, result);
    return result;
  }

  /** Let `old`'s mix reach the caller until the new leg sounds; resolves when that ends. */
  #startCrossover(old: RoomLegPort): Promise<void> {
    return new Promise<void>((resolve) => {
      const end = () => {
        clearTimeout(timer);
        if (this.#crossover?.from === old) this.#crossover = undefined;
        resolve();
      };
      // Also ends when the new leg sends nothing at all.
      const timer = setTimeout(end, TRANSFER_CROSSOVER_MAX_MS + 100);
      timer.unref();
      this.#crossover = { from: old, until: Date.now() + TRANSFER_CROSSOVER_MAX_MS, end };
    });
  }

  /** The old room of a transfer: status `hangup`, end reason `transferred`, where to; leave. */
  async #leaveTransferredRoom(room: RoomLegPort, toRoom: string): Promise<void> {
    const attributes = buildCallAttributes({
      callStatus: 'hangup',
      callId: this.#callId || undefined,
      endReason: 'transferred',
    });
    attributes[CALL_ATTRIBUTE.transferredTo] = toRoom;
    await room.setAttributes(attributes).catch(() => undefined);
    await room
      .close('transferred')
      .catch((err: unknown) => this.log.warn({ err }, 'leaving the old room failed'));
  }

  /**
   * Ringback plays while a business-initiated call rings (the setting on) and stops the moment
   * the call is answered or ends.
   */
  #updateRingback(): void {
    const room = this.#room;
    if (!room) return;
    const on =
      this.settings.playRingback === true &&
      this.direction === 'outbound' &&
      this.#state === 'ringing' &&
      this.#answeredAt === undefined;
    room.setRingback(on);
  }

  /** Tell the room why the call ended (status `hangup` and `whatsapp.endReason`), then leave. */
  async #leaveRoom(room: RoomLegPort): Promise<void> {
    await room.setAttributes(this.attributes('hangup')).catch(() => undefined);
    await room
      .close(this.#endReason)
      .catch((err: unknown) => this.log.warn({ err }, 'leaving the room failed'));
  }

  async #publishStatus(): Promise<void> {
    const room = this.#room;
    if (!room || this.isClosed) return;
    await room.setAttributes(this.attributes()).catch((err: unknown) => {
      this.log.warn({ err }, 'updating call status attributes failed');
    });
  }

  // ---- media leg and pumps ---------------------------------------------------------------------

  #wireMedia(): void {
    // Meta → room is Opus passthrough: the media leg does not decode at all.
    this.media.setPcmOutput(false);
    this.media.on('opus', (packet) => {
      this.#callerMedia();
      this.#room?.pushCallerOpus(packet);
    });
    this.media.on('audio', (pcm) => {
      this.#callerMedia();
      this.#room?.pushCallerAudio(pcm);
    });
    this.media.on('dtmf', (digit) => {
      this.log.debug({ digit }, 'dtmf from caller');
      void this.#room
        ?.sendDtmf(digit)
        .catch((err: unknown) => this.log.warn({ err }, 'dtmf to room failed'));
    });
    this.media.on('closed', (reason) => {
      if (this.isClosed) return;
      // Meta closing DTLS means the user side is gone; a transport failure is ours to report.
      if (reason === 'peer-closed') void this.close('user_hangup', { endedAtMeta: true });
      else void this.close('failed');
    });
    this.media.on('error', (err) => this.log.warn({ err }, 'media leg error'));
  }

  #callerMedia(): void {
    if (this.#callerMediaSeen) return;
    this.#callerMediaSeen = true;
    this.onFirstCallerAudio();
    for (const w of this.#mediaWaiters) w.resolve();
    this.#mediaWaiters.clear();
  }

  /** The first frame of the caller's audio arrived. */
  protected onFirstCallerAudio(): void {}

  // ---- progress ----------------------------------------------------------------------------------

  /** Outbound: Meta's SDP answer is applied; the phone rings until the user picks up. */
  protected markRinging(): void {
    if (this.#state === 'dialing') this.#setState('ringing');
  }

  /**
   * The user picked up (outbound) or Meta accepted our answer (inbound): stop the ringing timer,
   * arm the media watchdog and the maximum duration.
   */
  protected markAnswered(): void {
    if (this.#answeredAt !== undefined || this.isClosed) return;
    this.#answeredAt = Date.now();
    clearTimeout(this.#ringingTimer);
    this.#ringingTimer = undefined;
    this.#armMediaWatchdog();
    const maxMs = this.settings.maxDurationMs;
    if (maxMs > 0) {
      this.#maxDurationTimer = setTimeout(() => {
        this.log.info({ maxDurationMs: maxMs }, 'maximum call duration reached');
        void this.close('max_duration');
      }, maxMs);
      this.#maxDurationTimer.unref();
    }
    this.#setState('active');
    for (const w of this.#answeredWaiters) w.resolve();
    this.#answeredWaiters.clear();
  }

  /**
   * Checks RTP from Meta in periods of a quarter of the timeout; as many silent periods as make the
   * timeout end the call. Counting periods (not timestamps) keeps it exact under fake timers.
   */
  #armMediaWatchdog(): void {
    const timeoutMs = this.settings.mediaTimeoutMs;
    const periodMs = Math.max(100, Math.min(1000, timeoutMs / 4));
    const silentPeriodsAllowed = Math.ceil(timeoutMs / periodMs);
    let lastCount = this.media.stats().packetsReceived;
    let silentPeriods = 0;
    this.#watchdog = setInterval(() => {
      const count = this.media.stats().packetsReceived;
      if (count !== lastCount) {
        lastCount = count;
        silentPeriods = 0;
        return;
      }
      silentPeriods++;
      if (silentPeriods >= silentPeriodsAllowed) {
        this.log.info(
          { silentMs: silentPeriods * periodMs },
          'no media from Meta; ending the call',
        );
        void this.close('media_timeout');
      }
    }, periodMs);
    this.#watchdog.unref();
  }

  /**
   * Resolve once the call is answered; reject with `AcceptTimeoutError`/`CallEndedError` if it
   * ends first, or with the signal's reason when `signal` aborts (the requester went away).
   */
  waitUntilAnswered(signal?: AbortSignal): Promise<void> {
    if (this.#answeredAt !== undefined && !this.isClosed) return Promise.resolve();
    return this.#wait(this.#answeredWaiters, signal);
  }

  /** Resolve once the caller's audio flows (first frame from Meta); same failure rules. */
  waitForCallerMedia(signal?: AbortSignal): Promise<void> {
    if (this.#callerMediaSeen && !this.isClosed) return Promise.resolve();
    return this.#wait(this.#mediaWaiters, signal);
  }

  #wait(waiters: Set<Waiter>, signal?: AbortSignal): Promise<void> {
    if (this.isClosed) return Promise.reject(this.endedError());
    if (signal?.aborted) return Promise.reject(signal.reason ?? new Error('aborted'));
    return new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        waiters.delete(waiter);
        reject(signal?.reason ?? new Error('aborted'));
      };
      const waiter: Waiter = {
        resolve: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
        reject: (err) => {
          signal?.removeEventListener('abort', onAbort);
          reject(err);
        },
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      waiters.add(waiter);
    });
  }

  /** The error for a request that finds (or waits on) this call closed. */
  endedError(): Error {
    return endedCallError(this.#callId, this.#endReason);
  }

  // ---- the end -----------------------------------------------------------------------------------

  /**
   * End the call for `reason`. Both legs are released and every timer stopped at once (the call is
   * `ending`); then the call is ended at Meta unless Meta ended it already — terminate or reject as
   * {@link metaEndAction} decides — retrying in the background until Meta confirms. The first close
   * decides the reason; later ones only add that Meta has ended the call. Resolves when the legs
   * are released (see {@link whenEnded} for Meta's side); never rejects.
   */
  close(reason: CallEndReason, options: CloseOptions = {}): Promise<void> {
    if (options.endedAtMeta) this.confirmEndedAtMeta();
    this.#closing ??= this.#teardown(reason, options);
    return this.#closing;
  }

  /**
   * Resolves with how ending at Meta went once the call is fully `ended`; before `close()` it
   * waits for the call to close.
   */
  whenEnded(): Promise<MetaEndOutcome> {
    if (this.#ended) return this.#ended;
    return new Promise((resolve) => this.once('ended', () => resolve(this.#ended!)));
  }

  /** Meta has ended the call (terminate webhook): stop sending, and stop retrying. */
  confirmEndedAtMeta(): void {
    if (this.#metaEnded) return;
    this.#metaEnded = true;
    this.#metaEndWake.abort();
  }

  /** Stop retrying to end the call at Meta (shutdown): the call ends as far as we can tell. */
  abandonMetaEnd(): void {
    this.#metaEndWake.abort();
  }

  /** True once Meta confirmed the end, or said it ended the call itself. */
  protected get endedAtMeta(): boolean {
    return this.#metaEnded;
  }

  /**
   * What must be sent to Meta to end this call now: decided from what was sent to Meta and how
   * Meta answered. May wait for requests to Meta that are still under way to settle, so the
   * decision rests on their outcome.
   */
  protected abstract metaEndAction(): Promise<MetaEndAction>;

  async #teardown(reason: CallEndReason, options: CloseOptions): Promise<void> {
    this.#endReason = reason;
    this.#endedAt = Date.now();
    clearTimeout(this.#ringingTimer);
    clearInterval(this.#watchdog);
    clearTimeout(this.#maxDurationTimer);
    this.#ringingTimer = this.#watchdog = this.#maxDurationTimer = undefined;
    this.#setState('ending');
    // A call ending right after a transfer leaves the old room now too (as transferred).
    this.#crossover?.end();
    this.log.info({ reason }, 'call ending');
    const error = this.endedError();
    for (const w of [...this.#answeredWaiters, ...this.#mediaWaiters]) w.reject(error);
    this.#answeredWaiters.clear();
    this.#mediaWaiters.clear();

    const meta = this.#endAtMeta(options.accessToken).catch((err: unknown): MetaEndOutcome => {
      this.log.error({ err }, 'ending the call at Meta failed unexpectedly');
      return { kind: 'gave_up' };
    });
    const room = this.#room;
    await Promise.all([
      room ? this.#leaveRoom(room) : undefined,
      this.media
        .close()
        .catch((err: unknown) => this.log.warn({ err }, 'closing the media leg failed')),
    ]);
    this.#ended = meta.then((outcome) => {
      this.#setState('ended');
      this.log.info({ reason, meta: outcome.kind }, 'call ended');
      this.emit('ended', reason);
      return outcome;
    });
  }

  async #endAtMeta(accessToken: string | undefined): Promise<MetaEndOutcome> {
    if (this.#metaEnded) return { kind: 'not_needed' };
    const action = await this.metaEndAction();
    if (action === 'none' || this.#metaEnded) return { kind: 'not_needed' };
    const outcome = await endCallAtMeta({
      graph: this.graph,
      action,
      request: {
        ...this.#meta,
        accessToken: accessToken ?? this.#meta.accessToken,
        callId: this.#callId,
      },
      retry: this.settings.metaEndRetry,
      stop: this.#metaEndWake.signal,
      confirmed: () => this.#metaEnded,
      logger: this.log,
    });
    if (outcome.kind === 'confirmed') this.#metaEnded = true;
    return outcome;
  }

  #setState(state: CallState): void {
    if (this.#state === state) return;
    this.#state = state;
    this.log.debug({ state }, 'call state');
    this.#updateRingback();
    if (!this.isClosed) void this.#publishStatus();
    this.emit('state', state);
  }
}

/** Whether a PCM frame is (near) digital silence: nothing but the quietest noise in it. */
function isSilentFrame(pcm: Int16Array): boolean {
  for (let i = 0; i < pcm.length; i += 4) {
    const v = pcm[i] ?? 0;
    if (v > 8 || v < -8) return false;
  }
  return true;
}

function roomStatusFor(state: CallState): WhatsAppCallStatus {
  switch (state) {
    case 'dialing':
      return 'dialing';
    case 'ringing':
    case 'accepting':
      return 'ringing';
    case 'active':
      return 'active';
    case 'ending':
    case 'ended':
      return 'hangup';
  }
}
