/**
 * The in-process WhatsApp user's phone: a voice (tone, WAV, silence) encoded to Opus at 16 kHz on
 * a 20 ms clock, RFC 4733 keys on the same RTP stream, and ears that decode and keep what the
 * business sent, for tests and `make dev`'s curl examples.
 */
import { randomInt } from 'node:crypto';
import { OpusFrameDecoder, OpusFrameEncoder } from '../media/opus-codec.js';
import { DtmfSendQueue } from '../media/dtmf-send-queue.js';
import { FrameClock } from '../media/frame-clock.js';
import { isDtmfDigit } from '../media/rtp-dtmf.js';
import { ConnectorError } from '../errors/connector-error.js';
import { analyseTone, concatPcm, rmsDbfs, type ToneAnalysis } from '../media/tone.js';
import type { BusinessRtpPacket, UserPhone, UserPhoneLink } from './user-phone.js';
import { SilenceVoice, USER_AUDIO_RATE, type UserVoice } from './user-voice.js';

/** One chunk of what the user heard. */
export interface HeardChunk {
  /** Arrival time, ms since the call was created. */
  atMs: number;
  samples: Int16Array;
}

/** What the user heard, decoded to 16 kHz mono. */
export interface CallRecording {
  sampleRate: number;
  pcm: Int16Array;
  chunks: readonly HeardChunk[];
}

/** Level and tone analysis of what the user heard. */
export interface HeardAudioStats extends Partial<ToneAnalysis> {
  sampleRate: number;
  /** Audio heard, ms (decoded frames × 20 ms). */
  durationMs: number;
  /** RMS of everything heard (or the analysed window), dBFS. */
  levelDbfs: number;
}

const FRAME_MS = 20;
const FRAME_SAMPLES = (USER_AUDIO_RATE * FRAME_MS) / 1000;
const RTP_TICKS_PER_FRAME = 960;

export class SimulatedPhone implements UserPhone {
  readonly kind = 'simulated';
  private voice: UserVoice = new SilenceVoice();
  private readonly encoder = new OpusFrameEncoder({ sampleRate: USER_AUDIO_RATE });
  private readonly decoder = new OpusFrameDecoder({ sampleRate: USER_AUDIO_RATE });
  private readonly heard: HeardChunk[] = [];
  private link: UserPhoneLink | undefined;
  /** The 20 ms send clock (the media stages' one clock). */
  private readonly ticker = new FrameClock({
    onTick: () => {
      if (this.link) this.sendFrame(this.link);
    },
  });
  private closed = false;
  private seq = randomInt(0, 0xffff);
  private rtpTs = randomInt(0, 2 ** 31);
  /** The user's key presses, scheduled on the audio stream (shared with the connector). */
  private readonly dtmfQueue = new DtmfSendQueue({ endPackets: 'together', maxQueuedDigits: 256 });
  private dtmfWaiters: (() => void)[] = [];

  /** @param callCreatedAt epoch ms the heard chunks' `atMs` count from. */
  constructor(private readonly callCreatedAt: number) {}

  get description(): string {
    return this.voice.description;
  }

  /** What the user says from now on. */
  speak(voice: UserVoice): void {
    this.voice = voice;
  }

  start(link: UserPhoneLink): void {
    if (this.link || this.closed) return;
    this.link = link;
    // The first frame goes out at once, then one every 20 ms.
    this.sendFrame(link);
    this.ticker.start();
  }

  hear(packet: BusinessRtpPacket): void {
    if (this.closed || packet.codec !== 'opus') return;
    const pcm = this.decoder.decode(packet.payload);
    if (pcm) this.heard.push({ atMs: Date.now() - this.callCreatedAt, samples: pcm });
  }

  /**
   * Queues RFC 4733 events on the telephone-event payload type, sharing the audio stream's
   * sequence and timestamp base. Resolves when the last digit was sent (or the call ended).
   */
  async pressDigits(
    digits: string,
    options: { durationMs?: number; gapMs?: number } = {},
  ): Promise<void> {
    for (const d of digits) {
      if (!isDtmfDigit(d))
        throw new ConnectorError('invalid_argument', 'digits must be 0-9, *, #, A-D');
    }
    if (this.closed) return;
    const gapSlots = Math.max(1, Math.round((options.gapMs ?? 60) / FRAME_MS));
    this.dtmfQueue.enqueue(digits, { durationMs: options.durationMs ?? 100, gapSlots });
    await new Promise<void>((resolve) => this.dtmfWaiters.push(resolve));
  }

  /** Everything the user heard so far. */
  recording(): CallRecording {
    return {
      sampleRate: USER_AUDIO_RATE,
      pcm: concatPcm(this.heard.map((c) => c.samples)),
      chunks: this.heard,
    };
  }

  /**
   * Level and (with `expectHz`) tone analysis of what the user heard, optionally only the last
   * `lastMs` milliseconds.
   */
  heardStats(options: { expectHz?: number; lastMs?: number } = {}): HeardAudioStats {
    let pcm = this.recording().pcm;
    if (options.lastMs !== undefined) {
      pcm = pcm.subarray(
        Math.max(0, pcm.length - Math.round((options.lastMs * USER_AUDIO_RATE) / 1000)),
      );
    }
    const base = {
      sampleRate: USER_AUDIO_RATE,
      durationMs: Math.round((pcm.length * 1000) / USER_AUDIO_RATE),
      levelDbfs: rmsDbfs(pcm),
    };
    return options.expectHz !== undefined
      ? { ...base, ...analyseTone(pcm, USER_AUDIO_RATE, options.expectHz) }
      : base;
  }

  private sendFrame(link: UserPhoneLink): void {
    const ts = this.rtpTs;
    this.rtpTs = (this.rtpTs + RTP_TICKS_PER_FRAME) >>> 0;
    const pcm = this.voice.next(FRAME_SAMPLES);
    if (!link.mayTransmit) return;
    const dtmf = this.dtmfQueue.next(ts);
    if (dtmf) {
      // The end packet is sent three times back to back, all in the last interval.
      for (const packet of dtmf.packets) {
        this.transmit(
          link,
          link.telephoneEventPayloadType,
          dtmf.timestamp,
          packet.marker,
          packet.payload,
        );
      }
      return;
    }
    this.transmit(link, link.opusPayloadType, ts, false, this.encoder.encode(pcm));
    if (!this.dtmfQueue.busy) for (const w of this.dtmfWaiters.splice(0)) w();
  }

  private transmit(
    link: UserPhoneLink,
    payloadType: number,
    timestamp: number,
    marker: boolean,
    payload: Uint8Array,
  ): void {
    this.seq = (this.seq + 1) & 0xffff;
    link.send({ payloadType, sequenceNumber: this.seq, timestamp, marker, payload });
  }

  close(): Promise<void> {
    this.closed = true;
    this.ticker.stop();
    this.dtmfQueue.clear();
    for (const w of this.dtmfWaiters.splice(0)) w();
    return Promise.resolve();
  }
}
