/**
 * The unavoidable per-call work of a bridge, measured with the libraries the connector uses:
 * per 20 ms and per direction one SRTP unprotect, one Opus decode, one Opus encode and one SRTP
 * protect. WhatsApp side at 16 kHz (what the bridge runs at), room side at 48 kHz (what
 * libwebrtc encodes for LiveKit). Opus: @evan/opus through the connector's own wrappers; SRTP:
 * werift's SrtpSession (AES_CM_128_HMAC_SHA1_80, node:crypto), as on the WhatsApp leg.
 */
import { randomBytes } from 'node:crypto';
import { ProtectionProfileAes128CmHmacSha1_80, RtpHeader, SrtpSession } from 'werift';
import { OpusFrameDecoder, OpusFrameEncoder } from '../../src/media/opus-codec.js';
import { ToneGenerator } from '../../src/media/tone.js';

export interface CodecFloor {
  /** CPU seconds per call-minute for both directions. */
  cpuSecondsPerCallMinute: number;
  /** Split of the same figure. */
  opusSecondsPerCallMinute: number;
  srtpSecondsPerCallMinute: number;
  framesMeasured: number;
  description: string;
}

function srtpPair(): { a: SrtpSession; b: SrtpSession } {
  const k1 = randomBytes(16);
  const s1 = randomBytes(14);
  const k2 = randomBytes(16);
  const s2 = randomBytes(14);
  const profile = ProtectionProfileAes128CmHmacSha1_80;
  const a = new SrtpSession({
    keys: { localMasterKey: k1, localMasterSalt: s1, remoteMasterKey: k2, remoteMasterSalt: s2 },
    profile,
  });
  const b = new SrtpSession({
    keys: { localMasterKey: k2, localMasterSalt: s2, remoteMasterKey: k1, remoteMasterSalt: s1 },
    profile,
  });
  return { a, b };
}

function cpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

/** Runs `calls` × one minute of bridged audio (3000 frames per direction per call). */
export function measureCodecFloor(callMinutes = 2): CodecFloor {
  const frames = Math.round(callMinutes * 3000);
  const sides = [16_000, 48_000] as const;
  const encoders = sides.map((sampleRate) => new OpusFrameEncoder({ sampleRate }));
  const decoders = sides.map((sampleRate) => new OpusFrameDecoder({ sampleRate }));
  // Input packets for each side: what the far end would have sent (encoded outside the timing).
  const farEncoders = sides.map((sampleRate) => new OpusFrameEncoder({ sampleRate }));
  const tones = sides.map((rate) => new ToneGenerator(440, rate, 0.3));
  const packets = sides.map((_, i) => {
    const list: Uint8Array[] = [];
    for (let f = 0; f < 50; f++) list.push(farEncoders[i]!.encode(tones[i]!.next(sides[i]! / 50)));
    return list;
  });
  const srtp = [srtpPair(), srtpPair()];
  let seq = 1;
  const header = (ts: number) =>
    new RtpHeader({ payloadType: 111, sequenceNumber: seq & 0xffff, timestamp: ts, ssrc: 1234 });
  // Pre-protect the inbound packets (that is the far end's work).
  const inbound = packets.map((list, i) =>
    list.map((p, k) => srtp[i]!.b.encrypt(Buffer.from(p), header(k * 960))),
  );

  let opus = 0;
  let crypto = 0;
  const begin = cpuSeconds();
  for (let f = 0; f < frames; f++) {
    seq++;
    for (let dir = 0; dir < 2; dir++) {
      const from = dir;
      const to = 1 - dir;
      const t0 = cpuSecondsCheap();
      const rtp = srtp[from]!.a.decrypt(inbound[from]![f % 50]!);
      const t1 = cpuSecondsCheap();
      const pcm = decoders[from]!.decode(rtp.subarray(12));
      const pcmTo = resampleNearest(pcm ?? new Int16Array(sides[from]! / 50), sides[to]! / 50);
      const encoded = encoders[to]!.encode(pcmTo);
      const t2 = cpuSecondsCheap();
      srtp[to]!.a.encrypt(Buffer.from(encoded), header(f * 960));
      const t3 = cpuSecondsCheap();
      crypto += t1 - t0 + (t3 - t2);
      opus += t2 - t1;
    }
  }
  const whole = cpuSeconds() - begin;
  const scale = 1 / callMinutes;
  return {
    cpuSecondsPerCallMinute: whole * scale,
    opusSecondsPerCallMinute: opus * scale,
    srtpSecondsPerCallMinute: crypto * scale,
    framesMeasured: frames * 2,
    description:
      'per 20 ms per direction: SRTP unprotect + Opus decode + Opus encode + SRTP protect (WhatsApp side 16 kHz, room side 48 kHz; @evan/opus complexity 9, werift SRTP AES-CM-128/HMAC-SHA1-80)',
  };
}

// process.cpuUsage() is a syscall (~1 µs): fine for the Opus/SRTP split; the total comes from
// one read around the whole loop.
const cpuSecondsCheap = cpuSeconds;

/** Nearest-sample rate change; the floor counts codec work, not resampling quality. */
function resampleNearest(pcm: Int16Array, samples: number): Int16Array {
  if (pcm.length === samples) return pcm;
  const out = new Int16Array(samples);
  const step = pcm.length / samples;
  for (let i = 0; i < samples; i++) out[i] = pcm[Math.floor(i * step)] ?? 0;
  return out;
}
