import type { Logger } from '../log/index.js';
import { SafeEventEmitter, logListenerErrors } from '../util/typed-emitter.js';
import {
  TWILIO_MEDIA_FORMAT,
  clearMessage,
  markMessage,
  mediaMessage,
  parseInboundFrame,
  type StartFrame,
} from './media-stream-messages.js';
import { FRAME_MS, MULAW_FRAME_BYTES, MULAW_SAMPLE_RATE } from './mulaw-transcoder.js';

/** What the session needs from the WebSocket (satisfied by a `ws` WebSocket). */
export interface MediaStreamTransport {
  send(text: string): void;
  /** Bytes handed to `send` that are not yet written to the network. */
  readonly bufferedAmount: number;
  close(code: number, reason: string): void;
}

/** Limits of one media stream. All durations in milliseconds. */
export interface MediaStreamLimits {
  /** Malformed frames tolerated; one more closes the stream (1008). Default 10. */
  maxMalformedFrames: number;
  /**
   * Audio Twilio may send beyond the real-time average, e.g. catching up after a network stall
   * (at least one 20 ms frame). Default 1000.
   */
  maxBurstMs: number;
  /**
   * Audio beyond real time (and the burst allowance) dropped within one {@link floodWindowMs}
   * that closes the stream as a flood (1008). Audio beyond real time is always dropped, so the
   * room never gets more than real time. Default 2000.
   */
  maxFloodMs: number;
  /** Window in which flood drops are counted. Default 5000. */
  floodWindowMs: number;
  /**
   * No caller audio for this long ends the stream (`media_timeout`): Twilio sends a media frame
   * every 20 ms for as long as the call is up, silence included, so other frames (mark echoes)
   * do not count. Also bounds the wait for `start`. Default 5000.
   */
  silenceTimeoutMs: number;
  /** Audio to Twilio waiting in the socket beyond which new frames are dropped. Default 200. */
  maxSendQueueMs: number;
  /** A mark goes out after every this many media frames to Twilio. Default 50 (1 s). */
  markIntervalFrames: number;
  /**
   * Audio queued at Twilio (measured when a mark comes back) above which the service sends
   * `clear`, so the caller never hears the room more than about this late. Default 1000.
   */
  maxPlayoutBacklogMs: number;
}

export const DEFAULT_MEDIA_STREAM_LIMITS: MediaStreamLimits = {
  maxMalformedFrames: 10,
  maxBurstMs: 1000,
  maxFloodMs: 2000,
  floodWindowMs: 5000,
  silenceTimeoutMs: 5000,
  maxSendQueueMs: 200,
  markIntervalFrames: 50,
  maxPlayoutBacklogMs: 1000,
};

/** What Twilio's `start` said about the stream. */
export interface MediaStreamStart {
  streamSid: string;
  callSid: string;
  accountSid: string;
  tracks: string[];
  /** `<Parameter>` values of the `<Stream>` TwiML (may carry caller data: never logged). */
  customParameters: Record<string, string>;
}

/** How the stream ended, from the session's point of view. */
export type MediaStreamEndReason =
  'stream_stopped' | 'stream_closed' | 'media_timeout' | 'protocol_error' | 'media_flood';

export interface MediaStreamSessionEvents {
  /** Twilio's `start` arrived and was valid; audio may flow. */
  start: [start: MediaStreamStart];
  /** One 20 ms frame of the caller's voice: 160 bytes of 8 kHz μ-law. */
  audio: [mulaw: Uint8Array];
  /** The caller pressed a key (0-9, *, #, A-D). */
  dtmf: [digit: string];
  /** The stream is over (not emitted after `close()`); `detail` is the human-readable why. */
  end: [reason: MediaStreamEndReason, detail: string];
}

/** Counters for diagnostics, metrics and tests. */
export interface MediaStreamStats {
  framesReceived: number;
  malformedFrames: number;
  /** 20 ms frames of caller audio delivered. */
  audioFramesReceived: number;
  /** Caller audio dropped for arriving faster than real time, ms. */
  floodDroppedMs: number;
  /** Media frames sent to Twilio. */
  framesSent: number;
  /** Frames to Twilio dropped because the socket was backed up. */
  framesDropped: number;
  marksSent: number;
  /** Marks Twilio echoed after playing up to them. */
  marksAcknowledged: number;
  /** Echoed marks this session never sent (or no longer tracks). */
  unknownMarks: number;
  clearsSent: number;
  /** Audio queued at Twilio when the last mark came back, ms (an upper bound: includes the round trip). */
  playoutBacklogMs: number | undefined;
  dtmfReceived: number;
}

/** WebSocket close codes (RFC 6455). */
export const CLOSE_CODE = {
  normal: 1000,
  goingAway: 1001,
  policyViolation: 1008,
  internalError: 1011,
} as const;

/** Close reasons are at most 123 bytes of UTF-8. */
export function closeReason(text: string): string {
  let out = text;
  while (Buffer.byteLength(out, 'utf8') > 123) out = out.slice(0, -1);
  return out;
}

/** Marks remembered at once; older ones are forgotten (Twilio echoes in order). */
const MAX_OUTSTANDING_MARKS = 64;
/** Malformed frames logged individually; after that, every 100th. */
const LOGGED_MALFORMED = 3;

/**
 * The server side of one Twilio Media Streams WebSocket: checks every frame, turns Twilio's
 * messages into typed events, and sends the room's audio back. It owns no audio conversion and
 * no room: the call wires it to those.
 *
 * Defences: a malformed frame is counted and ignored, and past `maxMalformedFrames` the stream is
 * closed with 1008 and the reason; caller audio beyond real time (a token bucket of
 * `maxBurstMs`) is dropped, and a sustained flood closes the stream; no media for
 * `silenceTimeoutMs` ends it.
 *
 * Towards the caller: frames are sent as the room's mix produces them (20 ms apart), dropped
 * rather than queued when the socket backs up, and every `markIntervalFrames` a mark is sent.
 * When a mark comes back, the frames sent since then bound the audio still queued at Twilio; above
 * `maxPlayoutBacklogMs` (e.g. a network stall followed by a burst) the session sends `clear`, so
 * the caller hears the room live again instead of ever later.
 */
export class MediaStreamSession extends SafeEventEmitter<MediaStreamSessionEvents> {
  readonly #transport: MediaStreamTransport;
  readonly #limits: MediaStreamLimits;
  readonly #now: () => number;
  readonly #log: Logger | undefined;
  readonly #stats: MediaStreamStats = {
    framesReceived: 0,
    malformedFrames: 0,
    audioFramesReceived: 0,
    floodDroppedMs: 0,
    framesSent: 0,
    framesDropped: 0,
    marksSent: 0,
    marksAcknowledged: 0,
    unknownMarks: 0,
    clearsSent: 0,
    playoutBacklogMs: undefined,
    dtmfReceived: 0,
  };
  #connected = false;
  #start: MediaStreamStart | undefined;
  #ended = false;
  #silenceTimer: NodeJS.Timeout | undefined;
  /** When media (or the start) last arrived. */
  #lastMediaAt: number;
  /** Caller audio not yet making a whole frame. */
  #pending = new Uint8Array(0);
  /** Token bucket of caller audio, ms. */
  #credit: number;
  #creditAt: number;
  #floodWindowStart: number;
  #floodInWindow = 0;
  #markSeq = 0;
  /** Mark name → frames sent when it went out. */
  readonly #marks = new Map<string, number>();
  /** Marks sent before a `clear`: Twilio echoes them at once, they measure nothing. */
  readonly #clearedMarks = new Set<string>();

  constructor(options: {
    transport: MediaStreamTransport;
    limits?: Partial<MediaStreamLimits> | undefined;
    /** Monotonic clock in ms. Default `performance.now`. */
    now?: (() => number) | undefined;
    logger?: Logger | undefined;
  }) {
    super(logListenerErrors(options.logger, 'media stream listener threw'));
    this.#transport = options.transport;
    this.#limits = { ...DEFAULT_MEDIA_STREAM_LIMITS, ...options.limits };
    if (!(this.#limits.maxBurstMs >= FRAME_MS)) {
      throw new RangeError(`maxBurstMs must be at least one frame (${FRAME_MS} ms)`);
    }
    this.#now = options.now ?? (() => performance.now());
    this.#log = options.logger;
    this.#credit = this.#limits.maxBurstMs;
    this.#creditAt = this.#now();
    this.#floodWindowStart = this.#creditAt;
    this.#lastMediaAt = this.#creditAt;
    this.#armSilenceTimer(this.#limits.silenceTimeoutMs);
  }

  /** The validated `start`, once it arrived. */
  get started(): MediaStreamStart | undefined {
    return this.#start;
  }

  get ended(): boolean {
    return this.#ended;
  }

  get stats(): MediaStreamStats {
    return { ...this.#stats };
  }

  /** One WebSocket message from Twilio. Never throws. */
  receive(data: string | Buffer, isBinary: boolean): void {
    if (this.#ended) return;
    this.#stats.framesReceived++;
    const parsed = parseInboundFrame(data, isBinary);
    if (!parsed.ok) {
      this.#malformed(parsed.problem);
      return;
    }
    const frame = parsed.frame;
    if (frame.event === 'connected') {
      if (this.#connected || this.#start) this.#malformed('"connected" sent twice');
      this.#connected = true;
      return;
    }
    if (frame.event === 'start') {
      this.#onStart(frame);
      return;
    }
    const start = this.#start;
    if (!start) {
      this.#malformed(`"${frame.event}" before "start"`);
      return;
    }
    if (frame.streamSid !== start.streamSid) {
      this.#malformed(`"${frame.event}" for another streamSid`);
      return;
    }
    switch (frame.event) {
      case 'media':
        this.#lastMediaAt = this.#now();
        this.#onMedia(frame.media.payload, frame.media.track);
        return;
      case 'dtmf':
        this.#stats.dtmfReceived++;
        this.emit('dtmf', frame.dtmf.digit.toUpperCase());
        return;
      case 'mark':
        this.#onMark(frame.mark.name);
        return;
      case 'stop':
        this.#finish('stream_stopped', 'stream stopped', CLOSE_CODE.normal);
        return;
    }
  }

  /** The WebSocket closed (by either side). */
  transportClosed(code: number): void {
    this.#finish('stream_closed', `websocket closed (${code})`);
  }

  /**
   * One 20 ms frame of the room's audio for the caller (160 bytes of 8 kHz μ-law). Dropped before
   * `start` (no streamSid yet) and when the socket is backed up beyond `maxSendQueueMs`.
   */
  sendAudio(mulaw: Uint8Array): void {
    const start = this.#start;
    if (this.#ended || !start) return;
    const message = mediaMessage(start.streamSid, mulaw);
    const frameMs = (mulaw.length * 1000) / MULAW_SAMPLE_RATE;
    const queuedMs = (this.#transport.bufferedAmount / message.length) * frameMs;
    if (queuedMs > this.#limits.maxSendQueueMs) {
      this.#stats.framesDropped++;
      return;
    }
    this.#transport.send(message);
    this.#stats.framesSent++;
    if (this.#stats.framesSent % this.#limits.markIntervalFrames === 0) this.#sendMark(start);
  }

  /**
   * Ask Twilio to drop the audio it has queued for the caller (barge-in). Returns false before
   * `start` or after the end.
   */
  clear(): boolean {
    const start = this.#start;
    if (this.#ended || !start) return false;
    this.#transport.send(clearMessage(start.streamSid));
    this.#stats.clearsSent++;
    for (const name of this.#marks.keys()) this.#clearedMarks.add(name);
    this.#marks.clear();
    return true;
  }

  /** End the stream from this side: close the WebSocket. No `end` event. Idempotent. */
  close(code: number, reason: string): void {
    if (this.#ended) return;
    this.#ended = true;
    clearTimeout(this.#silenceTimer);
    this.#transport.close(code, closeReason(reason));
  }

  #onStart(frame: StartFrame): void {
    if (this.#start) {
      this.#malformed('"start" sent twice');
      return;
    }
    const s = frame.start;
    if (s.streamSid !== frame.streamSid) {
      this.#fatal('protocol_error', '"start" names two different streamSids');
      return;
    }
    const format = s.mediaFormat;
    if (
      format.encoding !== TWILIO_MEDIA_FORMAT.encoding ||
      format.sampleRate !== TWILIO_MEDIA_FORMAT.sampleRate ||
      format.channels !== TWILIO_MEDIA_FORMAT.channels
    ) {
      this.#fatal(
        'protocol_error',
        `unsupported media format ${format.encoding}/${format.sampleRate}/${format.channels} (expected audio/x-mulaw/8000/1)`,
      );
      return;
    }
    this.#lastMediaAt = this.#now();
    this.#start = {
      streamSid: s.streamSid,
      callSid: s.callSid,
      accountSid: s.accountSid,
      tracks: s.tracks,
      customParameters: s.customParameters,
    };
    this.emit('start', { ...this.#start });
  }

  #onMedia(payload: string, track: 'inbound' | 'outbound'): void {
    const bytes = Buffer.from(payload, 'base64');
    if (bytes.length === 0) {
      this.#malformed('media.payload: empty');
      return;
    }
    if (!this.#admit((bytes.length * 1000) / MULAW_SAMPLE_RATE)) return;
    // With <Connect><Stream> Twilio sends the caller only; another track is not the caller.
    if (track !== 'inbound') return;
    let data: Uint8Array = bytes;
    if (this.#pending.length > 0) {
      data = new Uint8Array(this.#pending.length + bytes.length);
      data.set(this.#pending, 0);
      data.set(bytes, this.#pending.length);
    }
    let offset = 0;
    while (data.length - offset >= MULAW_FRAME_BYTES && !this.#ended) {
      this.#stats.audioFramesReceived++;
      this.emit('audio', data.slice(offset, offset + MULAW_FRAME_BYTES));
      offset += MULAW_FRAME_BYTES;
    }
    this.#pending = data.slice(offset);
  }

  /** Token bucket: true if `ms` of audio fits in real time plus the burst allowance. */
  #admit(ms: number): boolean {
    const now = this.#now();
    this.#credit = Math.min(this.#limits.maxBurstMs, this.#credit + (now - this.#creditAt));
    this.#creditAt = now;
    if (this.#credit >= ms) {
      this.#credit -= ms;
      return true;
    }
    this.#stats.floodDroppedMs += ms;
    if (now - this.#floodWindowStart > this.#limits.floodWindowMs) {
      this.#floodWindowStart = now;
      this.#floodInWindow = 0;
    }
    this.#floodInWindow += ms;
    if (this.#floodInWindow > this.#limits.maxFloodMs) {
      this.#fatal(
        'media_flood',
        `media flood: more than ${this.#limits.maxFloodMs} ms of audio beyond real time`,
      );
    }
    return false;
  }

  #sendMark(start: MediaStreamStart): void {
    const name = `lk-${++this.#markSeq}`;
    this.#transport.send(markMessage(start.streamSid, name));
    this.#stats.marksSent++;
    this.#marks.set(name, this.#stats.framesSent);
    if (this.#marks.size > MAX_OUTSTANDING_MARKS) {
      const oldest = this.#marks.keys().next().value;
      if (oldest !== undefined) this.#marks.delete(oldest);
    }
  }

  #onMark(name: string): void {
    if (this.#clearedMarks.delete(name)) return;
    const sentAt = this.#marks.get(name);
    if (sentAt === undefined) {
      this.#stats.unknownMarks++;
      return;
    }
    // Twilio plays in order: this mark and every older one have been played.
    for (const [other, at] of this.#marks) {
      this.#marks.delete(other);
      if (at === sentAt) break;
    }
    this.#stats.marksAcknowledged++;
    const backlogMs = (this.#stats.framesSent - sentAt) * FRAME_MS;
    this.#stats.playoutBacklogMs = backlogMs;
    if (backlogMs > this.#limits.maxPlayoutBacklogMs) {
      this.#log?.info({ backlogMs }, 'audio queued at Twilio above the limit: clearing it');
      this.clear();
    }
  }

  #malformed(problem: string): void {
    const count = ++this.#stats.malformedFrames;
    if (count <= LOGGED_MALFORMED || count % 100 === 0) {
      this.#log?.debug({ problem, count }, 'malformed media stream frame');
    }
    if (count > this.#limits.maxMalformedFrames) {
      this.#fatal('protocol_error', `too many malformed frames (last: ${problem})`);
    }
  }

  /** One timer for the silence check, re-armed for the rest of the window (no per-frame timer work). */
  #armSilenceTimer(ms: number): void {
    this.#silenceTimer = setTimeout(() => {
      const quietFor = this.#now() - this.#lastMediaAt;
      if (quietFor >= this.#limits.silenceTimeoutMs) this.#onSilence();
      else this.#armSilenceTimer(this.#limits.silenceTimeoutMs - quietFor);
    }, ms);
  }

  #onSilence(): void {
    this.#finish(
      'media_timeout',
      `no media for ${this.#limits.silenceTimeoutMs} ms`,
      CLOSE_CODE.goingAway,
    );
  }

  #fatal(reason: MediaStreamEndReason, detail: string): void {
    this.#finish(reason, detail, CLOSE_CODE.policyViolation);
  }

  #finish(reason: MediaStreamEndReason, detail: string, closeCode?: number): void {
    if (this.#ended) return;
    this.#ended = true;
    clearTimeout(this.#silenceTimer);
    if (closeCode !== undefined) this.#transport.close(closeCode, closeReason(detail));
    this.#log?.info({ reason, detail, ...this.stats }, 'media stream ended');
    this.emit('end', reason, detail);
  }
}
