import type { Logger } from '../log/index.js';
import { SafeEventEmitter } from '../util/typed-emitter.js';
import { buildCallAttributes, type WhatsAppCallStatus } from '../room/call-attributes.js';

/** Direction as seen from the business: inbound = user-initiated, outbound = business-initiated. */
export type CallDirection = 'inbound' | 'outbound';

/**
 * Lifecycle of a call.
 * - outbound: `dialing` (Meta is ringing the user; no SDP answer yet) → `ringing` (answer applied,
 *   media connecting, phone still ringing) → `active` (picked up) → `ended`
 * - inbound: `accepting` (answer built, pre_accept sent, media connecting) → `active` → `ended`
 */
export type CallState = 'dialing' | 'ringing' | 'accepting' | 'active' | 'ended';

export type CallEndReason =
  /** DisconnectWhatsAppCall with BUSINESS_INITIATED, or the gateway ending it. */
  | 'business_hangup'
  /** The WhatsApp user hung up (terminate webhook, DisconnectWhatsAppCall USER_INITIATED, or Meta closed media). */
  | 'user_hangup'
  /** Nobody answered within the ringing timeout. */
  | 'ringing_timeout'
  /** The user declined a business-initiated call. */
  | 'rejected'
  /** The LiveKit room was deleted or closed. */
  | 'room_closed'
  /** The connector participant was removed from the room. */
  | 'participant_removed'
  /** ICE/DTLS with Meta failed or media stopped. */
  | 'media_failed'
  /** Setting up one of the legs failed. */
  | 'setup_failed'
  /** The service is shutting down. */
  | 'shutdown';

/** What the call needs from its WebRTC leg to Meta (satisfied by `WhatsAppMediaLeg`). */
export interface MediaLegPort {
  setRemoteAnswer(sdp: string): Promise<void>;
  /** Counters; `packetsReceived` (RTP from Meta) drives the media watchdog. */
  stats(): { packetsReceived: number };
  sendAudio(pcm: Int16Array): void;
  sendDtmf(digit: string): void;
  close(): Promise<void>;
}

/** What the call needs from its LiveKit leg (satisfied by `RoomLeg`). */
export interface RoomLegPort {
  pushCallerAudio(pcm: Int16Array): void;
  sendDtmf(digit: string): Promise<void>;
  setAttributes(attributes: Record<string, string>): Promise<void>;
  close(): Promise<void>;
}

export interface WhatsAppCallInit {
  callId: string;
  direction: CallDirection;
  phoneNumberId: string;
  /** The WhatsApp user's number (to for outbound, from for inbound). PII: log only as `phone`. */
  userPhoneNumber: string;
  roomName: string;
  participantIdentity: string;
  destinationCountry?: string | undefined;
  bizOpaqueCallbackData?: string | undefined;
  /** Ringing timeout in milliseconds: unanswered → ended with `ringing_timeout`. */
  ringingTimeoutMs: number;
  /** Hide the phone number from room attributes. */
  hidePhoneNumber: boolean;
  /**
   * No RTP from Meta for this long after media started ends the call, in ms: Meta's relay stops
   * sending when the user hangs up, and a DTLS close is not guaranteed to reach us.
   */
  mediaTimeoutMs: number;
  media: MediaLegPort;
  /** Ends the call at Meta (terminate). Called at most once, only when Meta must be told. */
  terminateAtMeta: () => Promise<void>;
  logger: Logger;
}

export interface WhatsAppCallEvents extends Record<string, unknown[]> {
  /** State changed (after the change is complete). */
  state: [state: CallState];
  /** The call ended; `cleanupAfterMs` is how long the record is kept for a late Disconnect. */
  ended: [reason: CallEndReason];
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

/**
 * One WhatsApp call bridged into one LiveKit room: owns the media leg to Meta, the room leg,
 * the timers, and the audio/DTMF pumps between the legs. All transitions are idempotent; `end()`
 * cascades to both legs and every timer, and never throws.
 */
export class WhatsAppCall extends SafeEventEmitter<WhatsAppCallEvents> {
  readonly callId: string;
  readonly direction: CallDirection;
  readonly phoneNumberId: string;
  readonly userPhoneNumber: string;
  readonly roomName: string;
  readonly participantIdentity: string;
  readonly destinationCountry: string | undefined;
  readonly bizOpaqueCallbackData: string | undefined;
  readonly createdAt = Date.now();
  readonly media: MediaLegPort;
  private roomLeg: RoomLegPort | undefined;
  private _state: CallState;
  private _answeredAt: number | undefined;
  private _endedAt: number | undefined;
  private _endReason: CallEndReason | undefined;
  private readonly terminateAtMeta: () => Promise<void>;
  private readonly hidePhoneNumber: boolean;
  private readonly logger: Logger;
  private ringingTimer: NodeJS.Timeout | undefined;
  private watchdog: NodeJS.Timeout | undefined;
  private ending: Promise<void> | undefined;
  private readonly answeredWaiters = new Set<Waiter>();
  private readonly mediaWaiters = new Set<Waiter>();
  private callerMediaSeen = false;

  constructor(init: WhatsAppCallInit) {
    super((event, err) => init.logger.error({ err, event }, 'call listener threw'));
    this.callId = init.callId;
    this.direction = init.direction;
    this.phoneNumberId = init.phoneNumberId;
    this.userPhoneNumber = init.userPhoneNumber;
    this.roomName = init.roomName;
    this.participantIdentity = init.participantIdentity;
    this.destinationCountry = init.destinationCountry || undefined;
    this.bizOpaqueCallbackData = init.bizOpaqueCallbackData;
    this.media = init.media;
    this.terminateAtMeta = init.terminateAtMeta;
    this.hidePhoneNumber = init.hidePhoneNumber;
    this.logger = init.logger;
    this._state = init.direction === 'outbound' ? 'dialing' : 'accepting';
    this.ringingTimer = setTimeout(() => {
      if (this._state !== 'active' && this._state !== 'ended') {
        this.logger.info('ringing timeout');
        void this.end('ringing_timeout', { notifyMeta: true });
      }
    }, init.ringingTimeoutMs);
    this.ringingTimer.unref();
    this.startMediaWatchdog(init.mediaTimeoutMs);
  }

  private startMediaWatchdog(timeoutMs: number): void {
    let lastCount = -1;
    let lastChange = Date.now();
    const period = Math.max(100, Math.min(1000, timeoutMs / 4));
    this.watchdog = setInterval(() => {
      if (!this.callerMediaSeen) return;
      const count = this.media.stats().packetsReceived;
      const now = Date.now();
      if (count !== lastCount) {
        lastCount = count;
        lastChange = now;
      } else if (now - lastChange >= timeoutMs) {
        this.logger.info({ silentMs: now - lastChange }, 'no media from Meta; ending the call');
        void this.end('media_failed', { notifyMeta: true });
      }
    }, period);
    this.watchdog.unref();
  }

  get state(): CallState {
    return this._state;
  }

  get endReason(): CallEndReason | undefined {
    return this._endReason;
  }

  get isEnded(): boolean {
    return this._state === 'ended';
  }

  /** The room leg, once joined. */
  get room(): RoomLegPort | undefined {
    return this.roomLeg;
  }

  /** Room attributes describing this call (updated on every state change). */
  attributes(status: WhatsAppCallStatus = roomStatusFor(this._state)): Record<string, string> {
    return buildCallAttributes({
      callStatus: status,
      callId: this.callId,
      phoneNumber: this.userPhoneNumber,
      includePhoneNumber: !this.hidePhoneNumber,
      direction: this.direction,
      destinationCountry: this.destinationCountry,
    });
  }

  /** Attach the joined room leg; audio and DTMF then flow both ways. */
  attachRoom(room: RoomLegPort): void {
    if (this.isEnded) {
      void room.close();
      return;
    }
    this.roomLeg = room;
    void this.publishStatus();
  }

  /** Caller audio from Meta (20 ms PCM frames) → the room. */
  onCallerAudio(pcm: Int16Array): void {
    if (!this.callerMediaSeen) {
      this.callerMediaSeen = true;
      // Meta relays the user's audio only once the call is picked up, so the first frame
      // answers an outbound call even when the ACCEPTED webhook is late or not wired.
      if (this.direction === 'outbound') this.markAnswered();
      for (const w of this.mediaWaiters) w.resolve();
      this.mediaWaiters.clear();
    }
    this.roomLeg?.pushCallerAudio(pcm);
  }

  /** Log a problem of one of the call's parts with the call's context. */
  logError(err: unknown, message: string): void {
    this.logger.warn({ err }, message);
  }

  /** The room's mix (20 ms PCM frames) → the caller. */
  onRoomAudio(pcm: Int16Array): void {
    if (!this.isEnded) this.media.sendAudio(pcm);
  }

  onCallerDtmf(digit: string): void {
    this.logger.debug({ digit }, 'dtmf from caller');
    void this.roomLeg
      ?.sendDtmf(digit)
      .catch((err: unknown) => this.logger.warn({ err }, 'dtmf to room failed'));
  }

  onRoomDtmf(digit: string): void {
    if (!this.isEnded) this.media.sendDtmf(digit);
  }

  /** Outbound: Meta's SDP answer is applied; the phone rings until the user picks up. */
  markRinging(): void {
    if (this._state === 'dialing') this.setState('ringing');
  }

  /** The user picked up (outbound) or media flows (inbound). */
  markAnswered(): void {
    if (this._state === 'active' || this._state === 'ended') return;
    this._answeredAt = Date.now();
    if (this.ringingTimer) clearTimeout(this.ringingTimer);
    this.ringingTimer = undefined;
    this.setState('active');
    for (const w of this.answeredWaiters) w.resolve();
    this.answeredWaiters.clear();
  }

  /**
   * Resolve once the call is active; reject with `onEnded()`'s error if it ends first, or when
   * `signal` aborts (the client went away).
   */
  waitUntilAnswered(
    onEnded: (reason: CallEndReason | undefined) => Error,
    signal?: AbortSignal,
  ): Promise<void> {
    if (this._state === 'active') return Promise.resolve();
    return this.wait(this.answeredWaiters, onEnded, signal);
  }

  /** Resolve once the caller's audio flows (first frame from Meta); same failure rules. */
  waitForCallerMedia(
    onEnded: (reason: CallEndReason | undefined) => Error,
    signal?: AbortSignal,
  ): Promise<void> {
    if (this.callerMediaSeen) return Promise.resolve();
    return this.wait(this.mediaWaiters, onEnded, signal);
  }

  private wait(
    waiters: Set<Waiter>,
    onEnded: (reason: CallEndReason | undefined) => Error,
    signal?: AbortSignal,
  ): Promise<void> {
    if (this._state === 'ended') return Promise.reject(onEnded(this._endReason));
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
        reject: (reason) => {
          signal?.removeEventListener('abort', onAbort);
          reject(onEnded(reason));
        },
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      waiters.add(waiter);
    });
  }

  /**
   * End the call: tell Meta when asked (and only then), mark the room status `hangup`, leave the
   * room, close the media leg, clear timers. Idempotent; concurrent calls share one teardown.
   */
  end(reason: CallEndReason, options: { notifyMeta: boolean }): Promise<void> {
    this.ending ??= this.teardown(reason, options.notifyMeta);
    return this.ending;
  }

  private async teardown(reason: CallEndReason, notifyMeta: boolean): Promise<void> {
    this._endReason = reason;
    this._endedAt = Date.now();
    if (this.ringingTimer) clearTimeout(this.ringingTimer);
    this.ringingTimer = undefined;
    if (this.watchdog) clearInterval(this.watchdog);
    this.watchdog = undefined;
    this.setState('ended');
    this.logger.info({ reason }, 'call ended');
    for (const w of [...this.answeredWaiters, ...this.mediaWaiters]) w.reject(reason);
    this.answeredWaiters.clear();
    this.mediaWaiters.clear();
    const tasks: Promise<unknown>[] = [];
    if (notifyMeta) {
      tasks.push(
        this.terminateAtMeta().catch((err: unknown) =>
          this.logger.warn({ err }, 'terminate at Meta failed'),
        ),
      );
    }
    const room = this.roomLeg;
    if (room) {
      tasks.push(
        room
          .setAttributes(this.attributes('hangup'))
          .catch(() => undefined)
          .then(() => room.close())
          .catch((err: unknown) => this.logger.warn({ err }, 'leaving the room failed')),
      );
    }
    tasks.push(
      this.media.close().catch((err: unknown) => this.logger.warn({ err }, 'closing media failed')),
    );
    await Promise.all(tasks);
    this.emit('ended', reason);
  }

  summary(): CallSummary {
    const end = this._endedAt ?? Date.now();
    return {
      callId: this.callId,
      direction: this.direction,
      state: this._state,
      roomName: this.roomName,
      participantIdentity: this.participantIdentity,
      phoneNumberId: this.phoneNumberId,
      createdAt: this.createdAt,
      answeredAt: this._answeredAt,
      endedAt: this._endedAt,
      endReason: this._endReason,
      durationSeconds: this._answeredAt ? Math.max(0, (end - this._answeredAt) / 1000) : 0,
    };
  }

  private setState(state: CallState): void {
    if (this._state === state) return;
    this._state = state;
    this.logger.debug({ state }, 'call state');
    if (state !== 'ended') void this.publishStatus();
    this.emit('state', state);
  }

  private async publishStatus(): Promise<void> {
    const room = this.roomLeg;
    if (!room || this.isEnded) return;
    await room.setAttributes(this.attributes()).catch((err: unknown) => {
      this.logger.warn({ err }, 'updating call status attributes failed');
    });
  }
}

interface Waiter {
  resolve: () => void;
  reject: (reason: CallEndReason | undefined) => void;
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
    case 'ended':
      return 'hangup';
  }
}
