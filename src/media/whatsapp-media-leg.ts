/**
 * The business side of one WhatsApp call's media: a WebRTC leg to Meta's media relay, assembled
 * from small stages:
 *
 * - {@link WhatsAppNegotiator}: the werift peer connection and the SDP offer/answer with Meta's
 *   rules (one SDP module, candidate allow-list);
 * - {@link WeriftRtpTransport}: RTP in and out of the negotiated transceiver;
 * - {@link RtpReceiver}: demux by payload type, Opus packets as they arrive, jitter buffer, loss
 *   concealment and decoding (only while PCM is wanted), RFC 4733 digits;
 * - {@link RtpSender}: SSRC, sequence numbers and timestamps, the PCM send queue and its drift
 *   trimming, forwarded Opus with keep-alives, bounded RFC 4733 scheduling;
 * - one {@link FrameClock}: every 20 ms the sender fills its slot and the receiver plays out one
 *   frame (emitted as `audio`).
 *
 * Two ways to carry audio, switchable mid-call without a timestamp jump:
 * - PCM (mixing/transcoding): `sendAudio` frames in, `audio` frames out;
 * - Opus passthrough: `sendOpus` forwards encoded packets (e.g. from a LiveKit agent), `opus`
 *   events hand out Meta's packets undecoded; `selectAudioSource('opus')` and `setPcmOutput(false)`
 *   turn the PCM work off.
 */
import { ConnectorError } from '../errors/connector-error.js';
import { createLogger, type Logger } from '../log/logger.js';
import { SafeEventEmitter } from '../util/typed-emitter.js';
import { FrameClock } from './frame-clock.js';
import {
  AudioLevelMeter,
  mediaQuality,
  type MediaQuality,
  type ReceiverReportBlock,
} from './media-quality.js';
import {
  assertOpusPcmRate,
  OPUS_FRAME_MS,
  OPUS_RTP_CLOCK_RATE,
  OpusFrameDecoder,
  type OpusPcmRate,
} from './opus-codec.js';
import { dtmfDigitToEvent, type DtmfDigit } from './rtp-dtmf.js';
import { RtpReceiver, type ReceivedOpusPacket, type RtpReceiverStats } from './rtp-receiver.js';
import {
  RtpSender,
  type ForwardedOpusPacket,
  type ForwardedOpusPolicy,
  type RtpSenderStats,
  type SendAudioSource,
} from './rtp-sender.js';
import { WeriftRtpTransport } from './werift-rtp-transport.js';
import { WhatsAppNegotiator } from './whatsapp-negotiator.js';

export type { ReceivedOpusPacket } from './rtp-receiver.js';
export type { ForwardedOpusPacket, ForwardedOpusPolicy, SendAudioSource } from './rtp-sender.js';

export interface WhatsAppMediaLegJitterOptions {
  /** Optional - playout delay kept by the jitter buffer, ms (rounded to 20 ms frames). Default 40. */
  targetMs?: number;
  /** Optional - most audio held before the oldest is dropped, ms. Default 200. */
  maxMs?: number;
}

export interface WhatsAppMediaLegOptions {
  /** Required - PCM rate of `sendAudio` input and `audio` output, Hz: 16000 or 48000. */
  sampleRate: number;
  /**
   * Optional - extra host addresses for ICE gathering. werift skips loopback by default; tests
   * pass `['127.0.0.1']`. Default none.
   */
  iceAdditionalHostAddresses?: string[];
  /**
   * Optional - use only these local addresses for ICE: candidates on other interfaces are neither
   * advertised nor used for checks (tests pass `['127.0.0.1']` to keep traffic on loopback; a
   * multi-homed server can pin its public interface). Default: all interfaces.
   */
  iceAllowedAddresses?: string[];
  /** Optional - UDP port range for ICE candidates, [min, max] (min ≠ max). Default: any port. */
  icePortRange?: [number, number];
  /** Optional - STUN/TURN servers, for a server behind NAT. Default none (host candidates only). */
  iceServers?: { urls: string; username?: string; credential?: string }[];
  /** Optional - gather IPv6 candidates. Default true. */
  iceUseIpv6?: boolean;
  /** Optional - how long createOffer/createAnswer wait for ICE gathering, ms. Default 5000. */
  iceGatheringTimeoutMs?: number;
  /**
   * Optional - networks whose ICE candidates (named in Meta's SDP) may be contacted: CIDRs
   * (`157.240.0.0/16`), single addresses, or `public` for every public unicast address. Candidates
   * elsewhere are dropped and never sent a STUN check. Default: public addresses, plus loopback
   * when this leg's own ICE addresses include loopback (development, tests).
   */
  allowedCandidateNetworks?: string[];
  /** Optional - jitter buffer sizing. */
  jitter?: WhatsAppMediaLegJitterOptions;
  /** Optional - frames `sendAudio` may queue before the oldest is dropped (20 ms each). Default 10. */
  sendQueueFrames?: number;
  /** Optional - Opus bitrate sent to Meta, bits/s. Default 20000 (Meta's maxaveragebitrate). */
  opusBitrate?: number;
  /** Optional - Opus encoder complexity 0-10 (CPU vs quality). Default 9. */
  opusComplexity?: number;
  /** Optional - duration of each DTMF tone sent, ms. Default 100. */
  dtmfDurationMs?: number;
  /**
   * Optional - DTMF digits `sendDtmf` may queue beyond the one being sent; more are dropped (and
   * counted in `dtmfDropped`) so a flood neither grows memory nor keeps the caller's audio
   * replaced by tones for long. Default 16.
   */
  dtmfQueueDigits?: number;
  /**
   * Optional - what `sendOpus` does with forwarded Opus. Default `auto`: forwarded unchanged while
   * it fits what Meta's SDP asks for (20 ms packets, average bitrate within `maxaveragebitrate`),
   * decoded and re-encoded at Meta's limits otherwise. `passthrough` never re-encodes, `reencode`
   * always does.
   */
  forwardedOpus?: ForwardedOpusPolicy;
  /** Optional - decode Meta's audio into `audio` PCM frames. Default true (see setPcmOutput). */
  pcmOutput?: boolean;
  /** Optional - logger; a child with `component: 'whatsapp-media-leg'` is used. */
  logger?: Logger;
}

/** `new` → `connecting` (descriptions exchanged) → `connected` (ICE + DTLS up) → `closed`. */
export type WhatsAppMediaLegState = 'new' | 'connecting' | 'connected' | 'closed';

/** Why a leg closed. */
export type WhatsAppMediaLegCloseReason = 'closed' | 'ice-dtls-failed' | 'peer-closed' | 'error';

export interface WhatsAppMediaLegEvents extends Record<string, unknown[]> {
  /** ICE and DTLS are up; media flows from now on. */
  connected: [];
  /**
   * One 20 ms mono frame at `sampleRate` (after jitter buffer and loss concealment), emitted on a
   * steady 20 ms clock once the first packet arrived, while PCM output is on. A fresh array each
   * time: listeners may keep it.
   */
  audio: [pcm: Int16Array];
  /**
   * One Opus RTP packet from Meta as it arrived (not decoded, not reordered): for forwarding.
   * DTMF events are never delivered here. Listeners may keep the payload.
   */
  opus: [packet: ReceivedOpusPacket];
  /** A DTMF digit received from the user (RFC 4733), reported once per key press. */
  dtmf: [digit: DtmfDigit];
  /** The leg closed (after `close()` or because the transport failed). Emitted once. */
  closed: [reason: WhatsAppMediaLegCloseReason];
  /** A non-fatal problem (the leg keeps running) or the fatal one just before `closed`. */
  error: [err: Error];
}

/** Counters since the leg was created. Units: packets and 20 ms frames unless stated. */
export interface WhatsAppMediaLegStats
  extends Omit<RtpReceiverStats, 'rtcpPackets'>, Omit<RtpSenderStats, never> {
  state: WhatsAppMediaLegState;
  /** RTCP packets received from Meta. */
  rtcpReceived: number;
  /** Times the 20 ms clock fell more than 100 ms behind (event loop blocked) and resynced. */
  clockResyncs: number;
  /** Remote ICE candidates dropped because they are outside the allowed networks. */
  disallowedCandidates: number;
}

/** How long levels are measured on the passthrough path after each `quality()` call, ms. */
const METER_WINDOW_MS = 5000;

/** One WebRTC leg to Meta for one call. Create with {@link WhatsAppMediaLeg.create}. */
export class WhatsAppMediaLeg extends SafeEventEmitter<WhatsAppMediaLegEvents> {
  readonly sampleRate: OpusPcmRate;
  /** Samples per 20 ms frame at `sampleRate`. */
  readonly frameSamples: number;

  private readonly log: Logger;
  private readonly negotiator: WhatsAppNegotiator;
  private readonly transport: WeriftRtpTransport;
  private readonly receiver: RtpReceiver;
  private readonly sender: RtpSender;
  private readonly clock: FrameClock;
  private currentState: WhatsAppMediaLegState = 'new';
  private closing: Promise<void> | undefined;
  private disallowedCandidates = 0;
  /** Levels of the PCM played out and given to send, and Meta's last report on our stream. */
  private readonly receivedLevel = new AudioLevelMeter();
  private readonly sentLevel = new AudioLevelMeter();
  private lastReport: ReceiverReportBlock | undefined;
  /**
   * On the Opus passthrough path nothing is decoded, so the levels are measured on demand: for
   * {@link METER_WINDOW_MS} after each `quality()` call (an operator watching), the packets in
   * both directions are decoded for the meters only. Until then (and when nobody asks), no CPU.
   */
  private meteringUntil = Number.NEGATIVE_INFINITY;
  private meterIn: OpusFrameDecoder | undefined;
  private meterOut: OpusFrameDecoder | undefined;
  private meteredIn = false;
  private meteredOut = false;

  private constructor(options: WhatsAppMediaLegOptions) {
    super((event, err) =>
      this.log.warn({ event, err: errorMessage(err) }, 'media leg listener threw'),
    );
    assertOpusPcmRate(options.sampleRate);
    this.sampleRate = options.sampleRate;
    this.frameSamples = (options.sampleRate * OPUS_FRAME_MS) / 1000;
    this.log = (options.logger ?? createLogger({ name: 'media' })).child({
      component: 'whatsapp-media-leg',
    });
    this.negotiator = new WhatsAppNegotiator({
      sampleRate: this.sampleRate,
      ...pick(options, [
        'iceAdditionalHostAddresses',
        'iceAllowedAddresses',
        'icePortRange',
        'iceServers',
        'iceUseIpv6',
        'iceGatheringTimeoutMs',
        'allowedCandidateNetworks',
      ]),
      logger: this.log,
    });
    this.receiver = new RtpReceiver({
      sampleRate: this.sampleRate,
      ...(options.jitter ? { jitter: options.jitter } : {}),
      pcm: options.pcmOutput ?? true,
      onOpus: (packet) => {
        if (!this.receiver.pcm && this.metering()) {
          this.meterIn ??= new OpusFrameDecoder({ sampleRate: 16000 });
          const pcm = this.meterIn.decode(packet.payload);
          if (pcm) {
            this.receivedLevel.push(pcm);
            this.meteredIn = true;
          }
        }
        this.emit('opus', packet);
      },
      onDtmf: (dtmf) => this.emit('dtmf', dtmf.digit),
    });
    this.transport = new WeriftRtpTransport(this.negotiator.pc, {
      onRtp: (packet) => {
        if (this.currentState !== 'closed') this.receiver.receive(packet);
      },
      onRtcp: () => this.receiver.receiveRtcp(),
      onReceiverReport: (block) => {
        this.lastReport = block;
      },
      onSendError: (err) => this.log.debug({ err: errorMessage(err) }, 'RTP send failed'),
    });
    this.sender = new RtpSender({
      sink: this.transport,
      sampleRate: this.sampleRate,
      ...(options.sendQueueFrames !== undefined
        ? { sendQueueFrames: options.sendQueueFrames }
        : {}),
      ...(options.opusBitrate !== undefined ? { opusBitrate: options.opusBitrate } : {}),
      ...(options.opusComplexity !== undefined ? { opusComplexity: options.opusComplexity } : {}),
      dtmf: {
        ...(options.dtmfDurationMs !== undefined ? { durationMs: options.dtmfDurationMs } : {}),
        ...(options.dtmfQueueDigits !== undefined
          ? { maxQueuedDigits: options.dtmfQueueDigits }
          : {}),
      },
      forwardedOpus: options.forwardedOpus ?? 'auto',
    });
    this.clock = new FrameClock({
      onTick: this.tick,
      onError: (err) => this.emit('error', asError(err)),
    });
    this.negotiator.pc.connectionStateChange.subscribe((state) => this.onConnectionState(state));
  }

  /** Create a leg. @throws ConnectorError `invalid_argument` for an unsupported sample rate. */
  static create(options: WhatsAppMediaLegOptions): WhatsAppMediaLeg {
    return new WhatsAppMediaLeg(options);
  }

  get state(): WhatsAppMediaLegState {
    return this.currentState;
  }

  /** Our ICE role once descriptions are applied (expected: `controlling`). */
  get iceRole(): 'controlling' | 'controlled' | undefined {
    return this.negotiator.iceRole;
  }

  /** Our DTLS role once negotiated (`client` when answering Meta). */
  get dtlsRole(): 'client' | 'server' | undefined {
    return this.negotiator.dtlsRole;
  }

  /** Negotiated payload types (Opus, telephone-event/8000 or undefined if not negotiated). */
  get payloadTypes(): { opus: number; telephoneEvent: number | undefined } {
    const negotiated = this.negotiator.payloadTypes;
    return { opus: negotiated?.opus ?? 111, telephoneEvent: negotiated?.telephoneEvent };
  }

  /**
   * Business-initiated call: a complete SDP offer (all candidates gathered, no trickle).
   * @throws ConnectorError `failed_precondition` if the leg is not new.
   */
  async createOffer(): Promise<string> {
    this.assertState('new', 'createOffer');
    this.currentState = 'connecting';
    const offer = await this.negotiator.createOffer();
    this.bindTransport();
    return offer;
  }

  /**
   * Apply Meta's answer to our offer. An answer carrying `a=setup:actpass` (seen from Meta) is read
   * as `active`.
   * @throws InvalidSdpError (a ConnectorError `invalid_argument`) if the SDP is unusable: over the
   * size or candidate limits, no Opus, no candidate in an allowed network, not an answer to us.
   * ConnectorError `failed_precondition` without a pending offer.
   */
  async setRemoteAnswer(sdp: string): Promise<void> {
    if (
      this.currentState !== 'connecting' ||
      this.negotiator.pc.signalingState !== 'have-local-offer'
    ) {
      throw new ConnectorError('failed_precondition', 'setRemoteAnswer needs a pending offer');
    }
    await this.negotiator.setRemoteAnswer(sdp);
    this.adoptPayloadTypes();
  }

  /**
   * User-initiated call: answer Meta's offer. Returns a complete SDP answer (`a=setup:active`).
   * @throws InvalidSdpError (a ConnectorError `invalid_argument`) if the offer is unusable,
   * ConnectorError `failed_precondition` if the leg is not new.
   */
  async createAnswer(remoteOffer: string): Promise<string> {
    this.assertState('new', 'createAnswer');
    this.currentState = 'connecting';
    const answer = await this.negotiator.createAnswer(remoteOffer);
    this.bindTransport();
    this.adoptPayloadTypes();
    return answer;
  }

  /**
   * Queue one 20 ms mono frame (`frameSamples` samples at `sampleRate`) to send. The frame is
   * copied. When the queue is full the oldest frame is dropped. Ignored after close, and dropped
   * (counted) while forwarded Opus is the selected source.
   * @throws ConnectorError `invalid_argument` for a frame of the wrong length.
   */
  sendAudio(pcm: Int16Array): void {
    if (pcm.length !== this.frameSamples) {
      throw new ConnectorError('invalid_argument', 'audio frame must be 20 ms long', {
        samples: String(pcm.length),
        expected: String(this.frameSamples),
      });
    }
    if (this.currentState === 'closed') return;
    this.sentLevel.push(pcm);
    this.sender.sendPcm(pcm);
  }

  /** Frames waiting in the send queue. */
  get queuedFrames(): number {
    return this.sender.queuedFrames;
  }

  /**
   * Forward one already-encoded Opus packet to Meta (e.g. from a LiveKit agent's track), when the
   * `opus` source is selected ({@link selectAudioSource}). It goes out at once in the current 20 ms
   * slot with this leg's SSRC, sequence number and timestamp; when nothing is forwarded for a
   * slot, a keep-alive silence frame goes instead, so Meta keeps receiving media. Ignored before
   * the leg is connected and after close.
   */
  sendOpus(packet: ForwardedOpusPacket): void {
    if (this.currentState !== 'connected') return;
    if (this.sender.source === 'opus' && this.metering()) {
      this.meterOut ??= new OpusFrameDecoder({ sampleRate: 16000 });
      const pcm = this.meterOut.decode(packet.payload);
      if (pcm) {
        this.sentLevel.push(pcm);
        this.meteredOut = true;
      }
    }
    this.sender.sendOpus(packet);
  }

  private metering(): boolean {
    return performance.now() < this.meteringUntil;
  }

  /**
   * Where the audio sent to Meta comes from from now on: `pcm` (`sendAudio`, encoded here; the
   * default) or `opus` (`sendOpus`, forwarded). Audio queued for the other source is dropped;
   * the RTP timestamps continue without a jump.
   */
  selectAudioSource(source: SendAudioSource): void {
    this.sender.selectSource(source);
  }

  /** The selected source of the audio sent to Meta. */
  get audioSource(): SendAudioSource {
    return this.sender.source;
  }

  /**
   * Turns the `audio` PCM frames on or off. Off, Meta's Opus is not decoded at all (only the
   * `opus` events carry it); on again, playout re-buffers from the next packet.
   */
  setPcmOutput(enabled: boolean): void {
    this.receiver.pcm = enabled;
  }

  /**
   * Send DTMF digits (0-9, *, #, A-D) as RFC 4733 events on the negotiated telephone-event payload
   * type, one after the other. Digits beyond the bounded queue (`dtmfQueueDigits`) are dropped and
   * counted. Ignored after close.
   * @throws ConnectorError `invalid_argument` for a non-DTMF character, `failed_precondition` if
   * the remote did not negotiate telephone-event/8000.
   */
  sendDtmf(digits: string): void {
    if (digits.length === 0) throw new ConnectorError('invalid_argument', 'no DTMF digits given');
    for (const digit of digits) dtmfDigitToEvent(digit); // validates; throws invalid_argument
    if (this.currentState === 'closed') return;
    if (
      this.negotiator.transceiver &&
      this.negotiator.pc.remoteDescription &&
      this.negotiator.payloadTypes?.telephoneEvent === undefined
    ) {
      throw new ConnectorError(
        'failed_precondition',
        'the remote did not negotiate telephone-event/8000',
      );
    }
    const accepted = this.sender.sendDtmf(digits);
    if (accepted < digits.length) {
      this.log.debug({ dropped: digits.length - accepted }, 'DTMF queue full: digits dropped');
    }
  }

  /**
   * Live quality of both directions for operators: packets, loss, jitter (ours measured, Meta's
   * reported) and audio levels. On the Opus passthrough path the levels are measured from the
   * first call on, for 5 s after each call (decoding only while someone watches); until then they
   * are undefined.
   */
  quality(): MediaQuality {
    this.meteringUntil = performance.now() + METER_WINDOW_MS;
    const forwarding = this.sender.source === 'opus';
    return mediaQuality({
      received: this.receiver.stats(),
      sent: this.sender.stats(),
      receivedLevelDbfs: this.receiver.pcm || this.meteredIn ? this.receivedLevel.dbfs : undefined,
      sentLevelDbfs: !forwarding || this.meteredOut ? this.sentLevel.dbfs : undefined,
      report: this.lastReport,
      clockRate: OPUS_RTP_CLOCK_RATE,
    });
  }

  /** Counters and current buffer depth. */
  stats(): WhatsAppMediaLegStats {
    const { rtcpPackets, ...received } = this.receiver.stats();
    return {
      state: this.currentState,
      ...this.sender.stats(),
      ...received,
      rtcpReceived: rtcpPackets,
      clockResyncs: this.clock.resyncs,
      disallowedCandidates: this.disallowedCandidates,
    };
  }

  /** Stop the clock and close the peer connection. Idempotent; resolves when closed. */
  close(): Promise<void> {
    return this.shutdown('closed');
  }

  private shutdown(reason: WhatsAppMediaLegCloseReason, err?: Error): Promise<void> {
    if (this.closing) return this.closing;
    this.currentState = 'closed';
    this.clock.stop();
    this.sender.clear();
    this.transport.close();
    this.closing = (async () => {
      try {
        await this.negotiator.close();
      } catch (closeErr) {
        this.log.debug({ err: errorMessage(closeErr) }, 'peer connection close failed');
      }
      if (err) this.emit('error', err);
      this.emit('closed', reason);
      this.removeAllListeners();
    })();
    return this.closing;
  }

  private assertState(expected: WhatsAppMediaLegState, operation: string): void {
    if (this.currentState !== expected) {
      throw new ConnectorError('failed_precondition', `${operation} needs a ${expected} leg`, {
        state: this.currentState,
      });
    }
  }

  private bindTransport(): void {
    const transceiver = this.negotiator.transceiver;
    if (transceiver) this.transport.bind(transceiver);
  }

  private adoptPayloadTypes(): void {
    const negotiated = this.negotiator.payloadTypes;
    if (!negotiated) return;
    this.receiver.setPayloadTypes(negotiated.opus, negotiated.telephoneEvent);
    this.sender.setPayloadTypes(negotiated.opus, negotiated.telephoneEvent);
    if (negotiated.maxAverageBitrate !== undefined) {
      this.sender.setMaxAverageBitrate(negotiated.maxAverageBitrate);
    }
    this.disallowedCandidates = this.negotiator.disallowedCandidates;
  }

  private onConnectionState(state: string): void {
    if (this.currentState === 'closed') return;
    switch (state) {
      case 'connected':
        if (this.currentState === 'connected') return;
        this.currentState = 'connected';
        this.log.info(
          {
            iceRole: this.iceRole,
            dtlsRole: this.dtlsRole,
            opusPt: this.payloadTypes.opus,
          },
          'media leg connected',
        );
        this.clock.start();
        this.emit('connected');
        return;
      case 'failed':
        void this.shutdown('ice-dtls-failed', new ConnectorError('unavailable', 'ICE/DTLS failed'));
        return;
      case 'closed':
        void this.shutdown('peer-closed');
        return;
      default:
        this.log.debug({ state }, 'connection state');
    }
  }

  /** Every 20 ms: the sender fills its slot, the receiver plays out one frame. */
  private readonly tick = (): void => {
    if (this.currentState === 'closed') return;
    try {
      this.sender.tick();
    } catch (err) {
      this.emit('error', asError(err));
    }
    if (!this.receiver.mediaStarted || !this.receiver.pcm) return;
    let frame: Int16Array | undefined;
    try {
      frame = this.receiver.playout();
    } catch (err) {
      this.emit('error', asError(err));
      frame = new Int16Array(this.frameSamples);
    }
    // A listener may close the leg while handling the frame; the clock stops with it.
    if (frame) {
      this.receivedLevel.push(frame);
      this.emit('audio', frame);
    }
  };
}

function pick<T extends object, K extends keyof T>(
  source: T,
  keys: readonly K[],
): Partial<Pick<T, K>> {
  const out: Partial<Pick<T, K>> = {};
  for (const key of keys) if (source[key] !== undefined) out[key] = source[key];
  return out;
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}
