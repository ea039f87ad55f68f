/**
 * One call as the simulated WhatsApp user and Meta's relay experience it. It owns the relay peer
 * (media), the user's voice and ears (Opus at 16 kHz, RFC 4733 DTMF on the shared RTP stream),
 * the call state machine driven from both sides (the business through Graph actions, the user
 * through the methods below) and Meta's timers (accept window, ring timeout, media watchdogs).
 * Every transition that Meta reports produces the webhook Meta would send.
 */
import { randomInt } from 'node:crypto';
import { ConnectorError } from '../errors/connector-error.js';
import type { Logger } from '../log/index.js';
import { OpusFrameDecoder, OpusFrameEncoder } from '../media/opus-codec.js';
import { DtmfDecoder, encodeDtmfDigit, isDtmfDigit, type DtmfPacket } from '../media/rtp-dtmf.js';
import { analyseTone, concatPcm, rmsDbfs, type ToneAnalysis } from '../media/tone.js';
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
import { SilenceVoice, USER_AUDIO_RATE, type UserVoice } from './user-voice.js';
import {
  callStatusWebhook,
  connectWebhook,
  terminateWebhook,
  TerminateErrors,
  type CallWebhookContext,
} from './webhook-envelopes.js';

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
}

/** One chunk of what the user heard. */
export interface HeardChunk {
  /** Arrival time, ms since the call was created. */
  atMs: number;
  samples: Int16Array;
}

/** What the user heard, decoded to 16 kHz mono. */
export interface CallRecording {
  sampleRate: number;
  pcm: Int16Array;
  chunks: readonly HeardChunk[];
}

export interface RecordingStats extends Partial<ToneAnalysis> {
  sampleRate: number;
  /** Audio heard, ms (decoded frames × 20 ms). */
  durationMs: number;
  /** RMS of everything heard (or the analysed window), dBFS. */
  levelDbfs: number;
  packetsReceived: number;
  packetsSent: number;
  heardDigits: string;
}

export interface SimulatedCallSnapshot {
  id: string;
  direction: CallDirection;
  state: SimulatedCallState;
  phoneNumberId: string;
  user: string;
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

const FRAME_MS = 20;
const FRAME_SAMPLES = (USER_AUDIO_RATE * FRAME_MS) / 1000;
const RTP_TICKS_PER_FRAME = 960;

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
  private ticker: NodeJS.Timeout | undefined;
  private watchdog: NodeJS.Timeout | undefined;
  private voice: UserVoice = new SilenceVoice();
  private readonly encoder = new OpusFrameEncoder({ sampleRate: USER_AUDIO_RATE });
  private readonly decoder = new OpusFrameDecoder({ sampleRate: USER_AUDIO_RATE });
  private readonly dtmfDecoder = new DtmfDecoder();
  private readonly heard: HeardChunk[] = [];
  private heardDigitsValue = '';
  private firstBusinessMediaAt: number | undefined;
  private lastBusinessMediaAt: number | undefined;
  private businessRtpSeen = false;
  private packetsReceived = 0;
  private packetsSent = 0;
  private seq = randomInt(0, 0xffff);
  private rtpTs = randomInt(0, 2 ** 31);
  private nextTickAt = 0;
  /** DTMF packets to send, one tick's worth per entry. */
  private readonly dtmfQueue: { packets: DtmfPacket[]; gapFrames: number }[] = [];
  private dtmfEventTs: number | undefined;
  private dtmfWaiters: (() => void)[] = [];

  constructor(deps: SimulatedCallDeps) {
    super((event, err) => deps.logger.warn({ err, event }, 'simulated call listener threw'));
    this.deps = deps;
    this.id = deps.id;
    this.direction = deps.direction;
    this.number = deps.number;
    this.user = deps.user;
    this.bizOpaque = deps.bizOpaqueCallbackData;
    this.stateValue = deps.direction === 'USER_INITIATED' ? 'ringing' : 'dialing';
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

  /** What the user says from now on (tone, WAV, silence). */
  speak(voice: UserVoice): void {
    this.voice = voice;
  }

  get voiceDescription(): string {
    return this.voice.description;
  }

  /**
   * The user presses keys: RFC 4733 events on the telephone-event payload type, sharing the
   * audio stream's sequence and timestamp base. Resolves when the last digit was sent.
   */
  async pressDigits(
    digits: string,
    options: { durationMs?: number; gapMs?: number } = {},
  ): Promise<void> {
    for (const d of digits) {
      if (!isDtmfDigit(d))
        throw new ConnectorError('invalid_argument', 'digits must be 0-9, *, #, A-D');
    }
    if (this.stateValue !== 'active')
      throw new ConnectorError('failed_precondition', `call is ${this.stateValue}, not active`);
    const gapFrames = Math.max(1, Math.round((options.gapMs ?? 60) / FRAME_MS));
    for (const d of digits) {
      this.dtmfQueue.push({
        packets: encodeDtmfDigit(d, { durationMs: options.durationMs ?? 100 }),
        gapFrames,
      });
    }
    await new Promise<void>((resolve) => this.dtmfWaiters.push(resolve));
  }

  /** Everything the user heard so far. */
  recording(): CallRecording {
    return {
      sampleRate: USER_AUDIO_RATE,
      pcm: concatPcm(this.heard.map((c) => c.samples)),
      chunks: this.heard,
    };
  }

  /**
   * Level and (with `expectHz`) tone analysis of what the user heard, optionally only the last
   * `lastMs` milliseconds.
   */
  recordingStats(options: { expectHz?: number; lastMs?: number } = {}): RecordingStats {
    let pcm = this.recording().pcm;
    if (options.lastMs !== undefined) {
      pcm = pcm.subarray(
        Math.max(0, pcm.length - Math.round((options.lastMs * USER_AUDIO_RATE) / 1000)),
      );
    }
    const base = {
      sampleRate: USER_AUDIO_RATE,
      durationMs: Math.round((pcm.length * 1000) / USER_AUDIO_RATE),
      levelDbfs: rmsDbfs(pcm),
      packetsReceived: this.packetsReceived,
      packetsSent: this.packetsSent,
      heardDigits: this.heardDigitsValue,
    };
    return options.expectHz !== undefined
      ? { ...base, ...analyseTone(pcm, USER_AUDIO_RATE, options.expectHz) }
      : base;
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
      user: this.user.waId,
      createdAt: new Date(this.createdAt).toISOString(),
      ...(this.answeredAtMs !== undefined
        ? { answeredAt: new Date(this.answeredAtMs).toISOString() }
        : {}),
      ...(this.endedAtMs !== undefined ? { endedAt: new Date(this.endedAtMs).toISOString() } : {}),
      ...(this.endReasonValue !== undefined ? { endReason: this.endReasonValue } : {}),
      mediaState: this.relay.state,
      voice: this.voice.description,
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
    this.startTicker();
    this.startWatchdog();
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
    if (p.payloadType === this.relay.opusPayloadType) {
      // A ringing phone plays nothing the business sends yet.
      if (this.stateValue !== 'active' && this.stateValue !== 'pre_accepted') return;
      const pcm = this.decoder.decode(p.payload);
      if (pcm) this.heard.push({ atMs: Date.now() - this.createdAt, samples: pcm });
    } else if (p.payloadType === (this.relay.telephoneEventPayloadType ?? 126)) {
      const digit = this.dtmfDecoder.push(p.payload, p.timestamp);
      if (digit) {
        this.heardDigitsValue += digit.digit;
        this.emit('digit', digit.digit);
      }
    }
  }

  private startTicker(): void {
    if (this.ticker) return;
    this.nextTickAt = Date.now();
    const tick = () => {
      this.ticker = undefined;
      if (this.stateValue === 'ended') return;
      const now = Date.now();
      // Catch up after a stall but never burst more than a few frames.
      let frames = 0;
      while (this.nextTickAt <= now && frames < 5) {
        this.sendFrame();
        this.nextTickAt += FRAME_MS;
        frames++;
      }
      if (this.nextTickAt <= now) this.nextTickAt = now + FRAME_MS;
      this.ticker = setTimeout(tick, Math.max(1, this.nextTickAt - Date.now()));
    };
    tick();
  }

  private sendFrame(): void {
    const ts = this.rtpTs;
    this.rtpTs = (this.rtpTs + RTP_TICKS_PER_FRAME) >>> 0;
    const pcm = this.voice.next(FRAME_SAMPLES);
    if (this.deps.waitForBusinessMedia && !this.businessRtpSeen) return;
    const dtmf = this.dtmfQueue[0];
    if (dtmf) {
      this.dtmfEventTs ??= ts;
      if (dtmf.packets.length > 0) {
        // The end packet is sent three times back to back, all in the last interval.
        const batch = dtmf.packets[0]?.end ? dtmf.packets.splice(0) : dtmf.packets.splice(0, 1);
        for (const packet of batch) {
          this.transmit(
            this.relay.telephoneEventPayloadType ?? 126,
            this.dtmfEventTs,
            packet.marker,
            packet.payload,
          );
        }
        return;
      }
      if (dtmf.gapFrames-- > 0) {
        this.transmitAudio(ts, pcm);
        return;
      }
      this.dtmfQueue.shift();
      this.dtmfEventTs = undefined;
      if (this.dtmfQueue.length === 0) {
        for (const w of this.dtmfWaiters.splice(0)) w();
      }
    }
    this.transmitAudio(ts, pcm);
  }

  private transmitAudio(ts: number, pcm: Int16Array): void {
    this.transmit(this.relay.opusPayloadType, ts, false, this.encoder.encode(pcm));
  }

  private transmit(
    payloadType: number,
    timestamp: number,
    marker: boolean,
    payload: Uint8Array,
  ): void {
    this.seq = (this.seq + 1) & 0xffff;
    this.packetsSent++;
    this.relay.send({ payloadType, sequenceNumber: this.seq, timestamp, marker, payload });
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
    for (const w of this.dtmfWaiters.splice(0)) w();
    this.setState('ended');
    this.emit('ended', reason);
    void this.relay.close();
  }

  private stopTimers(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    if (this.ticker) clearTimeout(this.ticker);
    this.ticker = undefined;
    if (this.watchdog) clearInterval(this.watchdog);
    this.watchdog = undefined;
  }

  /** Ends the call silently (no webhook) and releases everything. Idempotent. */
  async close(): Promise<void> {
    this.end('simulator_closed', 'FAILED');
    await this.relay.close();
  }
}
