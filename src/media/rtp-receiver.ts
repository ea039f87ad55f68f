/**
 * The receive stage of the WhatsApp media leg: RTP from Meta in, per payload type:
 *
 * - Opus packets are handed out as they arrive (payload, sequence number, timestamp, SSRC,
 *   marker) for forwarding without decoding, and — only while PCM output is wanted — go through a
 *   jitter buffer from which {@link RtpReceiver.playout} takes one 20 ms frame per clock tick,
 *   decoded or, for a lost packet, concealed;
 * - telephone-event packets (RFC 4733) are decoded into digits, reported once per key press, and
 *   never played as audio; their sequence numbers are marked in the jitter buffer so playout does
 *   not count them as lost;
 * - anything else, and malformed packets, are dropped and counted.
 *
 * Nothing here throws on network input: a packet either counts as received or as dropped.
 * The stage owns no transport and no clock: the leg feeds it packets and calls `playout` on its
 * frame clock, so tests drive it with in-memory packets.
 */
import {
  assertOpusPcmRate,
  OPUS_FRAME_MS,
  OPUS_RTP_CLOCK_RATE,
  OpusFrameDecoder,
  type OpusPcmRate,
} from './opus-codec.js';
import { DtmfDecoder, type DtmfDigit } from './rtp-dtmf.js';
import { RtpJitterBuffer } from './rtp-jitter-buffer.js';
import {
  MAX_RTP_PACKET_BYTES,
  parseRtcpPackets,
  parseRtpPacket,
  type RtpHeaderFields,
  type RtpPacketView,
} from './rtp-packet.js';

/** An Opus packet as received from Meta, before any decoding. */
export interface ReceivedOpusPacket {
  /** The Opus payload, exactly as Meta sent it. Listeners may keep it. */
  payload: Uint8Array;
  sequenceNumber: number;
  /** RTP timestamp, 48 kHz clock. */
  timestamp: number;
  ssrc: number;
  marker: boolean;
}

/** A DTMF digit received from the user. */
export interface ReceivedDtmf {
  digit: DtmfDigit;
  /** RTP timestamp of the event (identifies the key press). */
  rtpTimestamp: number;
  ssrc: number;
}

export interface RtpReceiverJitterOptions {
  /** Optional - playout delay kept by the jitter buffer, ms (rounded to 20 ms frames). Default 40. */
  targetMs?: number;
  /** Optional - most audio held before the oldest is dropped, ms. Default 200. */
  maxMs?: number;
}

export interface RtpReceiverOptions {
  /** Required - PCM rate of {@link RtpReceiver.playout} frames, Hz: 16000 or 48000. */
  sampleRate: number;
  /** Optional - payload type of Opus. Default 111 (Meta's); set the negotiated one later. */
  opusPayloadType?: number;
  /** Optional - payload type of telephone-event/8000, if negotiated. Default 126. */
  telephoneEventPayloadType?: number | undefined;
  /** Optional - jitter buffer sizing. */
  jitter?: RtpReceiverJitterOptions;
  /** Optional - decode Opus into PCM frames for {@link RtpReceiver.playout}. Default true. */
  pcm?: boolean;
  /** Optional - called for every Opus packet as it arrives. */
  onOpus?: (packet: ReceivedOpusPacket) => void;
  /** Optional - called once per received DTMF key press. */
  onDtmf?: (dtmf: ReceivedDtmf) => void;
  /** Optional - monotonic time, ms, for interarrival jitter. Default `performance.now()`. */
  now?: () => number;
}

/** Counters since the receiver was created. Units: packets and 20 ms frames unless stated. */
export interface RtpReceiverStats {
  /** RTP packets received with a valid header (all payload types). */
  packetsReceived: number;
  /** Opus packets missing from the played sequence (concealed). 0 while PCM output is off. */
  packetsLost: number;
  /**
   * Opus packets missing from the received sequence (RFC 3550 A.3: expected − received), counted
   * whether or not PCM is decoded. Reordered packets that arrive later are not lost.
   */
  sequenceGaps: number;
  /** Interarrival jitter (RFC 3550 A.8) of the Opus stream, ms. */
  jitterMs: number;
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
  /** Packets dropped as malformed (unparseable, oversized, empty Opus). */
  malformedPackets: number;
  /** Opus packets that failed to decode (concealed instead). */
  decodeErrors: number;
  /** Times the remote SSRC changed (the relay restarted its stream). */
  ssrcChanges: number;
  /** RTCP packets received (sender and receiver reports, ...). */
  rtcpPackets: number;
}

/** Extended-sequence bookkeeping of one stream (RFC 3550 A.1/A.3/A.8). */
class StreamStatistics {
  /** Extended sequence numbers recently counted, so duplicates do not count as received. */
  private readonly seen = new Float64Array(128).fill(-1);
  private baseSeq = -1;
  private maxExt = -1;
  private received = 0;
  private transit: number | undefined;
  /** Jitter in RTP clock units, scaled ×16 as RFC 3550 A.8 keeps it. */
  private jitter16 = 0;

  reset(): void {
    this.seen.fill(-1);
    this.baseSeq = -1;
    this.maxExt = -1;
    this.received = 0;
    this.transit = undefined;
  }

  update(sequenceNumber: number, timestamp: number, arrivalRtp: number): void {
    // Extended numbers start one cycle up, so a packet reordered before the first stays >= 0.
    let ext = 0x10000 + sequenceNumber;
    if (this.maxExt < 0) {
      this.baseSeq = ext;
      this.maxExt = ext;
    } else {
      ext = this.maxExt - (this.maxExt & 0xffff) + sequenceNumber;
      if (ext - this.maxExt > 0x8000) ext -= 0x10000;
      else if (this.maxExt - ext > 0x8000) ext += 0x10000;
      if (ext > this.maxExt) this.maxExt = ext;
      if (ext < this.baseSeq) this.baseSeq = ext;
    }
    if (this.seen[ext & 127] === ext) return; // a duplicate: neither received again nor jitter
    this.seen[ext & 127] = ext;
    this.received++;
    const transit = (arrivalRtp - timestamp) | 0;
    if (this.transit !== undefined) {
      const d = Math.abs((transit - this.transit) | 0);
      this.jitter16 += d - ((this.jitter16 + 8) >> 4);
    }
    this.transit = transit;
  }

  /** Packets expected but not received so far (never negative: duplicates do not count). */
  get lost(): number {
    return this.maxExt < 0 ? 0 : Math.max(0, this.maxExt - this.baseSeq + 1 - this.received);
  }

  jitterMs(clockRate: number): number {
    return ((this.jitter16 >> 4) * 1000) / clockRate;
  }
}

export class RtpReceiver {
  readonly sampleRate: OpusPcmRate;
  /** Samples per 20 ms frame at `sampleRate`. */
  readonly frameSamples: number;
  private opusPt: number;
  private dtmfPt: number | undefined;
  private pcmWanted: boolean;
  private readonly onOpus: ((packet: ReceivedOpusPacket) => void) | undefined;
  private readonly onDtmf: ((dtmf: ReceivedDtmf) => void) | undefined;
  private readonly now: () => number;
  private readonly decoder: OpusFrameDecoder;
  private readonly jitter: RtpJitterBuffer<Uint8Array>;
  private readonly dtmfDecoder = new DtmfDecoder();
  private readonly stream = new StreamStatistics();
  private readonly silence: Int16Array;
  /** Holds decoded audio beyond one frame (a Meta packet longer than 20 ms). */
  private readonly outFifo: Int16Array;
  private outFifoLength = 0;
  private remoteSsrc: number | undefined;
  private started = false;
  /** Gaps counted for streams that ended (SSRC changes). */
  private earlierGaps = 0;

  private readonly counters = {
    packetsReceived: 0,
    packetsLost: 0,
    framesDecoded: 0,
    framesConcealed: 0,
    framesSilent: 0,
    dtmfReceived: 0,
    unknownPayloadPackets: 0,
    malformedPackets: 0,
    decodeErrors: 0,
    ssrcChanges: 0,
    rtcpPackets: 0,
  };

  /** @throws ConnectorError `invalid_argument` for an unsupported sample rate. */
  constructor(options: RtpReceiverOptions) {
    assertOpusPcmRate(options.sampleRate);
    this.sampleRate = options.sampleRate;
    this.frameSamples = (options.sampleRate * OPUS_FRAME_MS) / 1000;
    this.opusPt = options.opusPayloadType ?? 111;
    this.dtmfPt = 'telephoneEventPayloadType' in options ? options.telephoneEventPayloadType : 126;
    this.pcmWanted = options.pcm ?? true;
    this.onOpus = options.onOpus;
    this.onDtmf = options.onDtmf;
    this.now = options.now ?? (() => performance.now());
    this.decoder = new OpusFrameDecoder({ sampleRate: this.sampleRate });
    const targetMs = options.jitter?.targetMs ?? 40;
    const maxMs = options.jitter?.maxMs ?? 200;
    this.jitter = new RtpJitterBuffer<Uint8Array>({
      targetFrames: Math.max(1, Math.round(targetMs / OPUS_FRAME_MS)),
      maxFrames: Math.max(2, Math.round(maxMs / OPUS_FRAME_MS)),
    });
    this.silence = new Int16Array(this.frameSamples);
    // Room for one 120 ms Opus packet (the longest) plus a frame.
    this.outFifo = new Int16Array((this.sampleRate * 120) / 1000 + this.frameSamples);
  }

  /** Sets the negotiated payload types (telephone-event `undefined` when not negotiated). */
  setPayloadTypes(opus: number, telephoneEvent: number | undefined): void {
    this.opusPt = opus;
    this.dtmfPt = telephoneEvent;
  }

  /** Whether Opus is decoded into PCM frames for {@link playout}. */
  get pcm(): boolean {
    return this.pcmWanted;
  }

  /**
   * Turns PCM output on or off. Off, Opus packets are only handed to `onOpus` (no jitter buffer,
   * no decoding) and {@link playout} returns `undefined`; on again, playout re-buffers from the
   * next packet with fresh decoder state.
   */
  set pcm(wanted: boolean) {
    if (wanted === this.pcmWanted) return;
    this.pcmWanted = wanted;
    this.jitter.reset();
    this.outFifoLength = 0;
    if (wanted) this.decoder.reset();
  }

  /** True once the first Opus packet arrived (playout produces frames from then on). */
  get mediaStarted(): boolean {
    return this.started;
  }

  /** Feeds one RTP packet from the network (already decrypted). Never throws. */
  receive(packet: RtpPacketView): void {
    const { header, payload } = packet;
    const pt = header.payloadType;
    // An Opus packet has at least its TOC byte (RFC 6716 §3.1).
    const emptyOpus = pt === this.opusPt && payload.length === 0;
    if (payload.length > MAX_RTP_PACKET_BYTES || emptyOpus || !validHeader(header)) {
      this.counters.malformedPackets++;
      return;
    }
    this.countAndTrackSsrc(header);
    if (pt === this.opusPt) {
      this.stream.update(
        header.sequenceNumber,
        header.timestamp,
        Math.round((this.now() * OPUS_RTP_CLOCK_RATE) / 1000),
      );
      this.started = true;
      if (this.pcmWanted) this.jitter.push(header.sequenceNumber, header.ssrc, payload);
      this.onOpus?.({
        payload,
        sequenceNumber: header.sequenceNumber,
        timestamp: header.timestamp,
        ssrc: header.ssrc,
        marker: header.marker,
      });
    } else if (pt === this.dtmfPt) {
      // telephone-event shares the audio sequence space: mark the slot so playout skips it.
      if (this.pcmWanted) this.jitter.push(header.sequenceNumber, header.ssrc, null);
      const decoded = this.dtmfDecoder.push(payload, header.timestamp);
      if (decoded) {
        this.counters.dtmfReceived++;
        this.onDtmf?.({
          digit: decoded.digit,
          rtpTimestamp: decoded.rtpTimestamp,
          ssrc: header.ssrc,
        });
      }
    } else {
      this.counters.unknownPayloadPackets++;
    }
  }

  /** Parses and feeds one raw RTP packet; malformed bytes are dropped and counted. */
  receiveBytes(bytes: Uint8Array): void {
    const packet = parseRtpPacket(bytes);
    if (packet === undefined) {
      this.counters.malformedPackets++;
      return;
    }
    this.receive(packet);
  }

  /** Counts one received RTCP packet (parsed by the transport). */
  receiveRtcp(): void {
    this.counters.rtcpPackets++;
  }

  /** Parses and counts a raw compound RTCP packet; malformed bytes are dropped and counted. */
  receiveRtcpBytes(bytes: Uint8Array): void {
    const packets = parseRtcpPackets(bytes);
    if (packets === undefined) this.counters.malformedPackets++;
    else this.counters.rtcpPackets += packets.length;
  }

  /**
   * The next 20 ms mono frame at `sampleRate`, after the jitter buffer and loss concealment: call
   * once per clock tick. `undefined` before the first Opus packet and while PCM output is off. A
   * fresh array each time: callers may keep it.
   */
  playout(): Int16Array | undefined {
    if (!this.started || !this.pcmWanted) return undefined;
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

  /** Counters and current buffer depth. */
  stats(): RtpReceiverStats {
    return {
      ...this.counters,
      sequenceGaps: this.earlierGaps + this.stream.lost,
      jitterMs: Math.round(this.stream.jitterMs(OPUS_RTP_CLOCK_RATE) * 10) / 10,
      lateDrops: this.jitter.counters.late,
      duplicateDrops: this.jitter.counters.duplicates,
      overflowDrops: this.jitter.counters.overflowDrops,
      jitterBufferMs: this.jitter.depth * OPUS_FRAME_MS,
    };
  }

  private countAndTrackSsrc(header: RtpHeaderFields): void {
    this.counters.packetsReceived++;
    if (header.ssrc === this.remoteSsrc) return;
    // A new remote stream (first packet, or the relay restarted it): fresh decoder state.
    if (this.remoteSsrc !== undefined) {
      this.counters.ssrcChanges++;
      this.decoder.reset();
      this.dtmfDecoder.reset();
      this.earlierGaps += this.stream.lost;
      this.stream.reset();
    }
    this.remoteSsrc = header.ssrc;
  }
}

/** Header fields in range (a transport that parsed them may still hand us anything). */
function validHeader(h: RtpHeaderFields): boolean {
  return (
    Number.isInteger(h.payloadType) &&
    h.payloadType >= 0 &&
    h.payloadType <= 127 &&
    Number.isInteger(h.sequenceNumber) &&
    h.sequenceNumber >= 0 &&
    h.sequenceNumber <= 0xffff &&
    Number.isInteger(h.timestamp) &&
    h.timestamp >= 0 &&
    h.timestamp <= 0xffffffff &&
    Number.isInteger(h.ssrc)
  );
}
