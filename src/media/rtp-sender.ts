/**
 * The send stage of the WhatsApp media leg: owns the outgoing stream's SSRC, sequence numbers and
 * timestamps, and fills one 20 ms slot of it per frame-clock tick, so Meta always gets a steady
 * packet cadence (Meta hangs up, error 138021, on a business side that sends no media).
 *
 * A slot carries, in this order of precedence:
 * 1. RFC 4733 telephone-event packets while a DTMF event is being sent ({@link DtmfSendQueue});
 * 2. audio from the selected source:
 *    - `pcm` (mixing): a queued 20 ms PCM frame, Opus-encoded here, or encoded silence when none is
 *      queued. A small queue absorbs the producer's jitter; a frame that stood in it for a whole
 *      window is dropped so drift between the producer's clock and ours never becomes delay.
 *    - `opus` (passthrough): an already-encoded Opus packet forwarded from an agent, sent as it
 *      arrives in the oldest open slot, so forwarding adds no delay; a packet up to one slot late
 *      still gets its slot. When nothing arrives (the speaker is silent or in DTX) the slot gets a
 *      keep-alive {@link OPUS_SILENCE_FRAME}. A gap in the forwarded sequence stays a gap on the
 *      wire (Meta's decoder conceals it or uses the next packet's FEC). Forwarded packets that do
 *      not fit Meta's limits (not 20 ms, or above Meta's `maxaveragebitrate` on average) are
 *      decoded and re-encoded here, depending on {@link ForwardedOpusPolicy}.
 *
 * Slot timestamps advance 960 (20 ms at 48 kHz) per slot whatever fills it, so switching sources,
 * DTMF and keep-alives never make the timestamp jump. The stage owns no clock and no socket: the
 * leg calls {@link RtpSender.tick} on its frame clock and hands packets to an {@link RtpPacketSink}.
 */
import { ConnectorError } from '../errors/connector-error.js';
import { DtmfSendQueue, type DtmfSendQueueOptions } from './dtmf-send-queue.js';
import {
  assertOpusPcmRate,
  OPUS_FRAME_MS,
  OpusFrameDecoder,
  OpusFrameEncoder,
  type OpusPcmRate,
} from './opus-codec.js';
import { OPUS_SILENCE_FRAME, readOpusPacketInfo } from './opus-packet.js';

/** RTP timestamp increment per 20 ms Opus frame (48 kHz RTP clock, RFC 7587). */
export const OPUS_TIMESTAMP_STEP = 960;

/** One packet the sender hands to the transport. */
export interface OutgoingRtpPacket {
  payloadType: number;
  sequenceNumber: number;
  timestamp: number;
  ssrc: number;
  marker: boolean;
  payload: Uint8Array;
}

/** Where the sender's packets go (werift's RTP sender in the leg, an in-memory pipe in tests). */
export interface RtpPacketSink {
  sendRtp(packet: OutgoingRtpPacket): void;
}

/** Where the audio of the outgoing stream comes from. */
export type SendAudioSource = 'pcm' | 'opus';

/**
 * What happens to forwarded Opus packets:
 * - `passthrough`: sent unchanged (never decoded);
 * - `reencode`: decoded and re-encoded at Meta's limits (`opusBitrate`, the leg's PCM rate);
 * - `auto`: sent unchanged while they are 20 ms packets whose average bitrate, judged over a full
 *   window of {@link AUTO_WINDOW_PACKETS} (5 s), stays within {@link AUTO_FORWARD_MAX_BITRATE}
 *   (or the receiver's `maxAverageBitrate` if higher) +10 %; re-encoded at Meta's limits above
 *   that, and forwarded again after a whole window back within the limit. Why not Meta's
 *   `maxaveragebitrate=20000`: in RFC 7587 it is the receiver's preference and `maxplaybackrate`
 *   only a hint (any Opus decoder plays any Opus), and Meta's own FAQ budgets "Opus 20-50 kbps"
 *   per call. So a normal 24-48 kbit/s agent goes through untouched; music-rate or stereo
 *   streams (64 kbit/s and up) are brought down. Judging whole windows (not single packets or one
 *   second) keeps a VBR speech stream from flapping between the two.
 */
export type ForwardedOpusPolicy = 'auto' | 'passthrough' | 'reencode';

/** An Opus packet forwarded from another stream (e.g. a LiveKit agent's track). */
export interface ForwardedOpusPacket {
  /** The Opus payload. */
  payload: Uint8Array;
  /**
   * Optional - the packet's sequence number in its (continuous) source stream, e.g. after an
   * {@link RtpStreamRewriter}: used to drop late and duplicate packets and to keep losses as gaps.
   */
  sequenceNumber?: number;
  /** Optional - start of a talkspurt (RTP marker bit). Default false. */
  marker?: boolean;
}

export interface RtpSenderOptions {
  /** Required - where packets go. */
  sink: RtpPacketSink;
  /** Required - PCM rate of {@link RtpSender.sendPcm} frames, Hz: 16000 or 48000. */
  sampleRate: number;
  /** Optional - SSRC stamped on packets (the transport may own the real one). Default random. */
  ssrc?: number;
  /** Optional - Opus payload type. Default 111; set the negotiated one with setPayloadTypes. */
  opusPayloadType?: number;
  /** Optional - telephone-event/8000 payload type, if negotiated. Default 126. */
  telephoneEventPayloadType?: number | undefined;
  /** Optional - frames the PCM queue holds before the oldest is dropped (20 ms each). Default 10. */
  sendQueueFrames?: number;
  /** Optional - Opus bitrate of locally encoded audio, bits/s. Default 20000 (Meta's max). */
  opusBitrate?: number;
  /** Optional - Opus encoder complexity 0-10. Default 9. */
  opusComplexity?: number;
  /** Optional - DTMF scheduling. Defaults: 100 ms tones, 2 slots apart, 16 digits queued. */
  dtmf?: DtmfSendQueueOptions;
  /** Optional - forwarded Opus handling. Default `auto` (see {@link ForwardedOpusPolicy}). */
  forwardedOpus?: ForwardedOpusPolicy;
  /**
   * Optional - the receiver's maximum average bitrate, bits/s (Meta's fmtp
   * `maxaveragebitrate=20000`), for `auto`. Default 20000.
   */
  maxAverageBitrate?: number;
  /**
   * Optional - how many slots a forwarded packet may arrive late and still fill its slot before a
   * keep-alive is sent in its place. Default 1 (20 ms).
   */
  forwardJitterSlots?: number;
  /** Optional - first sequence number. Default random. */
  initialSequenceNumber?: number;
  /** Optional - first timestamp. Default random. */
  initialTimestamp?: number;
}

/** Counters since the sender was created. Units: packets and 20 ms frames unless stated. */
export interface RtpSenderStats {
  /** RTP packets sent (all payload types). */
  packetsSent: number;
  /** Slots sent as encoded silence because no PCM frame was queued (`pcm` source). */
  silenceFramesSent: number;
  /** Queued PCM frames dropped because the queue was full (the producer outran the clock). */
  sendQueueDrops: number;
  /** Queued frames or forwarded packets dropped because they stood in the queue (drift). */
  sendQueueTrims: number;
  /** telephone-event events sent. */
  dtmfSent: number;
  /** DTMF digits dropped because the DTMF queue was full. */
  dtmfDropped: number;
  /** Forwarded Opus packets sent unchanged. */
  forwardedPackets: number;
  /** Forwarded Opus packets decoded and re-encoded. */
  reencodedPackets: number;
  /** Keep-alive silence frames sent while forwarding (speaker silent, in DTX, or a packet late). */
  keepAliveFrames: number;
  /** Slots left empty for forwarded packets that never came (a gap kept on the wire). */
  forwardGaps: number;
  /**
   * Forwarded packets dropped: late or duplicate, sent while the `pcm` source is selected, or in
   * place of DTMF.
   */
  forwardDrops: number;
  /** PCM frames dropped because the `opus` source is selected. */
  pcmDropsWhileForwarding: number;
  /** `auto` switches between passthrough and re-encoding. */
  reencodeSwitches: number;
}

/** Send-queue trimming: window length in slots (200 ms), and the standing depth trimmed. */
const TRIM_WINDOW_SLOTS = 10;
const STANDING_QUEUE_FRAMES = 2;
/** A forwarded sequence gap longer than this is a discontinuity, not loss: no slots are skipped. */
const MAX_FORWARD_GAP = 5;
/** `auto`: packets in the bitrate window (5 s of 20 ms packets), judged only once full. */
export const AUTO_WINDOW_PACKETS = 250;
/**
 * `auto`: the most a forwarded stream may average and still go out unchanged, bits/s — the top of
 * Meta's "Opus 20-50 kbps" bandwidth budget (reference: whatsapp-calling-api.md, "Bandwidth").
 */
export const AUTO_FORWARD_MAX_BITRATE = 50_000;
const BITRATE_WINDOW = AUTO_WINDOW_PACKETS;
const COMPLIANT_PACKETS_TO_RESUME = AUTO_WINDOW_PACKETS;

/** A forwarded packet waiting for its slot, or a slot lost in the forwarded sequence. */
type ForwardEntry = { lost: false; payload: Uint8Array; marker: boolean } | { lost: true };

/** A fixed ring of 20 ms PCM frames; `push` copies, so producers may reuse their buffers. */
class PcmRing {
  private readonly frames: Int16Array[];
  private read = 0;
  count = 0;
  /** Smallest depth seen in the current trim window. */
  windowMin = Number.POSITIVE_INFINITY;
  windowSlots = 0;

  constructor(capacity: number, frameSamples: number) {
    this.frames = Array.from({ length: capacity }, () => new Int16Array(frameSamples));
  }

  /** Adds a copy of `pcm`; returns true if the oldest frame was dropped to make room. */
  push(pcm: Int16Array): boolean {
    let dropped = false;
    if (this.count === this.frames.length) {
      this.drop();
      dropped = true;
    }
    this.frames[(this.read + this.count) % this.frames.length]?.set(pcm);
    this.count++;
    return dropped;
  }

  /** The oldest frame (valid until the next push), without removing it. */
  peek(): Int16Array | undefined {
    return this.count > 0 ? this.frames[this.read] : undefined;
  }

  drop(): void {
    if (this.count === 0) return;
    this.read = (this.read + 1) % this.frames.length;
    this.count--;
  }

  clear(): void {
    this.count = 0;
  }
}

export class RtpSender {
  readonly sampleRate: OpusPcmRate;
  /** Samples per 20 ms frame at `sampleRate`. */
  readonly frameSamples: number;
  readonly ssrc: number;
  private readonly sink: RtpPacketSink;
  private readonly encoder: OpusFrameEncoder;
  private decoder: OpusFrameDecoder | undefined;
  private readonly dtmf: DtmfSendQueue;
  private readonly ring: PcmRing;
  private readonly silence: Int16Array;
  private readonly forwardQueue: ForwardEntry[] = [];
  private readonly forwardCapacity: number;
  private forwardWindowMin = Number.POSITIVE_INFINITY;
  private forwardWindowSlots = 0;
  private readonly policy: ForwardedOpusPolicy;
  private maxAverageBitrate: number;
  private readonly forwardGraceSlots: number;
  private opusPt: number;
  private dtmfPt: number | undefined;
  private audioSource: SendAudioSource = 'pcm';

  private sequenceNumber: number;
  private readonly timestampBase: number;
  /** Next slot to fill; slots before it were sent (or deliberately left empty). */
  private slot = 0;
  /** Newest slot whose time has come (-1 before the first tick). */
  private dueSlot = -1;
  private firstPacketSent = false;
  private lastForwardedSeq: number | undefined;

  // `auto` policy state.
  private readonly sizes = new Uint16Array(BITRATE_WINDOW);
  private sizeCount = 0;
  private sizeNext = 0;
  private sizeSum = 0;
  private passthrough = true;
  private compliantRun = 0;

  private readonly counters: RtpSenderStats = {
    packetsSent: 0,
    silenceFramesSent: 0,
    sendQueueDrops: 0,
    sendQueueTrims: 0,
    dtmfSent: 0,
    dtmfDropped: 0,
    forwardedPackets: 0,
    reencodedPackets: 0,
    keepAliveFrames: 0,
    forwardGaps: 0,
    forwardDrops: 0,
    pcmDropsWhileForwarding: 0,
    reencodeSwitches: 0,
  };

  /** @throws ConnectorError `invalid_argument` for an unsupported rate or encoder setting. */
  constructor(options: RtpSenderOptions) {
    assertOpusPcmRate(options.sampleRate);
    this.sampleRate = options.sampleRate;
    this.frameSamples = (options.sampleRate * OPUS_FRAME_MS) / 1000;
    this.sink = options.sink;
    this.ssrc = (options.ssrc ?? Math.floor(Math.random() * 2 ** 32)) >>> 0;
    this.opusPt = options.opusPayloadType ?? 111;
    this.dtmfPt = 'telephoneEventPayloadType' in options ? options.telephoneEventPayloadType : 126;
    this.encoder = new OpusFrameEncoder({
      sampleRate: this.sampleRate,
      bitrate: options.opusBitrate ?? 20_000,
      complexity: options.opusComplexity ?? 9,
    });
    this.dtmf = new DtmfSendQueue(options.dtmf);
    const capacity = Math.max(1, Math.floor(options.sendQueueFrames ?? 10));
    this.ring = new PcmRing(capacity, this.frameSamples);
    this.forwardCapacity = capacity;
    this.silence = new Int16Array(this.frameSamples);
    this.policy = options.forwardedOpus ?? 'auto';
    this.maxAverageBitrate = options.maxAverageBitrate ?? 20_000;
    this.forwardGraceSlots = Math.max(0, Math.floor(options.forwardJitterSlots ?? 1));
    this.sequenceNumber = (options.initialSequenceNumber ?? randomUint(16)) & 0xffff;
    this.timestampBase = (options.initialTimestamp ?? randomUint(32)) >>> 0;
  }

  /** Sets the negotiated payload types (telephone-event `undefined` when not negotiated). */
  setPayloadTypes(opus: number, telephoneEvent: number | undefined): void {
    this.opusPt = opus;
    this.dtmfPt = telephoneEvent;
    // Digits queued before negotiation cannot be sent without telephone-event.
    if (telephoneEvent === undefined) this.dtmf.clear();
  }

  /** Sets the receiver's maximum average bitrate (its fmtp `maxaveragebitrate`), bits/s. */
  setMaxAverageBitrate(bitsPerSecond: number): void {
    this.maxAverageBitrate = bitsPerSecond;
  }

  /** The selected audio source. */
  get source(): SendAudioSource {
    return this.audioSource;
  }

  /**
   * Selects where audio comes from from the next slot on: `pcm` frames ({@link sendPcm}, encoded
   * here) or forwarded Opus ({@link sendOpus}). Audio queued for the other source is dropped, so
   * a switch never plays stale audio; timestamps stay continuous.
   */
  selectSource(source: SendAudioSource): void {
    if (source === this.audioSource) return;
    this.audioSource = source;
    if (source === 'opus') {
      this.ring.clear();
    } else {
      this.forwardQueue.length = 0;
    }
    this.lastForwardedSeq = undefined;
  }

  /** PCM frames waiting to be sent. */
  get queuedFrames(): number {
    return this.ring.count;
  }

  /**
   * Queues one 20 ms mono frame for the `pcm` source (copied; the oldest is dropped when the
   * queue is full). Dropped and counted while the `opus` source is selected.
   * @throws ConnectorError `invalid_argument` for a frame of the wrong length.
   */
  sendPcm(pcm: Int16Array): void {
    if (pcm.length !== this.frameSamples) {
      throw new ConnectorError('invalid_argument', 'audio frame must be 20 ms long', {
        samples: String(pcm.length),
        expected: String(this.frameSamples),
      });
    }
    if (this.audioSource !== 'pcm') {
      this.counters.pcmDropsWhileForwarding++;
      return;
    }
    if (this.ring.push(pcm)) this.counters.sendQueueDrops++;
    // Sent at once when its slot is open, as forwarded Opus is: a frame produced on another
    // clock (the room mixer's) then does not wait up to 20 ms more for this one.
    if (!this.dtmf.busy) this.fillOpenSlots();
  }

  /**
   * Forwards one Opus packet for the `opus` source. It is sent at once when its slot is open, else
   * when the slot comes. Dropped and counted while the `pcm` source is selected, or when it is
   * older than (or the same as) the last forwarded one.
   */
  sendOpus(packet: ForwardedOpusPacket): void {
    if (this.audioSource !== 'opus' || packet.payload.length === 0) {
      this.counters.forwardDrops++;
      return;
    }
    if (packet.sequenceNumber !== undefined) {
      const seq = packet.sequenceNumber & 0xffff;
      if (this.lastForwardedSeq !== undefined) {
        const ahead = ((seq - this.lastForwardedSeq + 0x8000) & 0xffff) - 0x8000;
        if (ahead <= 0) {
          this.counters.forwardDrops++;
          return;
        }
        // Short gaps are loss: keep them as gaps so the far end conceals (or uses FEC).
        if (ahead > 1 && ahead - 1 <= MAX_FORWARD_GAP) {
          for (let i = 1; i < ahead; i++) this.enqueueForward({ lost: true });
        }
      }
      this.lastForwardedSeq = seq;
    }
    this.enqueueForward({ lost: false, payload: packet.payload, marker: packet.marker ?? false });
    if (!this.dtmf.busy) this.fillOpenSlots();
  }

  /**
   * Queues DTMF digits (0-9, *, #, A-D) to send as RFC 4733 events, one after the other. Returns
   * how many were accepted: digits beyond the bounded queue are dropped (and counted).
   * @throws ConnectorError `invalid_argument` for a non-DTMF character.
   */
  sendDtmf(digits: string): number {
    const accepted = this.dtmf.enqueue(digits);
    this.counters.dtmfDropped = this.dtmf.dropped;
    return accepted;
  }

  /** True while DTMF is being sent or waits to be. */
  get dtmfBusy(): boolean {
    return this.dtmf.busy;
  }

  /** Fills the slot(s) whose time has come. Call once per 20 ms on the frame clock. */
  tick(): void {
    this.dueSlot++;
    if (this.audioSource === 'pcm') {
      this.trimStandingPcm();
      while (this.slot <= this.dueSlot) this.fillSlot(true);
      return;
    }
    this.trimStandingForward();
    // DTMF goes out on time; a forwarded packet may be up to the grace late for its slot.
    const forcedThrough = this.dtmf.busy ? this.dueSlot : this.dueSlot - this.forwardGraceSlots;
    while (this.slot <= forcedThrough) this.fillSlot(true);
    this.fillOpenSlots();
  }

  /** Drops everything queued (e.g. at close). */
  clear(): void {
    this.ring.clear();
    this.forwardQueue.length = 0;
    this.dtmf.clear();
  }

  /** Counters since creation. */
  stats(): RtpSenderStats {
    return { ...this.counters, dtmfSent: this.dtmf.sent, dtmfDropped: this.dtmf.dropped };
  }

  // ---- slots ----

  /**
   * Sends queued audio into open slots. While forwarding, the slot after the due one is open too:
   * packets arriving between two ticks go out at once instead of waiting up to 20 ms for the next
   * tick, and the stream still never runs more than one slot ahead of the clock.
   */
  private fillOpenSlots(): void {
    if (this.dueSlot < 0) return; // not started
    // One slot early: audio that arrives just before its slot goes out now rather than on the
    // next tick (the far end's jitter buffer absorbs being 20 ms early, not 20 ms of extra delay).
    const openThrough = this.dueSlot + 1;
    while (this.slot <= openThrough && this.hasContent()) this.fillSlot(false);
  }

  private hasContent(): boolean {
    return this.forwardQueue.length > 0 || this.ring.count > 0;
  }

  private slotTimestamp(slot: number): number {
    return (this.timestampBase + slot * OPUS_TIMESTAMP_STEP) >>> 0;
  }

  /** Fills slot `this.slot`. `forced`: send something even with no audio queued. */
  private fillSlot(forced: boolean): void {
    const timestamp = this.slotTimestamp(this.slot);
    this.slot++;
    const dtmf = this.dtmfPt === undefined ? undefined : this.dtmf.next(timestamp);
    if (dtmf && this.dtmfPt !== undefined) {
      for (const p of dtmf.packets) this.send(this.dtmfPt, p.payload, p.marker, dtmf.timestamp);
      // The audio of this slot is replaced: consume it so the queue keeps to real time.
      if (this.audioSource === 'pcm') this.ring.drop();
      else if (this.forwardQueue.shift() !== undefined) this.counters.forwardDrops++;
      return;
    }
    if (this.audioSource === 'pcm') {
      const pcm = this.ring.peek();
      if (pcm === undefined) this.counters.silenceFramesSent++;
      this.send(this.opusPt, this.encoder.encode(pcm ?? this.silence), false, timestamp);
      this.ring.drop();
      return;
    }
    const entry = this.forwardQueue.shift();
    if (entry?.lost === true) {
      // Skip the sequence number too: the far end sees the loss as loss.
      this.sequenceNumber = (this.sequenceNumber + 1) & 0xffff;
      this.counters.forwardGaps++;
      return;
    }
    if (entry !== undefined) {
      if (this.forwardUnchanged(entry.payload)) {
        this.counters.forwardedPackets++;
        this.send(this.opusPt, entry.payload, entry.marker, timestamp);
      } else {
        this.counters.reencodedPackets++;
        this.reencode(entry.payload, timestamp);
      }
      return;
    }
    const pcm = this.ring.peek();
    if (pcm !== undefined) {
      // Re-encoded audio decoded beyond one frame (a forwarded 40/60 ms packet).
      this.send(this.opusPt, this.encoder.encode(pcm), false, timestamp);
      this.ring.drop();
      return;
    }
    if (forced) {
      this.counters.keepAliveFrames++;
      this.send(this.opusPt, OPUS_SILENCE_FRAME as Uint8Array, false, timestamp);
    }
  }

  private send(payloadType: number, payload: Uint8Array, marker: boolean, timestamp: number): void {
    const packet: OutgoingRtpPacket = {
      payloadType,
      sequenceNumber: this.sequenceNumber,
      timestamp,
      ssrc: this.ssrc,
      // The first packet of the stream starts a talkspurt (RFC 3551 §4.1).
      marker: marker || !this.firstPacketSent,
      payload,
    };
    this.sequenceNumber = (this.sequenceNumber + 1) & 0xffff;
    this.firstPacketSent = true;
    this.counters.packetsSent++;
    this.sink.sendRtp(packet);
  }

  // ---- forwarding ----

  private enqueueForward(entry: ForwardEntry): void {
    if (this.forwardQueue.length >= this.forwardCapacity) {
      this.forwardQueue.shift();
      this.counters.sendQueueTrims++;
    }
    this.forwardQueue.push(entry);
  }

  /** Whether a forwarded payload goes out unchanged (see {@link ForwardedOpusPolicy}). */
  private forwardUnchanged(payload: Uint8Array): boolean {
    if (this.policy === 'passthrough') return true;
    if (this.policy === 'reencode') return false;
    // Bitrate over the last second of forwarded packets (50 × 20 ms).
    if (this.sizeCount === BITRATE_WINDOW) this.sizeSum -= this.sizes[this.sizeNext] as number;
    else this.sizeCount++;
    this.sizes[this.sizeNext] = Math.min(payload.length, 0xffff);
    this.sizeSum += payload.length;
    this.sizeNext = (this.sizeNext + 1) % BITRATE_WINDOW;
    const bitsPerSecond = (this.sizeSum * 8 * 1000) / (this.sizeCount * OPUS_FRAME_MS);
    const fitsPtime = readOpusPacketInfo(payload)?.durationMs === OPUS_FRAME_MS;
    const limit = Math.max(this.maxAverageBitrate, AUTO_FORWARD_MAX_BITRATE);
    if (this.passthrough) {
      if (this.sizeCount >= BITRATE_WINDOW && bitsPerSecond > limit * 1.1) {
        this.passthrough = false;
        this.compliantRun = 0;
        this.counters.reencodeSwitches++;
      }
    } else if (bitsPerSecond <= limit) {
      if (++this.compliantRun >= COMPLIANT_PACKETS_TO_RESUME) {
        this.passthrough = true;
        this.counters.reencodeSwitches++;
      }
    } else {
      this.compliantRun = 0;
    }
    return this.passthrough && fitsPtime;
  }

  /** Decodes a forwarded packet and sends its first 20 ms re-encoded; the rest waits in the ring. */
  private reencode(payload: Uint8Array, timestamp: number): void {
    this.decoder ??= new OpusFrameDecoder({ sampleRate: this.sampleRate });
    const pcm = this.decoder.decode(payload) ?? this.decoder.conceal();
    const n = this.frameSamples;
    for (let offset = n; offset + n <= pcm.length; offset += n) {
      if (this.ring.push(pcm.subarray(offset, offset + n))) this.counters.sendQueueDrops++;
    }
    const first = pcm.length >= n ? pcm.subarray(0, n) : this.silence;
    this.send(this.opusPt, this.encoder.encode(first), false, timestamp);
  }

  // ---- drift trimming ----

  /**
   * Two clocks feed the PCM queue: the producer's (the room mix, 20 ms) and ours. Any drift or
   * burst leaves frames standing in the queue, each adding 20 ms of delay for the rest of the
   * call. When the queue never fell below {@link STANDING_QUEUE_FRAMES} during a window, one frame
   * is dropped; the queue converges to the jitter it actually absorbs.
   */
  private trimStandingPcm(): void {
    const ring = this.ring;
    if (ring.count < ring.windowMin) ring.windowMin = ring.count;
    if (++ring.windowSlots < TRIM_WINDOW_SLOTS) return;
    if (ring.windowMin >= STANDING_QUEUE_FRAMES && ring.count > 1) {
      ring.drop();
      this.counters.sendQueueTrims++;
    }
    ring.windowSlots = 0;
    ring.windowMin = Number.POSITIVE_INFINITY;
  }

  /** The same for forwarded packets waiting for their slot (a sender running fast). */
  private trimStandingForward(): void {
    const depth = this.forwardQueue.length;
    if (depth < this.forwardWindowMin) this.forwardWindowMin = depth;
    if (++this.forwardWindowSlots < TRIM_WINDOW_SLOTS) return;
    if (this.forwardWindowMin >= STANDING_QUEUE_FRAMES && depth > 1) {
      this.forwardQueue.shift();
      this.counters.sendQueueTrims++;
    }
    this.forwardWindowSlots = 0;
    this.forwardWindowMin = Number.POSITIVE_INFINITY;
  }
}

function randomUint(bits: 16 | 32): number {
  return bits === 16 ? Math.floor(Math.random() * 0x10000) : Math.floor(Math.random() * 2 ** 32);
}
