import { ConnectorError } from '../errors/index.js';
import type { Logger } from '../log/index.js';
import type { RoomLegDisconnectReason, RoomLegEvents } from '../room/room-leg.js';
import { SafeEventEmitter, logListenerErrors } from '../util/typed-emitter.js';
import {
  CLOSE_CODE,
  MediaStreamSession,
  type MediaStreamLimits,
  type MediaStreamStart,
  type MediaStreamStats,
  type MediaStreamTransport,
} from './media-stream-session.js';
import { MulawTranscoder } from './mulaw-transcoder.js';
import {
  activeAttributes,
  endAttributes,
  TWILIO_ATTRIBUTE,
  type TwilioCallDirection,
  type TwilioEndReason,
} from './twilio-call-attributes.js';

/**
 * - `waiting`: the connect URL is out, the participant is in the room, hidden;
 * - `connected`: Twilio opened the WebSocket, `start` has not arrived yet;
 * - `active`: the stream started; the participant is visible and audio flows both ways;
 * - `ended`.
 */
export type TwilioCallState = 'waiting' | 'connected' | 'active' | 'ended';

/**
 * The room leg as a Twilio call uses it: PCM both ways (μ-law ↔ PCM here, PCM ↔ Opus in the
 * leg, which always mixes for Twilio). `RoomLeg` satisfies it.
 */
export interface TwilioRoomLeg {
  /** PCM rate of `pushCallerAudio` and `audio` frames, Hz. */
  readonly sampleRate: number;
  /** Still in the room (also while reconnecting). */
  readonly connected: boolean;
  /** One 20 ms mono frame of the caller. */
  pushCallerAudio(pcm: Int16Array): void;
  sendDtmf(digit: string): Promise<void>;
  setAttributes(attrs: Record<string, string>): Promise<void>;
  /** Leave (idempotent, never rejects). */
  close(): Promise<void>;
  on<K extends keyof RoomLegEvents & string>(
    event: K,
    listener: (...args: RoomLegEvents[K]) => void,
  ): unknown;
  off<K extends keyof RoomLegEvents & string>(
    event: K,
    listener: (...args: RoomLegEvents[K]) => void,
  ): unknown;
}

/** What the call needs from the room side. */
export interface TwilioCallRoom {
  /** The connector participant's leg (joined hidden). */
  leg: TwilioRoomLeg;
  /** Make the participant visible (see `ParticipantReveal`). */
  reveal: () => Promise<void>;
}

/** Where a transfer moves a Twilio call (fields left out keep the current participant's). */
export interface TwilioTransferTarget {
  roomName: string;
  identity?: string | undefined;
  name?: string | undefined;
  metadata?: string | undefined;
  attributes?: Record<string, string> | undefined;
  agents?: { agentName: string; metadata: string }[] | undefined;
}

/**
 * Joins a (visible) room leg for a transfer with `attributes`; the connector supplies it. Rejects
 * when the room cannot be joined.
 */
export type TwilioTransferJoiner = (
  target: TwilioTransferTarget & { identity: string },
  attributes: Record<string, string>,
  logger: Logger,
) => Promise<TwilioRoomLeg>;

export interface TwilioCallInit {
  /** The connect URL's session id. */
  sessionId: string;
  direction: TwilioCallDirection;
  roomName: string;
  participantIdentity: string;
  /** When the connect URL expires, Unix ms: unused by then, the call ends (`url_expired`). */
  expiresAtMs: number;
  room: TwilioCallRoom;
  /** Limits of the media stream (silence timeout, flood, marks…). */
  limits?: Partial<MediaStreamLimits> | undefined;
  /** Longest wait for the final attributes before leaving, ms. Default 1000. */
  endAttributesTimeoutMs?: number | undefined;
  /** The participant's own fields at join, carried over by a transfer unless it names others. */
  participant?:
    | {
        name?: string | undefined;
        metadata?: string | undefined;
        attributes: Record<string, string>;
      }
    | undefined;
  /** Joins the room leg of a transfer; without it the call cannot be transferred. */
  joinForTransfer?: TwilioTransferJoiner | undefined;
  logger: Logger;
}

export interface TwilioCallEvents {
  state: [state: TwilioCallState];
  ended: [reason: TwilioEndReason];
}

/** A snapshot for listings and tests. No secrets, no caller data. */
export interface TwilioCallSummary {
  sessionId: string;
  direction: TwilioCallDirection;
  state: TwilioCallState;
  roomName: string;
  participantIdentity: string;
  callSid: string | undefined;
  streamSid: string | undefined;
  createdAt: number;
  answeredAt: number | undefined;
  endedAt: number | undefined;
  endReason: TwilioEndReason | undefined;
  stream: MediaStreamStats | undefined;
}

/** How each end reason closes a WebSocket that is still open (the session closes its own). */
const CLOSE_BY_REASON: Partial<Record<TwilioEndReason, [code: number, reason: string]>> = {
  room_closed: [CLOSE_CODE.normal, 'room closed'],
  participant_removed: [CLOSE_CODE.normal, 'participant removed from the room'],
  failed: [CLOSE_CODE.internalError, 'room connection failed'],
  shutdown: [CLOSE_CODE.goingAway, 'server shutting down'],
};

function endReasonOfRoom(reason: RoomLegDisconnectReason): TwilioEndReason {
  switch (reason) {
    case 'room-deleted':
    case 'room-closed':
      return 'room_closed';
    case 'participant-removed':
    case 'duplicate-identity':
      return 'participant_removed';
    case 'server-shutdown':
    case 'connection-lost':
    case 'other':
      return 'failed';
  }
}

/**
 * One Twilio call bridged into one LiveKit room. It owns the room leg (joined hidden when the
 * connect URL was issued), the media stream once Twilio connects, the URL's expiry timer, and the
 * audio/DTMF pumps between them. `end()` is idempotent and never throws: it closes the WebSocket
 * (Twilio then moves on to the next TwiML verb, or hangs up), sets `twilio.callStatus=hangup` and
 * `twilio.endReason`, and leaves the room.
 */
export class TwilioCall extends SafeEventEmitter<TwilioCallEvents> {
  readonly sessionId: string;
  readonly direction: TwilioCallDirection;
  readonly expiresAtMs: number;
  readonly createdAt = Date.now();
  /** The call's room leg; a transfer replaces it (the reveal is for the first one only). */
  #room: TwilioCallRoom;
  #roomName: string;
  #participantIdentity: string;
  readonly #joinForTransfer: TwilioTransferJoiner | undefined;
  #transferring = false;
  /** Attributes the current participant joined with (a transfer carries them over by default). */
  #attributes: Record<string, string>;
  #name: string | undefined;
  #metadata: string | undefined;
  readonly #limits: Partial<MediaStreamLimits> | undefined;
  readonly #endAttributesTimeoutMs: number;
  readonly #log: Logger;
  readonly #transcoder: MulawTranscoder;
  #state: TwilioCallState = 'waiting';
  #session: MediaStreamSession | undefined;
  #start: MediaStreamStart | undefined;
  #answeredAt: number | undefined;
  #endedAt: number | undefined;
  #endReason: TwilioEndReason | undefined;
  #expiryTimer: NodeJS.Timeout | undefined;
  #ending: Promise<void> | undefined;
  readonly #onMix = (pcm: Int16Array): void => {
    this.#session?.sendAudio(this.#transcoder.encode(pcm));
  };
  readonly #onRoomDtmf = (digit: string): void => {
    // Media Streams has no message to play DTMF to the caller.
    this.#log.debug({ digit }, 'DTMF from the room is not sent to Twilio calls');
  };
  readonly #onRoomDisconnected = (reason: RoomLegDisconnectReason): void => {
    void this.end(endReasonOfRoom(reason));
  };

  constructor(init: TwilioCallInit) {
    super(logListenerErrors(init.logger, 'twilio call listener threw'));
    this.sessionId = init.sessionId;
    this.direction = init.direction;
    this.#roomName = init.roomName;
    this.#participantIdentity = init.participantIdentity;
    this.expiresAtMs = init.expiresAtMs;
    this.#room = init.room;
    this.#joinForTransfer = init.joinForTransfer;
    this.#attributes = init.participant?.attributes ?? {};
    this.#name = init.participant?.name;
    this.#metadata = init.participant?.metadata;
    this.#limits = init.limits;
    this.#endAttributesTimeoutMs = init.endAttributesTimeoutMs ?? 1000;
    this.#log = init.logger;
    this.#transcoder = new MulawTranscoder(init.room.leg.sampleRate);
    init.room.leg.on('disconnected', this.#onRoomDisconnected);
    init.room.leg.on('dtmf', this.#onRoomDtmf);
    this.#expiryTimer = setTimeout(
      () => {
        if (this.#state === 'waiting') void this.end('url_expired');
      },
      Math.max(0, init.expiresAtMs - Date.now()),
    );
    this.#expiryTimer.unref();
  }

  get state(): TwilioCallState {
    return this.#state;
  }

  /** The room the call is in now (a transfer changes it). */
  get roomName(): string {
    return this.#roomName;
  }

  get participantIdentity(): string {
    return this.#participantIdentity;
  }

  /** Twilio's call SID once the stream started. */
  get callSid(): string | undefined {
    return this.#start?.callSid;
  }

  get isEnded(): boolean {
    return this.#state === 'ended';
  }

  get endReason(): TwilioEndReason | undefined {
    return this.#endReason;
  }

  summary(): TwilioCallSummary {
    return {
      sessionId: this.sessionId,
      direction: this.direction,
      state: this.#state,
      roomName: this.roomName,
      participantIdentity: this.participantIdentity,
      callSid: this.#start?.callSid,
      streamSid: this.#start?.streamSid,
      createdAt: this.createdAt,
      answeredAt: this.#answeredAt,
      endedAt: this.#endedAt,
      endReason: this.#endReason,
      stream: this.#session?.stats,
    };
  }

  /**
   * Twilio opened the WebSocket: from here the session speaks Media Streams on `transport`, and
   * the caller feeds it with `receive`/`transportClosed`. Only once, while `waiting` (the registry
   * makes URLs single-use).
   */
  attach(transport: MediaStreamTransport): MediaStreamSession {
    if (this.#state !== 'waiting')
      throw new Error(`cannot attach a stream in state ${this.#state}`);
    clearTimeout(this.#expiryTimer);
    const session = new MediaStreamSession({
      transport,
      limits: this.#limits,
      logger: this.#log.child({ component: 'media-stream' }),
    });
    this.#session = session;
    session.on('start', (start) => void this.#onStart(start));
    session.on('audio', (mulaw) => {
      // Read at every frame: a transfer swaps the leg.
      if (this.#state === 'active') this.#room.leg.pushCallerAudio(this.#transcoder.decode(mulaw));
    });
    session.on('dtmf', (digit) => {
      this.#room.leg
        .sendDtmf(digit)
        .catch((err: unknown) => this.#log.warn({ err }, 'DTMF into the room failed'));
    });
    session.on('end', (reason) => void this.end(reason));
    this.#setState('connected');
    return session;
  }

  /**
   * Move the active call into another room, the Twilio stream untouched: join the new room
   * (visible, with the call's `twilio.*` attributes and `twilio.transferredFrom`), switch the
   * audio and DTMF over, then set `twilio.endReason=transferred` and `twilio.transferredTo` in
   * the old room and leave it. A failed join leaves the call where it was.
   * @throws ConnectorError `failed_precondition` before the stream started, during another
   *   transfer, or to the same room and identity; `unavailable` when the room cannot be joined.
   */
  async transfer(target: TwilioTransferTarget): Promise<{ roomName: string; identity: string }> {
    const start = this.#start;
    if (this.#state !== 'active' || !start || !this.#joinForTransfer) {
      throw new ConnectorError(
        'failed_precondition',
        this.isEnded ? 'the call has ended' : 'the call is not active (its stream has not started)',
      );
    }
    if (this.#transferring) {
      throw new ConnectorError('failed_precondition', 'the call is being transferred already', {
        reason: 'transfer_in_progress',
      });
    }
    const identity = target.identity ?? this.#participantIdentity;
    const from = this.#roomName;
    if (target.roomName === from && identity === this.#participantIdentity) {
      throw new ConnectorError('failed_precondition', 'the call is in that room already', {
        reason: 'same_room',
      });
    }
    const carried = target.attributes ?? this.#attributes;
    const attributes = {
      ...carried,
      ...activeAttributes({
        direction: this.direction,
        callSid: start.callSid,
        streamSid: start.streamSid,
        startTimeMs: this.#answeredAt ?? Date.now(),
      }),
      [TWILIO_ATTRIBUTE.direction]: this.direction,
      [TWILIO_ATTRIBUTE.transferredFrom]: from,
    };
    this.#transferring = true;
    let leg: TwilioRoomLeg;
    try {
      leg = await this.#joinForTransfer(
        {
          ...target,
          identity,
          name: target.name ?? this.#name,
          metadata: target.metadata ?? this.#metadata,
        },
        attributes,
        this.#log,
      );
    } finally {
      this.#transferring = false;
    }
    if (this.isEnded) {
      await leg.setAttributes(endAttributes(this.#endReason ?? 'failed')).catch(() => undefined);
      await leg.close();
      throw new ConnectorError('failed_precondition', 'the call has ended');
    }
    const old = this.#room.leg;
    this.#switchLeg(old, leg);
    this.#roomName = target.roomName;
    this.#participantIdentity = identity;
    this.#attributes = carried;
    this.#name = target.name ?? this.#name;
    this.#metadata = target.metadata ?? this.#metadata;
    this.#log.info({ fromRoom: from, toRoom: target.roomName }, 'twilio call transferred');
    void (async () => {
      await withTimeout(
        old.setAttributes({
          ...endAttributes('transferred'),
          [TWILIO_ATTRIBUTE.transferredTo]: target.roomName,
        }),
        this.#endAttributesTimeoutMs,
      ).catch(() => undefined);
      await old.close();
    })();
    return { roomName: target.roomName, identity };
  }

  /** Move the mix, DTMF and departure listeners from `old` to `leg` (one step, no await). */
  #switchLeg(old: TwilioRoomLeg, leg: TwilioRoomLeg): void {
    old.off('audio', this.#onMix);
    old.off('dtmf', this.#onRoomDtmf);
    old.off('disconnected', this.#onRoomDisconnected);
    this.#room = { leg, reveal: async () => undefined };
    leg.on('disconnected', this.#onRoomDisconnected);
    leg.on('dtmf', this.#onRoomDtmf);
    leg.on('audio', this.#onMix);
  }

  /** End the call. Idempotent; never rejects; resolves once the participant has left. */
  end(reason: TwilioEndReason): Promise<void> {
    this.#ending ??= this.#shutdown(reason);
    return this.#ending;
  }

  async #onStart(start: MediaStreamStart): Promise<void> {
    if (this.#state !== 'connected') return;
    this.#start = start;
    this.#answeredAt = Date.now();
    this.#setState('active');
    this.#log.info(
      {
        callSid: start.callSid,
        streamSid: start.streamSid,
        customParameters: Object.keys(start.customParameters),
      },
      'twilio media stream started',
    );
    this.#room.leg.on('audio', this.#onMix);
    try {
      await this.#room.leg.setAttributes(
        activeAttributes({
          direction: this.direction,
          callSid: start.callSid,
          streamSid: start.streamSid,
          startTimeMs: this.#answeredAt,
        }),
      );
      if (this.isEnded) return;
      await this.#room.reveal();
    } catch (err) {
      if (this.isEnded) return;
      this.#log.error({ err }, 'bringing the call into the room failed');
      await this.end('failed');
    }
  }

  async #shutdown(reason: TwilioEndReason): Promise<void> {
    const leg = this.#room.leg;
    this.#endReason = reason;
    this.#endedAt = Date.now();
    clearTimeout(this.#expiryTimer);
    leg.off('audio', this.#onMix);
    leg.off('dtmf', this.#onRoomDtmf);
    leg.off('disconnected', this.#onRoomDisconnected);
    this.#setState('ended');
    const close = CLOSE_BY_REASON[reason];
    if (close) this.#session?.close(...close);
    else this.#session?.close(CLOSE_CODE.normal, 'call ended');
    if (leg.connected) {
      await withTimeout(leg.setAttributes(endAttributes(reason)), this.#endAttributesTimeoutMs)
        // The room may be going away at the same time; the attribute is best effort.
        .catch((err: unknown) => this.#log.debug({ err }, 'could not set the end attributes'));
    }
    await leg.close();
    this.#log.info({ reason, stream: this.#session?.stats }, 'twilio call ended');
    this.emit('ended', reason);
  }

  #setState(state: TwilioCallState): void {
    this.#state = state;
    this.emit('state', state);
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
    promise.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (err: unknown) => {
        clearTimeout(timer);
        reject(err instanceof Error ? err : new Error(String(err)));
      },
    );
  });
}
