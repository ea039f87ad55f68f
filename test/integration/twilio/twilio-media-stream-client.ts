import { randomBytes } from 'node:crypto';
import WebSocket from 'ws';
import { ToneGenerator, concatPcm } from '../../../src/media/tone.js';
import { mulawDecode, mulawEncode } from './g711-mulaw.js';

/**
 * Plays Twilio's side of a bidirectional Media Stream (`<Connect><Stream>`) against the
 * connector, from Twilio's documentation of the WebSocket messages, sharing no code with
 * src/twilio: it sends `connected`, `start`, `media` (8 kHz μ-law, 20 ms per message, paced in
 * real time), `dtmf` and `stop`, and plays what the server sends like Twilio's playout would:
 * one 20 ms frame per 20 ms, marks echoed once the audio before them has been played, `clear`
 * dropping the queue and echoing the pending marks at once.
 */

export const SAMPLE_RATE = 8000;
const FRAME_BYTES = 160;

function sid(prefix: string): string {
  return `${prefix}${randomBytes(16).toString('hex')}`;
}

/** An upgrade the server refused: its HTTP status and body. */
export interface RefusedUpgrade {
  status: number;
  body: string;
}

/** Try to open a media stream; resolves with the socket, or with the HTTP refusal. */
export function openSocket(url: string): Promise<WebSocket | RefusedUpgrade> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.once('open', () => resolve(ws));
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    ws.once('error', (err) => reject(err));
  });
}

type QueueItem = { kind: 'audio'; pcm: Int16Array } | { kind: 'mark'; name: string };

export interface StartOptions {
  callSid?: string;
  streamSid?: string;
  accountSid?: string;
  customParameters?: Record<string, string>;
  mediaFormat?: { encoding: string; sampleRate: number; channels: number };
}

export class TwilioMediaStreamClient {
  readonly ws: WebSocket;
  readonly callSid: string;
  readonly streamSid: string;
  readonly accountSid: string;
  /** Resolves when the socket closes, with the server's code and reason. */
  readonly closed: Promise<{ code: number; reason: string }>;
  /** Every message the server sent, parsed. */
  readonly received: Array<Record<string, unknown>> = [];
  /** Marks echoed back to the server, in order. */
  readonly marksEchoed: string[] = [];
  /** Times (ms, performance.now) at which `clear` arrived. */
  readonly clears: number[] = [];
  /** Played audio (8 kHz PCM) with the time each frame was played. */
  readonly played: Array<{ at: number; pcm: Int16Array }> = [];
  #seq = 0;
  #chunk = 0;
  #startedAt = 0;
  #queue: QueueItem[] = [];
  #player: NodeJS.Timeout | undefined;
  #stalledUntil = 0;
  #sender: NodeJS.Timeout | undefined;

  private constructor(ws: WebSocket, start: StartOptions) {
    this.ws = ws;
    this.callSid = start.callSid ?? sid('CA');
    this.streamSid = start.streamSid ?? sid('MZ');
    this.accountSid = start.accountSid ?? sid('AC');
    this.closed = new Promise((resolve) => {
      ws.once('close', (code, reason) => {
        this.#stopTimers();
        resolve({ code, reason: reason.toString('utf8') });
      });
    });
    ws.on('message', (data, isBinary) => {
      if (isBinary) return;
      this.#onMessage(JSON.parse((data as Buffer).toString('utf8')) as Record<string, unknown>);
    });
    ws.on('error', () => undefined);
  }

  /** Open the stream and send `connected` and `start`, as Twilio does. */
  static async connect(url: string, start: StartOptions = {}): Promise<TwilioMediaStreamClient> {
    const ws = await openSocket(url);
    if (!(ws instanceof WebSocket)) {
      throw new Error(`media stream refused: ${ws.status} ${ws.body.trim()}`);
    }
    const client = new TwilioMediaStreamClient(ws, start);
    client.sendJson({ event: 'connected', protocol: 'Call', version: '1.0.0' });
    client.sendStart(start);
    client.#startPlayer();
    return client;
  }

  /** Open the stream without sending anything. */
  static async open(url: string, start: StartOptions = {}): Promise<TwilioMediaStreamClient> {
    const ws = await openSocket(url);
    if (!(ws instanceof WebSocket)) throw new Error(`media stream refused: ${ws.status}`);
    return new TwilioMediaStreamClient(ws, start);
  }

  sendJson(message: Record<string, unknown>): void {
    this.ws.send(JSON.stringify(message));
  }

  sendRaw(data: string | Buffer): void {
    this.ws.send(data);
  }

  #nextSeq(): string {
    return String(++this.#seq);
  }

  sendStart(start: StartOptions = {}): void {
    this.#startedAt = performance.now();
    this.sendJson({
      event: 'start',
      sequenceNumber: this.#nextSeq(),
      start: {
        accountSid: this.accountSid,
        streamSid: this.streamSid,
        callSid: this.callSid,
        tracks: ['inbound'],
        mediaFormat: start.mediaFormat ?? {
          encoding: 'audio/x-mulaw',
          sampleRate: 8000,
          channels: 1,
        },
        customParameters: start.customParameters ?? {},
      },
      streamSid: this.streamSid,
    });
  }

  /** One `media` message with these μ-law bytes. */
  sendMedia(mulaw: Uint8Array): void {
    this.sendJson({
      event: 'media',
      sequenceNumber: this.#nextSeq(),
      media: {
        track: 'inbound',
        chunk: String(++this.#chunk),
        timestamp: String(Math.round(performance.now() - this.#startedAt)),
        payload: Buffer.from(mulaw).toString('base64'),
      },
      streamSid: this.streamSid,
    });
  }

  sendDtmf(digit: string): void {
    this.sendJson({
      event: 'dtmf',
      streamSid: this.streamSid,
      sequenceNumber: this.#nextSeq(),
      dtmf: { track: 'inbound_track', digit },
    });
  }

  sendStop(): void {
    this.sendJson({
      event: 'stop',
      sequenceNumber: this.#nextSeq(),
      streamSid: this.streamSid,
      stop: { accountSid: this.accountSid, callSid: this.callSid },
    });
  }

  /**
   * Send the caller's voice: a tone (or silence with frequency 0) in real time, one 20 ms
   * message per 20 ms, until `stopSending()`.
   */
  sendTone(frequencyHz: number, amplitude = 0.3): void {
    this.stopSending();
    const tone = new ToneGenerator(frequencyHz, SAMPLE_RATE, amplitude);
    const t0 = performance.now();
    let frames = 0;
    const tick = () => {
      const due = Math.floor((performance.now() - t0) / 20) + 1;
      while (frames < due && this.ws.readyState === WebSocket.OPEN) {
        const pcm = frequencyHz > 0 ? tone.next(FRAME_BYTES) : new Int16Array(FRAME_BYTES);
        this.sendMedia(mulawEncode(pcm));
        frames++;
      }
      this.#sender = setTimeout(tick, Math.max(0, t0 + frames * 20 - performance.now()));
    };
    tick();
  }

  stopSending(): void {
    clearTimeout(this.#sender);
    this.#sender = undefined;
  }

  /** Stop playing (as if Twilio's playout stalled) for `ms`; what arrives meanwhile queues up. */
  stallPlayout(ms: number): void {
    this.#stalledUntil = performance.now() + ms;
  }

  /** Audio queued for playout, ms. */
  get queuedMs(): number {
    return this.#queue.filter((i) => i.kind === 'audio').length * 20;
  }

  /** 8 kHz PCM played in the last `ms`. */
  heard(ms: number): Int16Array {
    const since = performance.now() - ms;
    return concatPcm(this.played.filter((p) => p.at >= since).map((p) => p.pcm));
  }

  /** Messages the server sent with this event name. */
  messages(event: string): Array<Record<string, unknown>> {
    return this.received.filter((m) => m.event === event);
  }

  close(): void {
    this.#stopTimers();
    this.ws.close(1000, 'test done');
  }

  #onMessage(message: Record<string, unknown>): void {
    this.received.push(message);
    switch (message.event) {
      case 'media': {
        const payload = (message.media as { payload: string }).payload;
        this.#queue.push({ kind: 'audio', pcm: mulawDecode(Buffer.from(payload, 'base64')) });
        break;
      }
      case 'mark':
        this.#queue.push({ kind: 'mark', name: (message.mark as { name: string }).name });
        this.#playMarks();
        break;
      case 'clear': {
        this.clears.push(performance.now());
        const marks = this.#queue.filter((i) => i.kind === 'mark');
        this.#queue = [];
        for (const m of marks) this.#echoMark(m.name);
        break;
      }
    }
  }

  #startPlayer(): void {
    const t0 = performance.now();
    let ticks = 0;
    const tick = () => {
      const now = performance.now();
      const due = Math.floor((now - t0) / 20) + 1;
      // A stalled player drops its ticks; it does not catch up (like a real playout clock).
      if (now < this.#stalledUntil) ticks = due;
      while (ticks < due) {
        ticks++;
        this.#playMarks();
        const item = this.#queue[0];
        if (item?.kind === 'audio') {
          this.#queue.shift();
          this.played.push({ at: now, pcm: item.pcm });
        }
        this.#playMarks();
      }
      this.#player = setTimeout(tick, Math.max(0, t0 + ticks * 20 - performance.now()));
    };
    tick();
  }

  /** Echo marks at the head of the queue: everything before them has been played. */
  #playMarks(): void {
    while (this.#queue[0]?.kind === 'mark') {
      const item = this.#queue.shift() as { kind: 'mark'; name: string };
      this.#echoMark(item.name);
    }
  }

  #echoMark(name: string): void {
    if (this.ws.readyState !== WebSocket.OPEN) return;
    this.marksEchoed.push(name);
    this.sendJson({
      event: 'mark',
      sequenceNumber: this.#nextSeq(),
      streamSid: this.streamSid,
      mark: { name },
    });
  }

  #stopTimers(): void {
    clearTimeout(this.#player);
    clearTimeout(this.#sender);
    this.#player = undefined;
    this.#sender = undefined;
  }
}
