import { Encoder } from '@evan/opus';
import { ToneGenerator } from '../../src/media/tone.js';

/** One second of a tone as 20 ms Opus packets at 48 kHz, 48 kbit/s (a typical agent). */
export function agentPackets(hz: number): Uint8Array[] {
  const encoder = new Encoder({ channels: 1, sample_rate: 48000, application: 'voip' });
  encoder.bitrate = 48_000;
  const tone = new ToneGenerator(hz, 48000, 0.3);
  return Array.from({ length: 50 }, () => encoder.encode(tone.next(960)));
}
