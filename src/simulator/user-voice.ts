/**
 * What the simulated WhatsApp user says into the call: a tone, a WAV file or silence, produced as
 * 16 kHz mono PCM (WhatsApp captures at 16 kHz: `sprop-maxcapturerate=16000` in Meta's SDP).
 */
import { readFile } from 'node:fs/promises';
import { ConnectorError } from '../errors/connector-error.js';
import { ToneGenerator } from '../media/tone.js';

/** PCM rate of everything the user says or hears, Hz. */
export const USER_AUDIO_RATE = 16000;

/** A source of user audio; `next` returns exactly `samples` samples at 16 kHz. */
export interface UserVoice {
  readonly description: string;
  next(samples: number): Int16Array;
}

/** How to describe a voice over the control API. */
export type UserVoiceSpec =
  | { kind: 'silence' }
  | {
      kind: 'tone';
      frequencyHz: number;
      /** 0..1 of full scale. Default 0.3. */ amplitude?: number;
    }
  | {
      kind: 'wav';
      path: string;
      /** Repeat the file. Default false (silence after the end). */ loop?: boolean;
    };

export class SilenceVoice implements UserVoice {
  readonly description = 'silence';
  next(samples: number): Int16Array {
    return new Int16Array(samples);
  }
}

export class ToneVoice implements UserVoice {
  readonly description: string;
  private readonly generator: ToneGenerator;

  constructor(frequencyHz: number, amplitude = 0.3) {
    if (!(frequencyHz > 0 && frequencyHz < USER_AUDIO_RATE / 2)) {
      throw new ConnectorError('invalid_argument', 'tone frequency must be between 0 and 8000 Hz');
    }
    if (!(amplitude >= 0 && amplitude <= 1)) {
      throw new ConnectorError('invalid_argument', 'tone amplitude must be between 0 and 1');
    }
    this.generator = new ToneGenerator(frequencyHz, USER_AUDIO_RATE, amplitude);
    this.description = `tone ${frequencyHz} Hz`;
  }

  next(samples: number): Int16Array {
    return this.generator.next(samples);
  }
}

/** Plays 16 kHz PCM once (then silence) or in a loop. */
export class PcmVoice implements UserVoice {
  private offset = 0;

  constructor(
    private readonly pcm: Int16Array,
    readonly description: string,
    private readonly loop = false,
  ) {}

  next(samples: number): Int16Array {
    const out = new Int16Array(samples);
    for (let i = 0; i < samples; i++) {
      if (this.offset >= this.pcm.length) {
        if (!this.loop || this.pcm.length === 0) break;
        this.offset = 0;
      }
      out[i] = this.pcm[this.offset++] ?? 0;
    }
    return out;
  }
}

/**
 * Decodes a PCM WAV file (8/16-bit integer or 32-bit float, any channel count and rate) to
 * 16 kHz mono: channels are averaged, the rate is converted by linear interpolation (good
 * enough for test speech and tones).
 * @throws ConnectorError `invalid_argument` when the data is not a WAV this reader understands.
 */
export function decodeWav(data: Buffer): Int16Array {
  const bad = (why: string) =>
    new ConnectorError('invalid_argument', `unsupported WAV file: ${why}`);
  if (
    data.length < 12 ||
    data.toString('ascii', 0, 4) !== 'RIFF' ||
    data.toString('ascii', 8, 12) !== 'WAVE'
  ) {
    throw bad('not a RIFF/WAVE file');
  }
  let format: { audioFormat: number; channels: number; rate: number; bits: number } | undefined;
  let offset = 12;
  while (offset + 8 <= data.length) {
    const id = data.toString('ascii', offset, offset + 4);
    const size = data.readUInt32LE(offset + 4);
    const body = offset + 8;
    if (id === 'fmt ') {
      format = {
        audioFormat: data.readUInt16LE(body),
        channels: data.readUInt16LE(body + 2),
        rate: data.readUInt32LE(body + 4),
        bits: data.readUInt16LE(body + 14),
      };
    } else if (id === 'data') {
      if (!format) throw bad('data chunk before fmt chunk');
      return toMono16k(data.subarray(body, Math.min(data.length, body + size)), format, bad);
    }
    offset = body + size + (size % 2);
  }
  throw bad('no data chunk');
}

function toMono16k(
  bytes: Buffer,
  f: { audioFormat: number; channels: number; rate: number; bits: number },
  bad: (why: string) => Error,
): Int16Array {
  const pcmInt = f.audioFormat === 1 || f.audioFormat === 0xfffe;
  const float = f.audioFormat === 3;
  if (!(pcmInt && (f.bits === 16 || f.bits === 8)) && !(float && f.bits === 32)) {
    throw bad(`format ${f.audioFormat} with ${f.bits} bits`);
  }
  if (f.channels < 1 || f.rate < 1000) throw bad('invalid channel count or rate');
  const bytesPerSample = f.bits / 8;
  const frames = Math.floor(bytes.length / (bytesPerSample * f.channels));
  const mono = new Float64Array(frames);
  for (let i = 0; i < frames; i++) {
    let sum = 0;
    for (let c = 0; c < f.channels; c++) {
      const at = (i * f.channels + c) * bytesPerSample;
      sum += float
        ? bytes.readFloatLE(at) * 32767
        : f.bits === 16
          ? bytes.readInt16LE(at)
          : (bytes.readUInt8(at) - 128) * 256;
    }
    mono[i] = sum / f.channels;
  }
  const outLength = Math.floor((frames * USER_AUDIO_RATE) / f.rate);
  const out = new Int16Array(outLength);
  const step = f.rate / USER_AUDIO_RATE;
  for (let i = 0; i < outLength; i++) {
    const pos = i * step;
    const k = Math.floor(pos);
    const frac = pos - k;
    const a = mono[k] ?? 0;
    const b = mono[k + 1] ?? a;
    out[i] = Math.max(-32768, Math.min(32767, Math.round(a + (b - a) * frac)));
  }
  return out;
}

/** Builds the voice a spec describes (reads the WAV file if there is one). */
export async function createUserVoice(spec: UserVoiceSpec): Promise<UserVoice> {
  switch (spec.kind) {
    case 'silence':
      return new SilenceVoice();
    case 'tone':
      return new ToneVoice(spec.frequencyHz, spec.amplitude);
    case 'wav': {
      let data: Buffer;
      try {
        data = await readFile(spec.path);
      } catch {
        throw new ConnectorError('invalid_argument', 'cannot read WAV file', { path: spec.path });
      }
      return new PcmVoice(decodeWav(data), `wav ${spec.path}`, spec.loop ?? false);
    }
    default:
      throw new ConnectorError('invalid_argument', 'voice kind must be silence, tone or wav');
  }
}
