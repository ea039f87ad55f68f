/**
 * Writes the caller's voice onto the connector's published track. Two kinds of input share one
 * outgoing stream:
 * - Meta's Opus packets, forwarded unchanged (no decode, no encode): Meta's in-band FEC reaches
 *   the subscribers' decoders;
 * - 20 ms PCM frames (Twilio's μ-law, ringback), encoded here.
 *
 * Every input goes through one {@link RtpStreamRewriter}, so the track's timestamps stay
 * continuous when Meta's SSRC changes or its stream restarts, or when the input switches between
 * PCM and forwarded Opus (the rewriter bridges by the time that passed). A loss stays a gap in
 * the track's sequence numbers and a reordered packet keeps its place, so the subscribers' jitter
 * buffers see Meta's stream as it was; duplicates and packets over a second late are dropped.
 * RFC 4733 events never get here: the media leg delivers them as digits, which the room leg
 * sends as SipDTMF packets.
 */
import type { OutgoingOpusPacket } from '../livekit/index.js';
import { OPUS_FRAME_MS, OpusFrameEncoder, type OpusPcmRate } from '../media/opus-codec.js';
import { RtpStreamRewriter } from '../media/rtp-stream-rewriter.js';

/** One Opus RTP packet of the caller's stream (as Meta sent it). */
export interface CallerOpusPacket {
  /** The Opus payload, forwarded byte for byte. */
  payload: Uint8Array;
  sequenceNumber: number;
  /** RTP timestamp, 48 kHz clock. */
  timestamp: number;
  ssrc: number;
  marker: boolean;
}

/** Where the writer's packets go (the connector's `LocalAudioTrack`). */
export interface OpusTrackSink {
  writeRtp(packet: OutgoingOpusPacket): boolean;
}

export interface CallerTrackWriterOptions {
  /** Required - PCM rate of {@link CallerTrackWriter.writePcm} frames, Hz: 16000 or 48000. */
  sampleRate: OpusPcmRate;
  /** Optional - bitrate of PCM encoded here, bits/s. Default 32000 (LiveKit's speech preset). */
  pcmBitrate?: number;
}

/** Counters of a {@link CallerTrackWriter}. */
export interface CallerTrackWriterStats {
  /** Opus packets forwarded unchanged. */
  forwarded: number;
  /** PCM frames encoded and written. */
  encoded: number;
  /** Packets the track did not take (not connected yet, reconnecting, closed). */
  notSent: number;
  /** Packets dropped as late or duplicate. */
  dropped: number;
  /** Incoming stream switches (Meta's SSRC changes, restarts, PCM ↔ Opus). */
  switches: number;
}

/** SSRC standing for the PCM input in the rewriter; any value Meta is unlikely to pick works. */
const PCM_SOURCE_SSRC = 0x5eed_0001;
const OPUS_TICKS_PER_FRAME = (48_000 * OPUS_FRAME_MS) / 1000;

export class CallerTrackWriter {
  readonly #sink: OpusTrackSink;
  readonly #rewriter = new RtpStreamRewriter();
  readonly #sampleRate: OpusPcmRate;
  readonly #pcmBitrate: number;
  #encoder: OpusFrameEncoder | undefined;
  #pcmSeq = 0;
  #pcmTs = 0;
  readonly #stats: CallerTrackWriterStats = {
    forwarded: 0,
    encoded: 0,
    notSent: 0,
    dropped: 0,
    switches: 0,
  };

  constructor(sink: OpusTrackSink, options: CallerTrackWriterOptions) {
    this.#sink = sink;
    this.#sampleRate = options.sampleRate;
    this.#pcmBitrate = options.pcmBitrate ?? 32_000;
  }

  get stats(): CallerTrackWriterStats {
    return { ...this.#stats, switches: this.#rewriter.stats().switches };
  }

  /** Forward one of Meta's Opus packets unchanged. */
  writeOpus(packet: CallerOpusPacket): void {
    if (this.#write(packet)) this.#stats.forwarded++;
  }

  /** Encode one 20 ms mono frame at `sampleRate` and write it. */
  writePcm(pcm: Int16Array): void {
    this.#encoder ??= new OpusFrameEncoder({
      sampleRate: this.#sampleRate,
      bitrate: this.#pcmBitrate,
    });
    const payload = this.#encoder.encode(pcm);
    const packet: CallerOpusPacket = {
      payload,
      sequenceNumber: this.#pcmSeq,
      timestamp: this.#pcmTs,
      ssrc: PCM_SOURCE_SSRC,
      marker: false,
    };
    this.#pcmSeq = (this.#pcmSeq + 1) & 0xffff;
    this.#pcmTs = (this.#pcmTs + OPUS_TICKS_PER_FRAME) >>> 0;
    if (this.#write(packet)) this.#stats.encoded++;
  }

  #write(packet: CallerOpusPacket): boolean {
    const out = this.#rewriter.rewrite(packet);
    if (!out) {
      this.#stats.dropped++;
      return false;
    }
    const sent = this.#sink.writeRtp({
      payload: out.payload,
      timestamp: out.timestamp,
      marker: out.marker,
      sequenceNumber: out.sequenceNumber,
    });
    if (!sent) this.#stats.notSent++;
    return sent;
  }
}
