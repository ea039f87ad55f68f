/**
 * One call as Meta's relay experiences it. It owns the relay peer (media to the business), the
 * call state machine driven from both sides (the business through Graph actions, the user through
 * the methods below) and Meta's timers (accept window, ring timeout, media watchdogs). Every
 * transition that Meta reports produces the webhook Meta would send. The user's end is a
 * {@link UserPhone}: the in-process {@link SimulatedPhone} (voice, ears, keys) unless a browser
 * took the call ({@link BrowserPhone}); Meta's side is the same either way.
 */
import { ConnectorError } from '../errors/connector-error.js';
import type { Logger } from '../log/index.js';
import { DtmfDecoder, isDtmfDigit } from '../media/rtp-dtmf.js';
import type {
  CallDirection,
  WebhookError,
  WhatsAppWebhookPayload,
} from '../whatsapp/webhook-payloads.js';
import type { MediaImpairment, RelayRtpPacket } from './meta-relay-peer.js';
import { MetaRelayPeer } from './meta-relay-peer.js';
import type { SeededRandom } from './seeded-random.js';
import type { SimulatedPhoneNumber } from './simulated-phone-number.js';
import type { SimulatedUser } from './simulated-user.js';
import { GraphErrors } from './simulated-graph-error.js';
import { SafeEventEmitter } from '../util/typed-emitter.js';
import {
  SimulatedPhone,
  type CallRecording,
  type HeardAudioStats,
  type HeardChunk,
} from './simulated-phone.js';
import type { UserPhone, UserPhoneKind, UserPhoneLink, UserRtpPacket } from './user-phone.js';
import type { UserVoice } from './user-voice.js';
import {
  callStatusWebhook,
  connectWebhook,
  terminateWebhook,
  TerminateErrors,
  type CallWebhookContext,
} from './webhook-envelopes.js';

export type { CallRecording, HeardChunk };

/**
 * - `dialing`: business-initiated, the business's offer is being answered;
 * - `ringing`: the user's phone rings (BIC) / the business was notified (UIC);
 * - `pre_accepted`: UIC, the business pre-accepted (media path may come up);
 * - `active`: picked up;
 * - `ended`.
 */
export type SimulatedCallState = 'dialing' | 'ringing' | 'pre_accepted' | 'active' | 'ended';

export type CallEndReason =
  | 'user_hangup'
  | 'user_reject'
  | 'business_terminate'
  | 'business_reject'
  | 'accept_timeout'
  | 'ring_timeout'
  | 'media_timeout'
  | 'relay_failed'
  | 'simulator_closed';

/** Meta's timers; the simulator's defaults follow the reference, tests shorten them. */
export interface CallTiming {
  /** UIC: time the business has to accept/reject after the connect webhook, ms (30-60 s). */
  acceptTimeoutMs: number;
  /** BIC: how long the user's phone rings before the call ends unanswered, ms (UNCONFIRMED). */
  ringTimeoutMs: number;
  /** No business media (RTP or RTCP) within this long after pickup → 138021, ms (20 s). */
  mediaStartTimeoutMs: number;
  /** A business media gap this long after media started → 138021, ms (30 s). */
  mediaGapTimeoutMs: number;
  /** BIC: delay between the business's connect request and the connect webhook, ms. */
  connectWebhookDelayMs: number;
  /** BIC: delay between the connect webhook and the RINGING status, ms. */
  ringingDelayMs: number;
  /** BIC: how long a picked-up call waits for ICE/DTLS before failing with 138020, ms. */
  establishTimeoutMs: number;
}

/** Dependencies handed down by the simulator. */
export interface SimulatedCallDeps {
  id: string;
  direction: CallDirection;
  number: SimulatedPhoneNumber;
  user: SimulatedUser;
  timing: CallTiming;
  impairment: MediaImpairment;
  random: SeededRandom;
  relayAddress: string;
  /** Don't send user audio before the first business RTP packet (conservative reading of §8.1). */
  waitForBusinessMedia: boolean;
  /** Sends a webhook (the simulator adds URL, signature, faults). */
  deliver: (payload: WhatsAppWebhookPayload, event: string, field?: 'calls' | 'messages') => void;
  logger: Logger;
  bizOpaqueCallbackData?: string | undefined;
  /** The user's end. Default an in-process {@link SimulatedPhone}. */
  phone?: UserPhone;
}

export interface RecordingStats extends HeardAudioStats {
  packetsReceived: number;
  packetsSent: number;
  heardDigits: string;
}

export interface SimulatedCallSnapshot {
  id: string;
  direction: CallDirection;
  state: SimulatedCallState;
  phoneNumberId: string;
  /** The user's phone number, else BSUID. */
  user: string;
  /** The user's BSUID. */
  userId: string;
  /** The user's username, if any. */
  username?: string;
  /** Who the user is: the in-process simulated phone or a browser. */
  userEnd: UserPhoneKind;
  createdAt: string;
  answeredAt?: string;
  endedAt?: string;
  endReason?: CallEndReason;
  mediaState: string;
  voice: string;
  heardDigits: string;
  packetsReceived: number;
  packetsSent: number;
}

type CallEvents = {
  state: [SimulatedCallState, SimulatedCallState];
  /** A DTMF digit the business sent to the user. */
  digit: [string];
  ended: [CallEndReason];
};

export class SimulatedCall extends SafeEventEmitter<CallEvents> {
  readonly id: string;
  readonly direction: CallDirection;
  readonly number: SimulatedPhoneNumber;
  readonly user: SimulatedUser;
  readonly createdAt = Date.now();
  readonly relay: MetaRelayPeer;
  private stateValue: SimulatedCallState;
  private answeredAtMs: number | undefined;
  private endedAtMs: number | undefined;
  private endReasonValue: CallEndReason | undefined;
  private preAcceptSdp: string | undefined;
  /** The business's answer is being or was applied to the relay (UIC). */
  private answerApplying = false;
  private bizOpaque: string | undefined;
  private readonly deps: SimulatedCallDeps;
  private readonly timers = new Set<NodeJS.Timeout>();
  private watchdog: NodeJS.Timeout | undefined;
  private phoneValue: UserPhone;
  private phoneStarted = false;
  private readonly dtmfDecoder = new DtmfDecoder();
  private heardDigitsValue = '';
  private firstBusinessMediaAt: number | undefined;
  private lastBusinessMediaAt: number | undefined;
  private businessRtpSeen = false;
  private packetsReceived = 0;
  private packetsSent = 0;

  constructor(deps: SimulatedCallDeps) {
    super((event, err) => deps.logger.warn({ err, event }, 'simulated call listener threw'));
    this.deps = deps;
    this.id = deps.id;
    this.direction = deps.direction;
    this.number = deps.number;
    this.user = deps.user;
    this.bizOpaque = deps.bizOpaqueCallbackData;
    this.stateValue = deps.direction === 'USER_INITIATED' ? 'ringing' : 'dialing';
    this.phoneValue = deps.phone ?? new SimulatedPhone(this.createdAt);
    this.relay = new MetaRelayPeer({
      relayAddress: deps.relayAddress,
      impairment: deps.impairment,
      random: deps.random,
    });
    this.relay.on('rtp', (p) => this.onBusinessRtp(p));
    this.relay.on('rtcp', () => this.onBusinessMedia());
    this.relay.on('state', (s) => {
      if (s === 'failed' && this.stateValue !== 'ended') {
        this.end('relay_failed', 'FAILED', TerminateErrors.relayConnectionFailed());
      }
    });
  }

  get state(): SimulatedCallState {
    return this.stateValue;
  }

  get answeredAt(): Date | undefined {
    return this.answeredAtMs === undefined ? undefined : new Date(this.answeredAtMs);
  }

  get endReason(): CallEndReason | undefined {
    return this.endReasonValue;
  }

  /** Digits the user heard from the business (RFC 4733), in order. */
  get heardDigits(): string {
    return this.heardDigitsValue;
  }

  /** Meta's SDP for this call: the offer (UIC) or the answer (BIC). */
  get metaSdp(): string {
    return this.relay.localSdp;
  }

  private get webhookContext(): CallWebhookContext {
    return {
      id: this.id,
      direction: this.direction,
      number: this.number,
      user: this.user,
      bizOpaqueCallbackData: this.bizOpaque,
    };
  }

  // ---------------------------------------------------------------- flows started by the simulator

  /**
   * User-initiated: create Meta's offer and notify the business. With `hangUpImmediately` (the
   * terminate-before-connect fault) the user gives up at once and the terminate webhook is
   * delivered before the connect webhook, as Meta's FAQ warns.
   */
  async startUserInitiated(hangUpImmediately = false): Promise<void> {
    const offer = await this.relay.createOffer();
    const connect = connectWebhook(this.webhookContext, offer, Date.now());
    if (hangUpImmediately) {
      this.end('user_hangup', 'FAILED');
      this.deps.deliver(connect, 'connect');
      return;
    }
    this.deps.deliver(connect, 'connect');
    this.schedule(this.deps.timing.acceptTimeoutMs, () => {
      if (this.stateValue === 'ringing' || this.stateValue === 'pre_accepted')
        this.end('accept_timeout', 'FAILED');
    });
  }

  /** Business-initiated: answer the business's offer, then connect webhook and RINGING. */
  async startBusinessInitiated(offerSdp: string): Promise<void> {
    let answer: string;
    try {
      answer = await this.relay.answerOffer(offerSdp);
    } catch (err) {
      this.deps.logger.warn({ err, callId: this.id }, 'relay could not answer the business offer');
      this.end('relay_failed', 'FAILED', TerminateErrors.relayConnectionFailed());
      return;
    }
    this.schedule(this.deps.timing.connectWebhookDelayMs, () => {
      if (this.stateValue !== 'dialing') return;
      this.deps.deliver(connectWebhook(this.webhookContext, answer, Date.now()), 'connect');
      this.schedule(this.deps.timing.ringingDelayMs, () => {
        if (this.stateValue !== 'dialing') return;
        this.setState('ringing');
        this.deps.deliver(
          callStatusWebhook(this.webhookContext, 'RINGING', Date.now()),
          'status:RINGING',
        );
        this.schedule(this.deps.timing.ringTimeoutMs, () => {
          if (this.stateValue === 'ringing') this.end('ring_timeout', 'FAILED');
        });
      });
    });
  }

  // ------------------------------------------------------------------ Graph actions of the business

  /** `pre_accept` (UIC). The SDP was validated by the Graph layer. */
  async businessPreAccept(sdp: string): Promise<void> {
    this.requireDirection('USER_INITIATED', 'pre_accept');
    if (this.stateValue !== 'ringing' || this.answerApplying) throw this.stateError('pre_accept');
    await this.applyAnswerOnce(sdp);
    this.preAcceptSdp = sdp;
    this.setState('pre_accepted');
  }

  /** `accept` (UIC): the call is picked up; media starts. */
  async businessAccept(sdp: string, bizOpaqueCallbackData?: string): Promise<void> {
    this.requireDirection('USER_INITIATED', 'accept');
    if (this.stateValue !== 'ringing' && this.stateValue !== 'pre_accepted')
      throw this.stateError('accept');
    if (this.preAcceptSdp !== undefined && sdp !== this.preAcceptSdp) {
      throw GraphErrors.invalidParameter(
        'SDP answer provided in accept does not match the SDP answer given in the Pre-Accept endpoint for the same call-id.',
      );
    }
    if (this.preAcceptSdp === undefined) {
      if (this.answerApplying) throw this.stateError('accept');
      await this.applyAnswerOnce(sdp);
    }
    // The call may have ended while the answer was applied.
    if ((this.stateValue as SimulatedCallState) === 'ended') throw this.stateError('accept');
    if (bizOpaqueCallbackData !== undefined) this.bizOpaque = bizOpaqueCallbackData;
    this.pickUp();
  }

  /** Applies the business's answer; a second concurrent request sees `answerApplying`. */
  private async applyAnswerOnce(sdp: string): Promise<void> {
    this.answerApplying = true;
    try {
      await this.relay.applyAnswer(sdp);
    } catch (err) {
      this.answerApplying = false;
      throw err;
    }
  }

  /** `reject` (UIC). */
  businessReject(): void {
    this.requireDirection('USER_INITIATED', 'reject');
    if (this.stateValue !== 'ringing' && this.stateValue !== 'pre_accepted')
      throw this.stateError('reject');
    this.end('business_reject', 'FAILED');
  }

  /** `terminate` (either direction; cancels a ringing business-initiated call). */
  businessTerminate(): void {
    if (this.stateValue === 'ended') {
      throw GraphErrors.invalidParameter('The WhatsApp user has already terminated the call.');
    }
    this.end('business_terminate', this.answeredAtMs !== undefined ? 'COMPLETED' : 'FAILED');
  }

  private requireDirection(direction: CallDirection, action: string): void {
    if (this.direction !== direction) {
      throw GraphErrors.invalidParameter(
        `Action ${action} is not supported for ${this.direction === 'USER_INITIATED' ? 'user' : 'business'}-initiated calls.`,
      );
    }
  }

  private stateError(action: string) {
    if (this.stateValue === 'ended') {
      return GraphErrors.invalidParameter(
        `Cannot ${action} call ${this.id}: the call has already ended.`,
      );
    }
    return GraphErrors.invalidParameter(
      `Cannot ${action} call ${this.id}: the call is ${this.stateValue.replace('_', '-')}.`,
    );
  }

  // ----------------------------------------------------------------------- what the user can do

  /** BIC: the user picks up. Resolves once ACCEPTED was sent (after the media path is up). */
  async answer(): Promise<void> {
    if (this.direction !== 'BUSINESS_INITIATED')
      throw new ConnectorError(
        'failed_precondition',
        'only business-initiated calls are answered by the user',
      );
    if (this.stateValue !== 'ringing')
      throw new ConnectorError('failed_precondition', `call is ${this.stateValue}, not ringing`);
    try {
      await this.relay.waitConnected(this.deps.timing.establishTimeoutMs);
    } catch {
      if (this.stateValue === 'ringing')
        this.end('relay_failed', 'FAILED', TerminateErrors.relayConnectionFailed());
      throw new ConnectorError(
        'failed_precondition',
        'the media path to the business did not come up',
      );
    }
    if (this.stateValue !== 'ringing')
      throw new ConnectorError('failed_precondition', `call is ${this.stateValue}`);
    this.pickUp();
    // "The ACCEPTED call status webhook arrives after the call is established" (reference §4.4).
    this.deps.deliver(
      callStatusWebhook(this.webhookContext, 'ACCEPTED', Date.now()),
      'status:ACCEPTED',
    );
  }

  /** BIC: the user declines: REJECTED status, then terminate. */
  reject(): void {
    if (this.direction !== 'BUSINESS_INITIATED')
      throw new ConnectorError(
        'failed_precondition',
        'only business-initiated calls are rejected by the user',
      );
    if (this.stateValue !== 'ringing' && this.stateValue !== 'dialing')
      throw new ConnectorError('failed_precondition', `call is ${this.stateValue}, not ringing`);
    this.deps.deliver(
      callStatusWebhook(this.webhookContext, 'REJECTED', Date.now()),
      'status:REJECTED',
    );
    this.end('user_reject', 'FAILED');
  }

  /** The user hangs up (any state). */
  hangUp(): void {
    if (this.stateValue === 'ended') return;
    this.end('user_hangup', this.answeredAtMs !== undefined ? 'COMPLETED' : 'FAILED');
  }

  /** The user's end of the call. */
  get phone(): UserPhone {
    return this.phoneValue;
  }

  /**
   * Hands the user's end to another phone (a browser answering or placing the call). Only before
   * the call is picked up; the previous phone is closed.
   * @throws ConnectorError `failed_precondition` once the call was picked up or ended.
   */
  usePhone(phone: UserPhone): void {
    if (this.phoneStarted || this.stateValue === 'ended' || this.stateValue === 'active') {
      throw new ConnectorError(
        'failed_precondition',
        `the user's end of call ${this.id} can no longer change (call is ${this.stateValue})`,
      );
    }
    const previous = this.phoneValue;
    this.phoneValue = phone;
    void previous.close();
  }

  /** The in-process phone, for what only it can do (speak, press keys, record). */
  private simulatedPhone(action: string): SimulatedPhone {
    if (this.phoneValue instanceof SimulatedPhone) return this.phoneValue;
    throw new ConnectorError(
      'failed_precondition',
      `call ${this.id} is answered by a ${this.phoneValue.kind}: ${action} happens there`,
    );
  }

  /** What the user says from now on (tone, WAV, silence). In-process phones only. */
  speak(voice: UserVoice): void {
    this.simulatedPhone('speaking').speak(voice);
  }

  get voiceDescription(): string {
    return this.phoneValue.description;
  }

  /**
   * The user presses keys: RFC 4733 events on the telephone-event payload type, sharing the
   * audio stream's sequence and timestamp base. Resolves when the last digit was sent.
   */
  async pressDigits(
    digits: string,
    options: { durationMs?: number; gapMs?: number } = {},
  ): Promise<void> {
    const phone = this.simulatedPhone('pressing keys');
    if (![...digits].every(isDtmfDigit)) {
      throw new ConnectorError('invalid_argument', 'digits must be 0-9, *, #, A-D');
    }
    if (this.stateValue !== 'active')
      throw new ConnectorError('failed_precondition', `call is ${this.stateValue}, not active`);
    await phone.pressDigits(digits, options);
  }

  /** Everything the user heard so far. In-process phones only. */
  recording(): CallRecording {
    return this.simulatedPhone('recording what the user hears').recording();
  }

  /**
   * Level and (with `expectHz`) tone analysis of what the user heard, optionally only the last
   * `lastMs` milliseconds. In-process phones only.
   */
  recordingStats(options: { expectHz?: number; lastMs?: number } = {}): RecordingStats {
    return {
      ...this.simulatedPhone('recording what the user hears').heardStats(options),
      packetsReceived: this.packetsReceived,
      packetsSent: this.packetsSent,
      heardDigits: this.heardDigitsValue,
    };
  }

  /** Resolves when the call reaches `state`; rejects if it ends first or on timeout. */
  waitForState(state: SimulatedCallState, timeoutMs = 10_000): Promise<void> {
    if (this.stateValue === state) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.off('state', onState);
        reject(
          new Error(
            `call ${this.id} did not reach ${state} within ${timeoutMs} ms (it is ${this.stateValue})`,
          ),
        );
      }, timeoutMs);
      const onState = (s: SimulatedCallState) => {
        if (s === state || s === 'ended') {
          clearTimeout(timer);
          this.off('state', onState);
          if (s === state) resolve();
          else
            reject(
              new Error(
                `call ${this.id} ended (${this.endReasonValue ?? 'unknown'}) before reaching ${state}`,
              ),
            );
        }
      };
      this.on('state', onState);
    });
  }

  snapshot(): SimulatedCallSnapshot {
    return {
      id: this.id,
      direction: this.direction,
      state: this.stateValue,
      phoneNumberId: this.number.id,
      user: this.user.key,
      userId: this.user.userId,
      ...(this.user.username !== undefined ? { username: this.user.username } : {}),
      userEnd: this.phoneValue.kind,
      createdAt: new Date(this.createdAt).toISOString(),
      ...(this.answeredAtMs !== undefined
        ? { answeredAt: new Date(this.answeredAtMs).toISOString() }
        : {}),
      ...(this.endedAtMs !== undefined ? { endedAt: new Date(this.endedAtMs).toISOString() } : {}),
      ...(this.endReasonValue !== undefined ? { endReason: this.endReasonValue } : {}),
      mediaState: this.relay.state,
      voice: this.phoneValue.description,
      heardDigits: this.heardDigitsValue,
      packetsReceived: this.packetsReceived,
      packetsSent: this.packetsSent,
    };
  }

  // --------------------------------------------------------------------------------- internals

  private setState(next: SimulatedCallState): void {
    const prev = this.stateValue;
    if (prev === next || prev === 'ended') return;
    this.stateValue = next;
    this.emit('state', next, prev);
  }

  private schedule(ms: number, fn: () => void): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      fn();
    }, ms);
    this.timers.add(timer);
  }

  private pickUp(): void {
    this.answeredAtMs ??= Date.now();
    this.user.recordConnectedCall(this.number.id, this.direction);
    this.setState('active');
    this.startPhone();
    this.startWatchdog();
  }

  /** Lends the phone the relay: user media flows from now on. */
  private startPhone(): void {
    if (this.phoneStarted) return;
    this.phoneStarted = true;
    const mayTransmit = (): boolean => !this.deps.waitForBusinessMedia || this.businessRtpSeen;
    const link: UserPhoneLink = {
      opusPayloadType: this.relay.opusPayloadType,
      telephoneEventPayloadType: this.relay.telephoneEventPayloadType ?? 126,
      get mayTransmit(): boolean {
        return mayTransmit();
      },
      send: (packet: UserRtpPacket) => {
        if (this.stateValue === 'ended' || !mayTransmit()) return;
        this.packetsSent++;
        this.relay.send(packet);
      },
    };
    this.phoneValue.start(link);
  }

  private onBusinessMedia(): void {
    const now = Date.now();
    this.firstBusinessMediaAt ??= now;
    this.lastBusinessMediaAt = now;
  }

  private onBusinessRtp(p: RelayRtpPacket): void {
    if (this.stateValue === 'ended') return;
    this.onBusinessMedia();
    this.businessRtpSeen = true;
    this.packetsReceived++;
    // WhatsApp treats the first media packet as answering a pre-accepted call (reference §2.2).
    if (this.stateValue === 'pre_accepted') this.answeredAtMs ??= Date.now();
    const codec =
      p.payloadType === this.relay.opusPayloadType
        ? 'opus'
        : p.payloadType === (this.relay.telephoneEventPayloadType ?? 126)
          ? 'telephone-event'
          : undefined;
    if (codec === undefined) return;
    if (codec === 'telephone-event') {
      const digit = this.dtmfDecoder.push(p.payload, p.timestamp);
      if (digit) {
        this.heardDigitsValue += digit.digit;
        this.emit('digit', digit.digit);
      }
    }
    // A ringing phone plays nothing the business sends yet.
    if (this.stateValue === 'active' || this.stateValue === 'pre_accepted') {
      this.phoneValue.hear({ ...p, codec });
    }
  }

  private startWatchdog(): void {
    if (this.watchdog) return;
    const { mediaStartTimeoutMs, mediaGapTimeoutMs } = this.deps.timing;
    const every = Math.min(
      500,
      Math.max(20, Math.min(mediaStartTimeoutMs, mediaGapTimeoutMs) / 10),
    );
    const startedAt = Date.now();
    this.watchdog = setInterval(() => {
      const now = Date.now();
      const silentSince = this.lastBusinessMediaAt;
      const timedOut =
        silentSince === undefined
          ? now - startedAt >= mediaStartTimeoutMs
          : now - silentSince >= mediaGapTimeoutMs && now - startedAt >= mediaStartTimeoutMs;
      if (timedOut) this.end('media_timeout', 'FAILED', TerminateErrors.mediaReceiveTimeout());
    }, every);
  }

  /** Ends the call and sends the terminate webhook (unless the simulator is shutting down). */
  private end(reason: CallEndReason, status: 'COMPLETED' | 'FAILED', error?: WebhookError): void {
    if (this.stateValue === 'ended') return;
    this.endedAtMs = Date.now();
    this.endReasonValue = reason;
    this.stopTimers();
    if (reason !== 'simulator_closed') {
      this.deps.deliver(
        terminateWebhook(this.webhookContext, {
          at: this.endedAtMs,
          answeredAt: this.answeredAtMs,
          status,
          error,
        }),
        'terminate',
      );
    }
    this.setState('ended');
    this.emit('ended', reason);
    void this.phoneValue.close();
    void this.relay.close();
  }

  private stopTimers(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    if (this.watchdog) clearInterval(this.watchdog);
    this.watchdog = undefined;
  }

  /** Ends the call silently (no webhook) and releases everything. Idempotent. */
  async close(): Promise<void> {
    this.end('simulator_closed', 'FAILED');
    await Promise.all([this.phoneValue.close(), this.relay.close()]);
  }
}
