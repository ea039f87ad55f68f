/**
 * Test kit for the simulator's integration tests: a webhook receiver that checks Meta's signature,
 * a Graph client, and two independent "business" WebRTC stacks answering or offering the way a
 * business must (ICE-full, controlling, DTLS client): a plain werift peer and @roamhq/wrtc
 * (libwebrtc). They send a tone and decode what they receive.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import {
  MediaStreamTrack,
  RTCPeerConnection,
  RTCRtpCodecParameters,
  RtpHeader,
  RtpPacket,
} from 'werift';
import { OpusFrameDecoder, OpusFrameEncoder } from '../../../src/media/opus-codec.js';
import { DtmfDecoder } from '../../../src/media/rtp-dtmf.js';
import assert from 'node:assert/strict';
import { ToneGenerator, analyseTone, concatPcm } from '../../../src/media/tone.js';
import { verifyWebhookSignature } from '../../../src/whatsapp/webhook-signature.js';
import type { WhatsAppWebhookPayload } from '../../../src/whatsapp/webhook-payloads.js';

/** A webhook as the business received it. */
export interface ReceivedWebhook {
  raw: string;
  signature: string | undefined;
  signatureValid: boolean;
  payload: WhatsAppWebhookPayload;
  /** `connect`, `terminate`, `status:RINGING`, `call_permission_reply`, … */
  event: string;
}

/** Meta-side name of a webhook, for matching. */
export function webhookEvent(payload: WhatsAppWebhookPayload): string {
  const change = payload.entry[0]?.changes[0];
  const value = (change?.value ?? {}) as {
    calls?: { event: string }[];
    statuses?: { status: string }[];
    messages?: { interactive?: { type?: string } }[];
  };
  if (value.calls?.[0]) return value.calls[0].event;
  if (value.statuses?.[0]) return `status:${value.statuses[0].status}`;
  return value.messages?.[0]?.interactive?.type ?? change?.field ?? 'unknown';
}

/**
 * Collects webhooks; `failNext` answers 500 to that many deliveries first. Answers Meta's
 * verification GET for the verify token `verify-me`.
 */
export class WebhookReceiver {
  readonly received: ReceivedWebhook[] = [];
  failNext = 0;
  private waiters: (() => void)[] = [];

  private constructor(
    private readonly server: Server,
    readonly url: string,
  ) {}

  static async start(appSecret: string): Promise<WebhookReceiver> {
    const box: { receiver?: WebhookReceiver } = {};
    const server = createServer((req, res) => {
      if (req.method === 'GET') {
        // Meta's subscription check: echo hub.challenge when the verify token matches.
        const q = new URL(req.url ?? '/', 'http://x').searchParams;
        const ok = q.get('hub.mode') === 'subscribe' && q.get('hub.verify_token') === 'verify-me';
        res.writeHead(ok ? 200 : 403).end(ok ? (q.get('hub.challenge') ?? '') : '');
        return;
      }
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const r = box.receiver as WebhookReceiver;
        if (r.failNext > 0) {
          r.failNext--;
          res.writeHead(500).end();
          return;
        }
        const raw = Buffer.concat(chunks).toString('utf8');
        const signature = req.headers['x-hub-signature-256'] as string | undefined;
        const payload = JSON.parse(raw) as WhatsAppWebhookPayload;
        r.received.push({
          raw,
          signature,
          signatureValid: verifyWebhookSignature(raw, signature, appSecret),
          payload,
          event: webhookEvent(payload),
        });
        res.writeHead(200).end();
        for (const w of r.waiters.splice(0)) w();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const receiver = new WebhookReceiver(
      server,
      `http://127.0.0.1:${(server.address() as AddressInfo).port}/webhook`,
    );
    box.receiver = receiver;
    return receiver;
  }

  events(): string[] {
    return this.received.map((w) => w.event);
  }

  /** Resolves with the first webhook of `event` (optionally for a call id). */
  async waitFor(event: string, callId?: string, timeoutMs = 10_000): Promise<ReceivedWebhook> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hit = this.received.find(
        (w) => w.event === event && (callId === undefined || w.raw.includes(callId)),
      );
      if (hit) return hit;
      const left = deadline - Date.now();
      if (left <= 0)
        throw new Error(
          `no ${event} webhook within ${timeoutMs} ms (got ${this.events().join(', ')})`,
        );
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 200));
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** POST/GET against the simulator's Graph API. */
export async function graph(
  base: string,
  method: 'GET' | 'POST',
  path: string,
  body?: unknown,
  /** `null` sends no Authorization header. */
  token: string | null = 'simulator-access-token',
): Promise<{
  status: number;
  body: Record<string, unknown> & { error?: Record<string, unknown> };
}> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: {
      ...(token !== null ? { Authorization: `Bearer ${token}` } : {}),
      ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}),
    },
    ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** The tone and DTMF a business leg heard. */
export interface BusinessEar {
  pcm(): Int16Array;
  digits: string;
}

/**
 * A business leg on werift (non-lite: ICE-full and controlling against the ICE-lite relay; its
 * answer says `setup:active`, so it is the DTLS client). Sends a tone as 20 ms Opus frames at
 * 48 kHz once connected, decodes what it hears and RFC 4733 digits on PT 126.
 */
export class WeriftBusinessLeg implements BusinessEar {
  readonly pc: RTCPeerConnection;
  digits = '';
  private readonly heard: Int16Array[] = [];
  private readonly decoder = new OpusFrameDecoder({ sampleRate: 48000 });
  private readonly dtmf = new DtmfDecoder();
  private readonly track = new MediaStreamTrack({ kind: 'audio' });
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly toneHz: number | undefined) {
    this.pc = new RTCPeerConnection({
      iceAdditionalHostAddresses: ['127.0.0.1'],
      iceUseIpv6: false,
      codecs: {
        audio: [
          new RTCRtpCodecParameters({
            mimeType: 'audio/opus',
            clockRate: 48000,
            channels: 2,
            payloadType: 111,
          }),
          new RTCRtpCodecParameters({
            mimeType: 'audio/telephone-event',
            clockRate: 8000,
            channels: 1,
            payloadType: 126,
          }),
        ],
      },
    });
    this.pc.addTransceiver(this.track, { direction: 'sendrecv' });
    this.pc.onTrack.subscribe((t) =>
      t.onReceiveRtp.subscribe((rtp) => {
        if (rtp.header.payloadType === 126) {
          const d = this.dtmf.push(rtp.payload, rtp.header.timestamp);
          if (d) this.digits += d.digit;
        } else {
          const pcm = this.decoder.decode(rtp.payload);
          if (pcm) this.heard.push(pcm);
        }
      }),
    );
    this.pc.connectionStateChange.subscribe((s) => {
      if (s === 'connected') this.startSending();
    });
  }

  async answer(offerSdp: string): Promise<string> {
    await this.pc.setRemoteDescription({ type: 'offer', sdp: offerSdp });
    await this.pc.setLocalDescription(await this.pc.createAnswer());
    await waitGathered(this.pc);
    return this.pc.localDescription?.sdp ?? '';
  }

  async offer(): Promise<string> {
    await this.pc.setLocalDescription(await this.pc.createOffer());
    await waitGathered(this.pc);
    return this.pc.localDescription?.sdp ?? '';
  }

  async applyAnswer(sdp: string): Promise<void> {
    await this.pc.setRemoteDescription({ type: 'answer', sdp });
  }

  private startSending(): void {
    if (this.toneHz === undefined || this.timer) return;
    const tone = new ToneGenerator(this.toneHz, 48000, 0.3);
    const encoder = new OpusFrameEncoder({ sampleRate: 48000 });
    let seq = 0;
    let ts = 0;
    this.timer = setInterval(() => {
      const payload = Buffer.from(encoder.encode(tone.next(960)));
      this.track.writeRtp(
        new RtpPacket(
          new RtpHeader({
            payloadType: 111,
            sequenceNumber: seq++ & 0xffff,
            timestamp: (ts += 960) >>> 0,
          }),
          payload,
        ),
      );
    }, 20);
  }

  /** Stop sending media (keeps the connection). */
  mute(): void {
    if (this.timer) clearInterval(this.timer);
  }

  pcm(): Int16Array {
    return concatPcm(this.heard);
  }

  get iceRole(): string {
    const transport = this.pc.iceTransports[0] as unknown as {
      connection?: { iceControlling?: boolean };
    };
    return transport.connection?.iceControlling ? 'controlling' : 'controlled';
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.pc.close();
  }
}

async function waitGathered(pc: RTCPeerConnection): Promise<void> {
  if (pc.iceGatheringState === 'complete') return;
  await new Promise<void>((resolve) => {
    const { unSubscribe } = pc.iceGatheringStateChange.subscribe((s) => {
      if (s === 'complete') {
        unSubscribe();
        resolve();
      }
    });
  });
}

// -------------------------------------------------------------------------------- @roamhq/wrtc

interface WrtcPeer {
  addTrack(track: unknown, stream: unknown): unknown;
  createOffer(): Promise<{ type: string; sdp: string }>;
  setLocalDescription(d: { type: string; sdp: string }): Promise<void>;
  setRemoteDescription(d: { type: string; sdp: string }): Promise<void>;
  localDescription: { sdp: string } | null;
  iceGatheringState: string;
  connectionState: string;
  onicegatheringstatechange: (() => void) | null;
  ontrack: ((e: { track: unknown }) => void) | null;
  close(): void;
}
interface Wrtc {
  RTCPeerConnection: new (config?: unknown) => WrtcPeer;
  MediaStream: new () => unknown;
  nonstandard: {
    RTCAudioSource: new () => { createTrack(): { stop(): void }; onData(d: unknown): void };
    RTCAudioSink: new (track: unknown) => {
      ondata: ((d: { samples: Int16Array; sampleRate: number }) => void) | null;
      stop(): void;
    };
  };
}

const wrtc = createRequire(import.meta.url)('@roamhq/wrtc') as Wrtc;

/**
 * A business leg on libwebrtc (@roamhq/wrtc): offers (business-initiated calls) with `addTrack`,
 * sends a tone through `RTCAudioSource` in 10 ms frames and records what it hears at 48 kHz.
 */
export class WrtcBusinessLeg implements BusinessEar {
  readonly digits = '';
  private readonly heard: Int16Array[] = [];
  /**
   * Every native object, dropped on close: @roamhq/wrtc crashes the process at exit when an
   * `RTCAudioSource`/track is still reachable while the N-API environment is torn down.
   */
  private native:
    | { pc: WrtcPeer; track: { stop(): void }; sinks: { stop(): void }[]; timer: NodeJS.Timeout }
    | undefined;

  constructor(toneHz: number) {
    const pc = new wrtc.RTCPeerConnection({ iceServers: [] });
    const source = new wrtc.nonstandard.RTCAudioSource();
    const track = source.createTrack();
    pc.addTrack(track, new wrtc.MediaStream());
    const tone = new ToneGenerator(toneHz, 48000, 0.3);
    const timer = setInterval(() => {
      source.onData({
        samples: tone.next(480),
        sampleRate: 48000,
        bitsPerSample: 16,
        channelCount: 1,
        numberOfFrames: 480,
      });
    }, 10);
    const sinks: { stop(): void }[] = [];
    pc.ontrack = (e) => {
      const sink = new wrtc.nonstandard.RTCAudioSink(e.track);
      sink.ondata = (d) => {
        if (d.sampleRate === 48000) this.heard.push(Int16Array.from(d.samples));
      };
      sinks.push(sink);
    };
    this.native = { pc, track, sinks, timer };
  }

  private get pc(): WrtcPeer {
    if (!this.native) throw new Error('leg closed');
    return this.native.pc;
  }

  async offer(): Promise<string> {
    const pc = this.pc;
    await pc.setLocalDescription(await pc.createOffer());
    if (pc.iceGatheringState !== 'complete') {
      await new Promise<void>((resolve) => {
        pc.onicegatheringstatechange = () => {
          if (pc.iceGatheringState === 'complete') resolve();
        };
      });
    }
    return pc.localDescription?.sdp ?? '';
  }

  async applyAnswer(sdp: string): Promise<void> {
    await this.pc.setRemoteDescription({ type: 'answer', sdp });
  }

  pcm(): Int16Array {
    return concatPcm(this.heard);
  }

  async close(): Promise<void> {
    const n = this.native;
    if (!n) return;
    this.native = undefined;
    clearInterval(n.timer);
    for (const s of n.sinks) s.stop();
    n.track.stop();
    n.pc.ontrack = null;
    n.pc.onicegatheringstatechange = null;
    n.pc.close();
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * Finalises unreachable @roamhq/wrtc objects while the N-API environment is still intact: the
 * library crashes the process (SIGSEGV) when they are finalised during exit. Call it in `after()`
 * once every leg is closed.
 */
export async function releaseWrtc(): Promise<void> {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  for (let i = 0; i < 3; i++) {
    gc();
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * After a second of speaking both ways: the user heard the business's 1 kHz tone and the
 * business heard the user's 440 Hz tone (last 800 ms, level and frequency).
 */
export function assertTonesBothWays(
  call: {
    recordingStats(o: { expectHz?: number; lastMs?: number }): {
      levelDbfs: number;
      frequencyHz?: number;
    };
  },
  business: BusinessEar,
): void {
  const heardByUser = call.recordingStats({ expectHz: 1000, lastMs: 800 });
  assert.ok(heardByUser.levelDbfs > -30, `user heard ${heardByUser.levelDbfs} dBFS`);
  assert.ok(
    Math.abs((heardByUser.frequencyHz ?? 0) - 1000) < 30,
    `user heard ${heardByUser.frequencyHz} Hz`,
  );
  const pcm = business.pcm();
  const heardByBusiness = analyseTone(
    pcm.subarray(Math.max(0, pcm.length - 48000 * 0.8)),
    48000,
    440,
  );
  assert.ok(heardByBusiness.levelDbfs > -30, `business heard ${heardByBusiness.levelDbfs} dBFS`);
  assert.ok(
    Math.abs(heardByBusiness.frequencyHz - 440) < 20,
    `business heard ${heardByBusiness.frequencyHz} Hz`,
  );
}
