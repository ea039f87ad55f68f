/**
 * A WAV file of a steady tone, for Chromium's `--use-file-for-fake-audio-capture`: the fake
 * microphone plays the file in a loop, so a whole number of seconds of a whole-Hz tone loops
 * without a click.
 */
import { writeFile } from 'node:fs/promises';
import { ToneGenerator } from '../../../src/media/tone.js';

export interface ToneWavOptions {
  frequencyHz: number;
  /** Samples per second. Default 48 000. */
  sampleRate?: number;
  /** Length in whole seconds. Default 2. */
  seconds?: number;
  /** Peak amplitude as a fraction of full scale. Default 0.3 (−13.5 dBFS RMS). */
  amplitude?: number;
}

/** Writes a mono 16-bit PCM WAV of the tone to `path`. */
export async function writeToneWav(path: string, options: ToneWavOptions): Promise<void> {
  const sampleRate = options.sampleRate ?? 48_000;
  const seconds = options.seconds ?? 2;
  const pcm = new ToneGenerator(options.frequencyHz, sampleRate, options.amplitude ?? 0.3).next(
    sampleRate * seconds,
  );
  const dataBytes = pcm.length * 2;
  const header = Buffer.alloc(44);
  header.write('RIFF', 0, 'ascii');
  header.writeUInt32LE(36 + dataBytes, 4);
  header.write('WAVE', 8, 'ascii');
  header.write('fmt ', 12, 'ascii');
  header.writeUInt32LE(16, 16); // fmt chunk size
  header.writeUInt16LE(1, 20); // PCM
  header.writeUInt16LE(1, 22); // mono
  header.writeUInt32LE(sampleRate, 24);
  header.writeUInt32LE(sampleRate * 2, 28); // byte rate
  header.writeUInt16LE(2, 32); // block align
  header.writeUInt16LE(16, 34); // bits per sample
  header.write('data', 36, 'ascii');
  header.writeUInt32LE(dataBytes, 40);
  const body = Buffer.from(pcm.buffer, pcm.byteOffset, dataBytes);
  await writeFile(path, Buffer.concat([header, body]));
}
