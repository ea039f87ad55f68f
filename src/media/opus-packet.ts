/**
 * What the media stages read from an Opus packet without decoding it: its TOC byte (RFC 6716
 * §3.1) gives the frame duration, frame count, audio bandwidth and channel count. The forwarding
 * path uses it to check that a forwarded packet fits Meta's 20 ms ptime.
 */

/** Audio bandwidth coded in an Opus packet. */
export type OpusBandwidth = 'narrowband' | 'mediumband' | 'wideband' | 'superwideband' | 'fullband';

/** What an Opus packet's TOC byte (and frame count byte) says. */
export interface OpusPacketInfo {
  /** Audio per frame, ms (2.5, 5, 10, 20, 40 or 60). */
  frameMs: number;
  /** Frames in the packet. */
  frames: number;
  /** Audio in the packet, ms (frameMs × frames, at most 120). */
  durationMs: number;
  bandwidth: OpusBandwidth;
  stereo: boolean;
}

const SILK_MS = [10, 20, 40, 60];
const CELT_MS = [2.5, 5, 10, 20];

function bandwidthOf(config: number): OpusBandwidth {
  if (config < 12)
    return (['narrowband', 'mediumband', 'wideband'] as const)[config >> 2] ?? 'wideband';
  if (config < 16) return config < 14 ? 'superwideband' : 'fullband';
  return (
    (['narrowband', 'wideband', 'superwideband', 'fullband'] as const)[(config - 16) >> 2] ??
    'fullband'
  );
}

/**
 * Reads an Opus packet's TOC; `undefined` for an empty packet, a code-3 packet without its frame
 * count byte, a zero frame count, or more than 120 ms (all invalid per RFC 6716 §3.2).
 */
export function readOpusPacketInfo(packet: Uint8Array): OpusPacketInfo | undefined {
  const toc = packet[0];
  if (toc === undefined) return undefined;
  const config = toc >> 3;
  const frameMs =
    config < 12
      ? (SILK_MS[config & 3] as number)
      : config < 16
        ? config & 1
          ? 20
          : 10
        : (CELT_MS[config & 3] as number);
  let frames: number;
  switch (toc & 3) {
    case 0:
      frames = 1;
      break;
    case 1:
    case 2:
      frames = 2;
      break;
    default: {
      const count = packet[1];
      if (count === undefined) return undefined;
      frames = count & 0x3f;
      if (frames === 0) return undefined;
    }
  }
  const durationMs = frameMs * frames;
  if (durationMs > 120) return undefined;
  return { frameMs, frames, durationMs, bandwidth: bandwidthOf(config), stereo: (toc & 4) !== 0 };
}

/**
 * One 20 ms Opus frame of silence (CELT-only fullband TOC 0xF8, then an all-zero frame): the packet
 * WebRTC stacks send for muted tracks. Every decoder plays it as 20 ms of silence, and it costs no
 * encoder time, so it is the keep-alive sent when a forwarded speaker is silent or in DTX.
 */
export const OPUS_SILENCE_FRAME: Readonly<Uint8Array> = Uint8Array.of(0xf8, 0xff, 0xfe);
