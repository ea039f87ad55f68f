import { createRequire } from 'node:module';
import type * as G711 from 'alawmulaw';
import { PcmDownsampler, PcmUpsampler } from './pcm-resampler.js';

// alawmulaw ships a UMD bundle without ES module named exports; load it as CommonJS.
const { mulaw } = createRequire(import.meta.url)('alawmulaw') as typeof G711;

/** Telephone sample rate of every Twilio media stream. */
export const MULAW_SAMPLE_RATE = 8000;
/** One 20 ms frame of 8 kHz μ-law: 160 bytes (one sample per byte). */
export const MULAW_FRAME_BYTES = 160;
/** Frame duration of every PCM frame exchanged with the room leg. */
export const FRAME_MS = 20;

/**
 * Converts between Twilio's audio (G.711 μ-law, 8 kHz) and the room leg's PCM (16-bit mono at
 * 16 or 48 kHz), 20 ms at a time. Each direction keeps its own resampler state, so one
 * transcoder belongs to one call.
 */
export class MulawTranscoder {
  readonly #up: PcmUpsampler;
  readonly #down: PcmDownsampler;

  /** @param pcmRate the room leg's rate in Hz: a multiple of 8000 (16000 or 48000) */
  constructor(readonly pcmRate: number) {
    const factor = pcmRate / MULAW_SAMPLE_RATE;
    if (!Number.isInteger(factor) || factor < 2) {
      throw new RangeError('pcmRate must be a multiple of 8000, at least 16000');
    }
    this.#up = new PcmUpsampler(factor);
    this.#down = new PcmDownsampler(factor);
  }

  /** Samples of one 20 ms PCM frame at `pcmRate`. */
  get pcmFrameSamples(): number {
    return (this.pcmRate * FRAME_MS) / 1000;
  }

  /** Caller → room: μ-law bytes (any length) to PCM at `pcmRate`. */
  decode(mulawBytes: Uint8Array): Int16Array {
    return this.#up.process(mulaw.decode(mulawBytes));
  }

  /** Room → caller: PCM at `pcmRate` to μ-law (one byte per 8 kHz sample). */
  encode(pcm: Int16Array): Uint8Array {
    return mulaw.encode(this.#down.process(pcm));
  }
}
