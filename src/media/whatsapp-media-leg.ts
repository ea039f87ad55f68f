/**
 * The business side of one WhatsApp call's media: a WebRTC leg to Meta's media relay.
 *
 * Meta is an ICE-lite agent and always controlled; we are ICE-full and controlling (werift takes the
 * controlling role by itself when the remote SDP says `a=ice-lite`, RFC 8445 §6.1.1). We answer
 * Meta's offers with `a=setup:active` (DTLS client, what Meta asks for); when we offer (business-
 * initiated calls) we offer `actpass` like browsers do and accept whatever role Meta's answer picks.
 * One audio m-line, Opus 48000/2 with 20 ms frames, RFC 4733 telephone-event/8000, one SSRC.
 *
 * Audio processing runs on one drift-corrected 20 ms clock per leg:
 * - send: one queued PCM frame (or silence when the bridge has none — Meta hangs up on a business
 *   side that sends no media for 20 s) is Opus-encoded and sent; DTMF events replace audio frames
 *   while they are sent;
 * - receive: packets are split by payload type (telephone-event vs Opus), Opus goes through a jitter
 *   buffer, and each tick one 20 ms frame is decoded (or concealed with Opus PLC when the packet is
 *   missing) and emitted as `audio`.
 *
 * werift 0.24.4 (pinned) is used directly for RTP. Two of its internals are relied upon, both
 * checked by the integration tests: `RTCRtpSender.sendRtp` always stamps the first negotiated codec's
 * payload type (so DTMF is sent with the sender's `codec` switched for that one synchronous call),
 * and RTCP sender reports start by themselves once RTP flows.
 */
import { performance } from 'node:perf_hooks';

import {
  MediaStreamTrack,
  RTCPeerConnection,
  RTCRtpCodecParameters,
  RtpHeader,
  RtpPacket,
  type RTCRtpTransceiver,
} from 'werift';

import { ConnectorError } from '../errors/connector-error.js';
import { createLogger, type Logger } from '../log/logger.js';
import { SafeEventEmitter } from '../util/typed-emitter.js';
import {
  assertOpusPcmRate,
  OPUS_FRAME_MS,
  OpusFrameDecoder,
  OpusFrameEncoder,
  type OpusPcmRate,
} from './opus-codec.js';
import {
  DtmfDecoder,
  dtmfDigitToEvent,
  encodeDtmfDigit,
  type DtmfDigit,
  type DtmfPacket,
} from './rtp-dtmf.js';
import { RtpJitterBuffer } from './rtp-jitter-buffer.js';

/** Opus payload type we offer (Meta uses 111). In answers the offer's payload type is used. */
const OPUS_PAYLOAD_TYPE = 111;
/** telephone-event payload type we offer (Meta uses 126). */
const TELEPHONE_EVENT_PAYLOAD_TYPE = 126;
/** RTP timestamp increment per 20 ms Opus frame (48 kHz RTP clock, RFC 7587). */
const OPUS_TIMESTAMP_STEP = 960;
/** Ticks run back-to-back at most when the event loop was blocked; beyond that the clock resyncs. */
const MAX_CATCH_UP_TICKS = 5;

/** Send-queue trimming: window length in 20 ms ticks (200 ms), and the standing depth trimmed. */
const TRIM_WINDOW_TICKS = 10;
const STANDING_QUEUE_FRAMES = 2;

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
   * steady 20 ms clock once the first packet arrived. A fresh array each time: listeners may keep it.
   */
  audio: [pcm: Int16Array];
  /** A DTMF digit received from the user (RFC 4733), reported once per key press. */
  dtmf: [digit: DtmfDigit];
  /** The leg closed (after `close()` or because the transport failed). Emitted once. */
  closed: [reason: WhatsAppMediaLegCloseReason];
  /** A non-fatal problem (the leg keeps running) or the fatal one just before `closed`. */
  error: [err: Error];
}

/** Counters since the leg was created. Units: packets and 20 ms frames unless stated. */
export interface WhatsAppMediaLegStats {
  state: WhatsAppMediaLegState;
  /** RTP packets we sent (Opus and telephone-event). */
  packetsSent: number;
  /** Opus frames sent with encoded silence because no audio was queued. */
  silenceFramesSent: number;
  /** Queued frames dropped because the send queue was full (the bridge outran the clock). */
  sendQueueDrops: number;
  /**
   * Queued frames dropped to keep latency low: audio that stood in the queue for a whole window
   * (the producer's clock runs ahead of ours, or a burst arrived) adds delay without helping.
   */
  sendQueueTrims: number;
  /** telephone-event events sent. */
  dtmfSent: number;
  /** RTP packets received (all payload types). */
  packetsReceived: number;
  /** Opus packets missing from the received sequence (played as lost). */
  packetsLost: number;
  /** Frames emitted from a decoded packet. */
  framesDecoded: number;
  /** Frames emitted as loss concealment (lost packets and underruns while playing). */
  framesConcealed: number;
  /** Frames emitted as silence (before playout started or while re-buffering). */
  framesSilent: number;
  /** Packets discarded because their slot had already been played. */
  lateDrops: number;
  /** Duplicate packets discarded. */
  duplicateDrops: number;
  /** Packets dropped because the jitter buffer overflowed or to compensate clock drift. */
  overflowDrops: number;
  /** Current jitter buffer depth, ms. */
  jitterBufferMs: number;
  /** DTMF digits received. */
  dtmfReceived: number;
  /** Packets with a payload type that is neither Opus nor telephone-event. */
  unknownPayloadPackets: number;
  /** Opus packets that failed to decode (concealed instead). */
  decodeErrors: number;
  /** Times the 20 ms clock fell more than 100 ms behind (event loop blocked) and resynced. */
  clockResyncs: number;
}

/** One WebRTC leg to Meta for one call. Create with {@link WhatsAppMediaLeg.create}. */
export class WhatsAppMediaLeg extends SafeEventEmitter<WhatsAppMediaLegEvents> {
  readonly sampleRate: OpusPcmRate;
  /** Samples per 20 ms frame at `sampleRate`. */
  readonly frameSamples: number;

  private readonly log: Logger;
  private readonly options: WhatsAppMediaLegOptions;
  private readonly pc: RTCPeerConnection;
  private readonly track = new MediaStreamTrack({ kind: 'audio' });
  private transceiver: RTCRtpTransceiver | undefined;
  private currentState: WhatsAppMediaLegState = 'new';
  private closing: Promise<void> | undefined;

  private readonly encoder: OpusFrameEncoder;
  private readonly decoder: OpusFrameDecoder;
  private readonly jitter: RtpJitterBuffer<Buffer>;
  private readonly dtmfDecoder = new DtmfDecoder();

  // Send queue: a ring of preallocated frames, so sendAudio copies instead of allocating.
  private readonly sendRing: Int16Array[];
  private sendWindowTicks = 0;
  private sendWindowMin = Number.POSITIVE_INFINITY;
  private sendRead = 0;
  private sendCount = 0;
  private readonly silence: Int16Array;

  // Negotiated payload types (from the final offer/answer).
  private opusPt = OPUS_PAYLOAD_TYPE;
  private dtmfPt: number | undefined;
  private dtmfCodec: RTCRtpCodecParameters | undefined;

  // Outgoing RTP state.
  private sequenceNumber = randomUint(16);
  private rtpTimestamp = randomUint(32);
  private firstPacketSent = false;
  private readonly dtmfQueue: string[] = [];
  private dtmfPackets: DtmfPacket[] | undefined;
  private dtmfIndex = 0;
  private dtmfTimestamp = 0;
  /** Audio frames to send between two DTMF events (RFC 4733 receivers need a gap). */
  private dtmfGapFrames = 0;

  // Receive/playout state.
  private mediaStarted = false;
  private remoteSsrc: number | undefined;
  private readonly outFifo: Int16Array;
  private outFifoLength = 0;

  // Clock.
  private timer: NodeJS.Timeout | undefined;
  private nextTickAt = 0;

  private readonly counters: Omit<WhatsAppMediaLegStats, 'state' | 'jitterBufferMs'> = {
    packetsSent: 0,
    silenceFramesSent: 0,
    sendQueueDrops: 0,
    sendQueueTrims: 0,
    dtmfSent: 0,
    packetsReceived: 0,
    packetsLost: 0,
    framesDecoded: 0,
    framesConcealed: 0,
    framesSilent: 0,
    lateDrops: 0,
    duplicateDrops: 0,
    overflowDrops: 0,
    dtmfReceived: 0,
    unknownPayloadPackets: 0,
    decodeErrors: 0,
    clockResyncs: 0,
  };

  private constructor(options: WhatsAppMediaLegOptions) {
    super((event, err) =>
      this.log.warn({ event, err: errorMessage(err) }, 'media leg listener threw'),
    );
    assertOpusPcmRate(options.sampleRate);
    this.options = options;
    this.sampleRate = options.sampleRate;
    this.frameSamples = (options.sampleRate * OPUS_FRAME_MS) / 1000;
    this.log = (options.logger ?? createLogger({ name: 'media' })).child({
      component: 'whatsapp-media-leg',
    });
    this.encoder = new OpusFrameEncoder({
      sampleRate: this.sampleRate,
      bitrate: options.opusBitrate ?? 20_000,
      complexity: options.opusComplexity ?? 9,
    });
    this.decoder = new OpusFrameDecoder({ sampleRate: this.sampleRate });
    const targetMs = options.jitter?.targetMs ?? 40;
    const maxMs = options.jitter?.maxMs ?? 200;
    this.jitter = new RtpJitterBuffer<Buffer>({
      targetFrames: Math.max(1, Math.round(targetMs / OPUS_FRAME_MS)),
      maxFrames: Math.max(2, Math.round(maxMs / OPUS_FRAME_MS)),
    });
    const queueFrames = Math.max(1, Math.floor(options.sendQueueFrames ?? 10));
    this.sendRing = Array.from({ length: queueFrames }, () => new Int16Array(this.frameSamples));
    this.silence = new Int16Array(this.frameSamples);
    // Room for one 120 ms Opus packet (the longest) plus a frame.
    this.outFifo = new Int16Array((this.sampleRate * 120) / 1000 + this.frameSamples);

    const opus = new RTCRtpCodecParameters({
      mimeType: 'audio/opus',
      clockRate: 48000,
      channels: 2,
      payloadType: OPUS_PAYLOAD_TYPE,
      parameters:
        this.sampleRate === 16000
          ? 'maxplaybackrate=16000;minptime=20;sprop-maxcapturerate=16000;useinbandfec=1'
          : 'minptime=20;useinbandfec=1',
    });
    // werift drops telephone-event from negotiation unless it is a configured codec.
    const telephoneEvent = new RTCRtpCodecParameters({
      mimeType: 'audio/telephone-event',
      clockRate: 8000,
      payloadType: TELEPHONE_EVENT_PAYLOAD_TYPE,
    });
    const allowed = options.iceAllowedAddresses ? new Set(options.iceAllowedAddresses) : undefined;
    this.pc = new RTCPeerConnection({
      codecs: { audio: [opus, telephoneEvent], video: [] },
      headerExtensions: { audio: [], video: [] },
      bundlePolicy: 'max-bundle',
      // Allowed addresses are also gathered: loopback is otherwise skipped by werift.
      iceAdditionalHostAddresses: [
        ...new Set([...(options.iceAdditionalHostAddresses ?? []), ...(allowed ?? [])]),
      ],
      icePortRange: options.icePortRange,
      iceServers: options.iceServers ?? [],
      iceUseIpv6: options.iceUseIpv6 ?? true,
      iceFilterCandidatePair: allowed ? (pair) => allowed.has(pair.localCandidate.host) : undefined,
    });
    this.pc.connectionStateChange.subscribe((state) => this.onConnectionState(state));
    // Remote media arrives on the receiver's track (one per call), not on our sending track.
    this.pc.onTrack.subscribe((remote) => {
      remote.onReceiveRtp.subscribe((packet) => this.onRtp(packet));
    });
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
    const ice = this.pc.iceTransports[0];
    if (!ice) return undefined;
    return ice.connection.iceControlling ? 'controlling' : 'controlled';
  }

  /** Our DTLS role once negotiated (`client` when answering Meta). */
  get dtlsRole(): 'client' | 'server' | undefined {
    const role = this.pc.dtlsTransports[0]?.role;
    return role === 'client' || role === 'server' ? role : undefined;
  }

  /** Negotiated payload types (Opus, telephone-event/8000 or undefined if not negotiated). */
  get payloadTypes(): { opus: number; telephoneEvent: number | undefined } {
    return { opus: this.opusPt, telephoneEvent: this.dtmfPt };
  }

  /**
   * Business-initiated call: a complete SDP offer (all candidates gathered, no trickle).
   * @throws ConnectorError `failed_precondition` if the leg is not new.
   */
  async createOffer(): Promise<string> {
    this.assertState('new', 'createOffer');
    this.currentState = 'connecting';
    this.transceiver = this.pc.addTransceiver(this.track, { direction: 'sendrecv' });
    const offer = await this.pc.createOffer();
    this.disableImplicitStun();
    await this.pc.setLocalDescription(offer);
    return this.completeLocalSdp();
  }

  /**
   * Apply Meta's answer to our offer. An answer carrying `a=setup:actpass` (seen from Meta) is read
   * as `active`.
   * @throws ConnectorError `invalid_argument` if the SDP is unusable (no Opus, not an answer to us).
   */
  async setRemoteAnswer(sdp: string): Promise<void> {
    if (this.currentState !== 'connecting' || this.pc.signalingState !== 'have-local-offer') {
      throw new ConnectorError('failed_precondition', 'setRemoteAnswer needs a pending offer');
    }
    const normalized = sdp.replace(/^a=setup:actpass(\r?)$/gm, 'a=setup:active$1');
    try {
      await this.pc.setRemoteDescription({ type: 'answer', sdp: normalized });
    } catch (err) {
      throw new ConnectorError(
        'invalid_argument',
        'remote SDP answer rejected',
        {},
        { cause: err },
      );
    }
    this.adoptNegotiatedCodecs();
  }

  /**
   * User-initiated call: answer Meta's offer. Returns a complete SDP answer (`a=setup:active`).
   * @throws ConnectorError `invalid_argument` if the offer is unusable, `failed_precondition` if the
   * leg is not new.
   */
  async createAnswer(remoteOffer: string): Promise<string> {
    this.assertState('new', 'createAnswer');
    this.currentState = 'connecting';
    try {
      await this.pc.setRemoteDescription({ type: 'offer', sdp: remoteOffer });
    } catch (err) {
      throw new ConnectorError('invalid_argument', 'remote SDP offer rejected', {}, { cause: err });
    }
    const transceiver = this.pc.getTransceivers().find((t) => t.kind === 'audio');
    if (!transceiver) {
      throw new ConnectorError('invalid_argument', 'remote SDP offer has no usable audio m-line');
    }
    this.transceiver = transceiver;
    transceiver.setDirection('sendrecv');
    transceiver.sender.registerTrack(this.track);
    const answer = await this.pc.createAnswer();
    this.disableImplicitStun();
    await this.pc.setLocalDescription(answer);
    this.adoptNegotiatedCodecs();
    return this.completeLocalSdp();
  }

  /**
   * Queue one 20 ms mono frame (`frameSamples` samples at `sampleRate`) to send. The frame is
   * copied. When the queue is full the oldest frame is dropped. Ignored after close.
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
    const capacity = this.sendRing.length;
    if (this.sendCount === capacity) {
      this.sendRead = (this.sendRead + 1) % capacity;
      this.sendCount--;
      this.counters.sendQueueDrops++;
    }
    const slot = this.sendRing[(this.sendRead + this.sendCount) % capacity];
    slot?.set(pcm);
    this.sendCount++;
  }

  /** Frames waiting in the send queue. */
  get queuedFrames(): number {
    return this.sendCount;
  }

  /**
   * Send DTMF digits (0-9, *, #, A-D) as RFC 4733 events on the negotiated telephone-event payload
   * type, one after the other. Ignored after close.
   * @throws ConnectorError `invalid_argument` for a non-DTMF character, `failed_precondition` if
   * the remote did not negotiate telephone-event/8000.
   */
  sendDtmf(digits: string): void {
    if (digits.length === 0) throw new ConnectorError('invalid_argument', 'no DTMF digits given');
    for (const digit of digits) dtmfDigitToEvent(digit); // validates; throws invalid_argument
    if (this.currentState === 'closed') return;
    if (this.transceiver && this.pc.remoteDescription && this.dtmfPt === undefined) {
      throw new ConnectorError(
        'failed_precondition',
        'the remote did not negotiate telephone-event/8000',
      );
    }
    // Encoded when each event starts: its RTP timestamp is only known then.
    this.dtmfQueue.push(...digits.toUpperCase());
  }

  /** Counters and current buffer depth. */
  stats(): WhatsAppMediaLegStats {
    return {
      state: this.currentState,
      ...this.counters,
      lateDrops: this.jitter.counters.late,
      duplicateDrops: this.jitter.counters.duplicates,
      overflowDrops: this.jitter.counters.overflowDrops,
      jitterBufferMs: this.jitter.depth * OPUS_FRAME_MS,
    };
  }

  /** Stop the clock and close the peer connection. Idempotent; resolves when closed. */
  close(): Promise<void> {
    return this.shutdown('closed');
  }

  private shutdown(reason: WhatsAppMediaLegCloseReason, err?: Error): Promise<void> {
    if (this.closing) return this.closing;
    this.currentState = 'closed';
    this.stopClock();
    this.dtmfQueue.length = 0;
    this.dtmfPackets = undefined;
    this.closing = (async () => {
      try {
        await this.pc.close();
      } catch (closeErr) {
        this.log.debug({ err: errorMessage(closeErr) }, 'peer connection close failed');
      }
      if (err) this.emit('error', err);
      this.emit('closed', reason);
      this.removeAllListeners();
    })();
    return this.closing;
  }

  private isClosed(): boolean {
    return this.currentState === 'closed';
  }

  private assertState(expected: WhatsAppMediaLegState, operation: string): void {
    if (this.currentState !== expected) {
      throw new ConnectorError('failed_precondition', `${operation} needs a ${expected} leg`, {
        state: this.currentState,
      });
    }
  }

  /**
   * werift's ICE agent falls back to stun.l.google.com when no STUN server is configured. A
   * self-hosted service must not contact a third party unasked (and Meta accepts peer-reflexive
   * candidates anyway), so without configured `iceServers` the fallback is removed before
   * gathering starts (gathering begins in setLocalDescription).
   */
  private disableImplicitStun(): void {
    if ((this.options.iceServers ?? []).length > 0) return;
    for (const transport of this.pc.iceTransports) {
      transport.connection.stunServer = undefined;
    }
  }

  /** Wait for gathering to finish, then return the local SDP with ptime lines added. */
  private async completeLocalSdp(): Promise<string> {
    const timeoutMs = this.options.iceGatheringTimeoutMs ?? 5000;
    if (this.pc.iceGatheringState !== 'complete') {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          sub.unSubscribe();
          this.log.warn({ timeoutMs }, 'ICE gathering did not complete; using candidates so far');
          resolve();
        }, timeoutMs);
        const sub = this.pc.iceGatheringStateChange.subscribe((state) => {
          if (state === 'complete') {
            clearTimeout(timer);
            sub.unSubscribe();
            resolve();
          }
        });
      });
    }
    if (this.currentState === 'closed') {
      throw new ConnectorError('canceled', 'media leg closed during negotiation');
    }
    const sdp = this.pc.localDescription?.sdp;
    if (!sdp) throw new ConnectorError('internal', 'no local description');
    return addPtime(filterCandidates(sdp, this.options.iceAllowedAddresses));
  }

  /** Read the negotiated payload types and make sure the sender's codec is Opus. */
  private adoptNegotiatedCodecs(): void {
    const transceiver = this.transceiver;
    if (!transceiver) return;
    const codecs = transceiver.codecs;
    const opus = codecs.find((c) => c.name.toLowerCase() === 'opus' && c.clockRate === 48000);
    if (!opus) {
      throw new ConnectorError('invalid_argument', 'remote SDP does not offer Opus/48000');
    }
    this.opusPt = opus.payloadType;
    this.dtmfCodec = codecs.find(
      (c) => c.name.toLowerCase() === 'telephone-event' && c.clockRate === 8000,
    );
    this.dtmfPt = this.dtmfCodec?.payloadType;
    if (transceiver.sender.codec?.payloadType !== opus.payloadType) {
      transceiver.sender.codec = opus;
    }
    this.log.debug({ opusPt: this.opusPt, dtmfPt: this.dtmfPt }, 'codecs negotiated');
  }

  private onConnectionState(state: string): void {
    if (this.currentState === 'closed') return;
    switch (state) {
      case 'connected':
        if (this.currentState === 'connected') return;
        this.currentState = 'connected';
        this.log.info(
          { iceRole: this.iceRole, dtlsRole: this.dtlsRole, opusPt: this.opusPt },
          'media leg connected',
        );
        this.startClock();
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

  // ---- receive path ----

  private onRtp(packet: RtpPacket): void {
    if (this.currentState === 'closed') return;
    this.counters.packetsReceived++;
    const { header } = packet;
    const pt = header.payloadType;
    if (header.ssrc !== this.remoteSsrc) {
      // A new remote stream (first packet, or the relay restarted it): fresh decoder state.
      if (this.remoteSsrc !== undefined) {
        this.decoder.reset();
        this.dtmfDecoder.reset();
        this.log.debug('remote SSRC changed');
      }
      this.remoteSsrc = header.ssrc;
    }
    if (pt === this.opusPt) {
      this.jitter.push(header.sequenceNumber, header.ssrc, packet.payload);
      this.mediaStarted = true;
    } else if (pt === this.dtmfPt) {
      // telephone-event shares the audio sequence space: mark the slot so playout skips it.
      this.jitter.push(header.sequenceNumber, header.ssrc, null);
      const decoded = this.dtmfDecoder.push(packet.payload, header.timestamp);
      if (decoded) {
        this.counters.dtmfReceived++;
        this.emit('dtmf', decoded.digit);
      }
    } else {
      this.counters.unknownPayloadPackets++;
    }
  }

  /** Produce the next 20 ms output frame from the jitter buffer. */
  private playoutFrame(): Int16Array {
    const n = this.frameSamples;
    while (this.outFifoLength < n) {
      const next = this.jitter.pop();
      let pcm: Int16Array | undefined;
      if (next.kind === 'packet') {
        pcm = this.decoder.decode(next.payload);
        if (pcm === undefined) {
          this.counters.decodeErrors++;
          pcm = this.decoder.conceal();
          this.counters.framesConcealed++;
        } else {
          this.counters.framesDecoded++;
        }
      } else if (next.kind === 'lost' || next.kind === 'underrun') {
        if (next.kind === 'lost') this.counters.packetsLost++;
        pcm = this.decoder.conceal();
        this.counters.framesConcealed++;
      } else {
        this.counters.framesSilent++;
        if (this.outFifoLength === 0) return new Int16Array(n);
        pcm = this.silence;
      }
      if (this.outFifoLength === 0 && pcm.length === n) return pcm; // the usual case: no copy
      const room = this.outFifo.length - this.outFifoLength;
      this.outFifo.set(pcm.length <= room ? pcm : pcm.subarray(0, room), this.outFifoLength);
      this.outFifoLength += Math.min(pcm.length, room);
    }
    const out = this.outFifo.slice(0, n);
    this.outFifo.copyWithin(0, n, this.outFifoLength);
    this.outFifoLength -= n;
    return out;
  }

  // ---- send path ----

  private sendFrame(): void {
    const sender = this.transceiver?.sender;
    if (!sender) return;
    this.trimStandingQueue();
    // Always consume one queued frame per tick so the queue tracks real time.
    let pcm = this.silence;
    let fromQueue = false;
    if (this.sendCount > 0) {
      pcm = this.sendRing[this.sendRead] ?? this.silence;
      fromQueue = true;
    }

    if (this.dtmfPackets === undefined && this.dtmfGapFrames === 0 && this.dtmfQueue.length > 0) {
      const digit = this.dtmfQueue.shift() ?? '';
      if (this.dtmfCodec === undefined) {
        this.log.warn('DTMF dropped: the remote did not negotiate telephone-event/8000');
      } else {
        this.dtmfPackets = encodeDtmfDigit(digit, {
          durationMs: this.options.dtmfDurationMs ?? 100,
        });
        this.dtmfIndex = 0;
        this.dtmfTimestamp = this.rtpTimestamp;
      }
    }

    const dtmfPacket = this.dtmfPackets?.[this.dtmfIndex];
    if (dtmfPacket !== undefined && this.dtmfCodec !== undefined) {
      this.sendRtp(
        sender,
        this.dtmfCodec,
        dtmfPacket.payload,
        dtmfPacket.marker,
        this.dtmfTimestamp,
      );
      this.dtmfIndex++;
      if (this.dtmfIndex >= (this.dtmfPackets?.length ?? 0)) {
        this.dtmfPackets = undefined;
        this.counters.dtmfSent++;
        this.dtmfGapFrames = 2;
      }
    } else {
      if (this.dtmfGapFrames > 0) this.dtmfGapFrames--;
      const payload = this.encoder.encode(pcm);
      if (!fromQueue) this.counters.silenceFramesSent++;
      this.sendRtp(sender, undefined, payload, !this.firstPacketSent, this.rtpTimestamp);
      this.firstPacketSent = true;
    }
    if (fromQueue) {
      this.sendRead = (this.sendRead + 1) % this.sendRing.length;
      this.sendCount--;
    }
    this.rtpTimestamp = (this.rtpTimestamp + OPUS_TIMESTAMP_STEP) >>> 0;
  }

  /**
   * Two clocks feed the send queue: the bridge's producer (room mix, 20 ms) and our sender. Any
   * drift or burst leaves frames standing in the queue, each adding 20 ms of delay for the rest of
   * the call. When the queue never fell below {@link STANDING_QUEUE_FRAMES} during a window, one
   * frame is dropped; the queue converges to the jitter it actually absorbs.
   */
  private trimStandingQueue(): void {
    if (this.sendCount < this.sendWindowMin) this.sendWindowMin = this.sendCount;
    if (++this.sendWindowTicks < TRIM_WINDOW_TICKS) return;
    if (this.sendWindowMin >= STANDING_QUEUE_FRAMES && this.sendCount > 1) {
      this.sendRead = (this.sendRead + 1) % this.sendRing.length;
      this.sendCount--;
      this.counters.sendQueueTrims++;
    }
    this.sendWindowTicks = 0;
    this.sendWindowMin = Number.POSITIVE_INFINITY;
  }

  private sendRtp(
    sender: RTCRtpTransceiver['sender'],
    codec: RTCRtpCodecParameters | undefined,
    payload: Uint8Array,
    marker: boolean,
    timestamp: number,
  ): void {
    const header = new RtpHeader({
      payloadType: codec?.payloadType ?? this.opusPt,
      sequenceNumber: this.sequenceNumber,
      timestamp,
      marker,
      ssrc: sender.ssrc,
    });
    this.sequenceNumber = (this.sequenceNumber + 1) & 0xffff;
    const packet = new RtpPacket(
      header,
      Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength),
    );
    // sendRtp stamps sender.codec's payload type synchronously before its first await; switching
    // the codec around the call sends DTMF on its own payload type with the shared SSRC, sequence
    // space and sender-report counters.
    const audioCodec = sender.codec;
    if (codec !== undefined) sender.codec = codec;
    const sent = sender.sendRtp(packet);
    if (codec !== undefined) sender.codec = audioCodec;
    this.counters.packetsSent++;
    sent.catch((err: unknown) => {
      this.log.debug({ err: errorMessage(err) }, 'RTP send failed');
    });
  }

  // ---- clock ----

  private startClock(): void {
    if (this.timer !== undefined || this.currentState === 'closed') return;
    this.nextTickAt = performance.now() + OPUS_FRAME_MS;
    this.timer = setTimeout(this.onTimer, OPUS_FRAME_MS);
  }

  private stopClock(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Runs every tick that is due, then re-arms for the next deadline (no setInterval drift). */
  private readonly onTimer = (): void => {
    this.timer = undefined;
    if (this.currentState === 'closed') return;
    let now = performance.now();
    let ran = 0;
    while (now >= this.nextTickAt - 1 && ran < MAX_CATCH_UP_TICKS) {
      this.tick();
      // A listener may have closed the leg during the tick.
      if (this.isClosed()) return;
      this.nextTickAt += OPUS_FRAME_MS;
      ran++;
      now = performance.now();
    }
    if (now - this.nextTickAt > OPUS_FRAME_MS * MAX_CATCH_UP_TICKS) {
      // The event loop was blocked for long: do not burst; restart the cadence from now.
      this.counters.clockResyncs++;
      this.nextTickAt = now + OPUS_FRAME_MS;
    }
    this.timer = setTimeout(this.onTimer, Math.max(0, this.nextTickAt - performance.now()));
  };

  private tick(): void {
    try {
      this.sendFrame();
    } catch (err) {
      this.emit('error', asError(err));
    }
    if (!this.mediaStarted) return;
    let frame: Int16Array;
    try {
      frame = this.playoutFrame();
    } catch (err) {
      this.emit('error', asError(err));
      frame = new Int16Array(this.frameSamples);
    }
    this.emit('audio', frame);
  }
}

/** Add `a=ptime:20` / `a=maxptime:20` to the audio section if absent (Meta requires 20 ms). */
function addPtime(sdp: string): string {
  const eol = sdp.includes('\r\n') ? '\r\n' : '\n';
  const lines = sdp.split(/\r?\n/);
  if (lines.some((l) => l.startsWith('a=ptime:'))) return sdp;
  let insertAt = -1;
  let inAudio = false;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] ?? '';
    if (line.startsWith('m=')) inAudio = line.startsWith('m=audio');
    if (inAudio && (line.startsWith('a=rtpmap:') || line.startsWith('a=fmtp:'))) insertAt = i;
  }
  if (insertAt < 0) return sdp;
  lines.splice(insertAt + 1, 0, 'a=ptime:20', 'a=maxptime:20');
  return lines.join(eol);
}

/** Drop `a=candidate` lines whose address is not allowed. */
function filterCandidates(sdp: string, allowed: string[] | undefined): string {
  if (!allowed) return sdp;
  return sdp
    .split(/(?<=\n)/)
    .filter((line) => {
      if (!line.startsWith('a=candidate:')) return true;
      const address = line.split(' ')[4];
      return address !== undefined && allowed.includes(address);
    })
    .join('');
}

function randomUint(bits: 16 | 32): number {
  return bits === 16 ? Math.floor(Math.random() * 0x10000) : Math.floor(Math.random() * 2 ** 32);
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}
