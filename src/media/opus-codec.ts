/**
 * Thin typed wrapper over @evan/opus for the WhatsApp leg: mono 20 ms frames at 16 or 48 kHz.
 *
 * @evan/opus exposes no FEC or PLC call (decoding an empty buffer throws). A TOC-only packet does
 * reach Opus's loss path, but that path yields DTX comfort noise ~20 dB below the signal and makes
 * the next real frame fade back in, so a single lost packet becomes a 40 ms hole. Lost frames are
 * instead replaced by a waveform substitute ({@link PitchConcealer}) and Opus simply decodes the
 * next packet it gets. In-band FEC sent by the remote cannot be used on receive either (no
 * `decode_fec` flag in the binding); we do send FEC.
 */
import { Decoder, Encoder } from '@evan/opus';

import { PitchConcealer } from './pitch-concealer.js';
import { ConnectorError } from '../errors/connector-error.js';

/** PCM rates the leg supports, Hz. */
export type OpusPcmRate = 16000 | 48000;

/** Frame duration used everywhere on the WhatsApp leg (Meta requires ptime 20), ms. */
export const OPUS_FRAME_MS = 20;

/** RTP clock of Opus (RFC 7587), Hz: the RTP timestamp advances 960 per 20 ms frame at any PCM rate. */
export const OPUS_RTP_CLOCK_RATE = 48000;

/** Samples in one 20 ms mono frame at `sampleRate`. */
export function opusFrameSamples(sampleRate: OpusPcmRate): number {
  return (sampleRate * OPUS_FRAME_MS) / 1000;
}

/** @throws ConnectorError `invalid_argument` unless `rate` is 16000 or 48000. */
export function assertOpusPcmRate(rate: number): asserts rate is OpusPcmRate {
  if (rate !== 16000 && rate !== 48000) {
    throw new ConnectorError('invalid_argument', 'audio sample rate must be 16000 or 48000 Hz', {
      sampleRate: String(rate),
    });
  }
}

export interface OpusFrameEncoderOptions {
  /** Required - PCM rate of the input, Hz. */
  sampleRate: OpusPcmRate;
  /** Optional - target bitrate, bits/s. Default 20000 (what Meta asks for: maxaveragebitrate=20000). */
  bitrate?: number;
  /** Optional - in-band FEC. Default true (Meta's fmtp has useinbandfec=1). */
  inbandFec?: boolean;
  /** Optional - expected packet loss, percent (0-100); Opus only adds FEC when this is > 0. Default 10. */
  packetLossPercent?: number;
  /**
   * Optional - encoder complexity 0-10 (CPU vs quality). Default 9 (libopus' own default at this
   * version); 5 roughly halves encode time for voice at 20 kbps.
   */
  complexity?: number;
}

/** Encodes 20 ms mono frames (Opus VOIP application). */
export class OpusFrameEncoder {
  readonly sampleRate: OpusPcmRate;
  /** Samples per 20 ms frame. */
  readonly frameSamples: number;
  private readonly encoder: Encoder;

  constructor(options: OpusFrameEncoderOptions) {
    assertOpusPcmRate(options.sampleRate);
    this.sampleRate = options.sampleRate;
    this.frameSamples = opusFrameSamples(options.sampleRate);
    this.encoder = new Encoder({
      channels: 1,
      sample_rate: options.sampleRate,
      application: 'voip',
    });
    this.encoder.signal = 'voice';
    this.encoder.bitrate = options.bitrate ?? 20_000;
    this.encoder.inband_fec = options.inbandFec ?? true;
    this.encoder.packet_loss = options.packetLossPercent ?? 10;
    const complexity = options.complexity ?? 9;
    if (!Number.isInteger(complexity) || complexity < 0 || complexity > 10) {
      throw new ConnectorError('invalid_argument', 'Opus complexity must be an integer 0-10');
    }
    this.encoder.complexity = complexity as Encoder['complexity'];
  }

  /** Current bitrate setting, bits/s. */
  get bitrate(): number {
    return this.encoder.bitrate;
  }

  set bitrate(bitsPerSecond: number) {
    this.encoder.bitrate = bitsPerSecond;
  }

  /**
   * Encode exactly one 20 ms frame.
   * @throws ConnectorError `invalid_argument` if the frame has the wrong length.
   */
  encode(pcm: Int16Array): Uint8Array {
    if (pcm.length !== this.frameSamples) {
      throw new ConnectorError('invalid_argument', 'PCM frame must be 20 ms long', {
        samples: String(pcm.length),
        expected: String(this.frameSamples),
      });
    }
    return this.encoder.encode(pcm);
  }
}

export interface OpusFrameDecoderOptions {
  /** Required - PCM rate to decode to, Hz (Opus decodes to any supported rate, no resampling). */
  sampleRate: OpusPcmRate;
}

/** Decodes Opus packets to mono PCM and conceals lost frames. */
export class OpusFrameDecoder {
  readonly sampleRate: OpusPcmRate;
  /** Samples per 20 ms frame. */
  readonly frameSamples: number;
  private readonly decoder: Decoder;
  private concealer: PitchConcealer;

  constructor(options: OpusFrameDecoderOptions) {
    assertOpusPcmRate(options.sampleRate);
    this.sampleRate = options.sampleRate;
    this.frameSamples = opusFrameSamples(options.sampleRate);
    this.decoder = new Decoder({ channels: 1, sample_rate: options.sampleRate });
    this.concealer = new PitchConcealer(options.sampleRate, this.frameSamples);
  }

  /**
   * Decode one packet. Returns its PCM (any duration the packet carries; 20 ms from WhatsApp), or
   * `undefined` if the packet is not valid Opus — a corrupt packet from the network is not an
   * error of ours to throw.
   */
  decode(packet: Uint8Array): Int16Array | undefined {
    if (packet.length === 0) return undefined;
    let bytes: Uint8Array;
    try {
      bytes = this.decoder.decode(packet);
    } catch {
      return undefined;
    }
    const pcm = toPcm(bytes);
    if (pcm.length === this.frameSamples) this.concealer.receive(pcm);
    return pcm;
  }

  /**
   * One 20 ms frame replacing a lost packet: the last pitch period continued and faded over
   * successive calls ({@link PitchConcealer}); silence if nothing was decoded yet.
   */
  conceal(): Int16Array {
    return this.concealer.conceal();
  }

  /** Reset decoder state (e.g. when the remote stream changes SSRC). */
  reset(): void {
    this.decoder.reset();
    this.concealer = new PitchConcealer(this.sampleRate, this.frameSamples);
  }
}

function toPcm(bytes: Uint8Array): Int16Array {
  // The binding returns a fresh copy (Uint8Array.slice), so offset 0 and 2-byte alignment hold;
  // copy anyway if a future version returns an unaligned view.
  if (bytes.byteOffset % 2 === 0) {
    return new Int16Array(bytes.buffer, bytes.byteOffset, bytes.byteLength >> 1);
  }
  return new Int16Array(bytes.slice().buffer);
}
