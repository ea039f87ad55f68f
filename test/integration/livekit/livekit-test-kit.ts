/**
 * Helpers for the LiveKit participant's integration tests: tokens, an rtc-node participant that
 * speaks a tone and listens, an Opus tone writer for our local track, a decoder for received
 * RTP, and a TCP proxy in front of livekit-server that a test can cut.
 */
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { Decoder, Encoder } from '@evan/opus';
import {
  AudioFrame,
  AudioSource,
  AudioStream,
  LocalAudioTrack as RtcLocalAudioTrack,
  Room,
  RoomEvent,
  TrackKind,
  TrackPublishOptions,
  TrackSource,
  type RemoteParticipant as RtcRemoteParticipant,
  type RemoteTrack,
} from '@livekit/rtc-node';
import { AccessToken, type VideoGrant } from 'livekit-server-sdk';
import type { LiveKitServerHandle } from '../../../testbed/livekit-server.js';
import {
  ToneGenerator,
  analyseTone,
  concatPcm,
  type ToneAnalysis,
} from '../../../src/media/tone.js';
import type { LocalAudioTrack, RemoteAudioTrack } from '../../../src/livekit/index.js';

export const SAMPLE_RATE = 48_000;
const FRAME_SAMPLES = 960;

/** A room name no other test uses. */
export function uniqueRoom(prefix: string): string {
  return `${prefix}-${Date.now()}-${Math.floor(Math.random() * 1e6)}`;
}

/** A participant token for `room` (all publish/subscribe/data/metadata grants unless overridden). */
export async function participantToken(
  lk: LiveKitServerHandle,
  room: string,
  identity: string,
  options: { grant?: Partial<VideoGrant>; attributes?: Record<string, string>; name?: string } = {},
): Promise<string> {
  const token = new AccessToken(lk.apiKey, lk.apiSecret, {
    identity,
    ttl: '10m',
    ...(options.name ? { name: options.name } : {}),
    ...(options.attributes ? { attributes: options.attributes } : {}),
  });
  token.addGrant({
    roomJoin: true,
    room,
    canPublish: true,
    canSubscribe: true,
    canPublishData: true,
    canUpdateOwnMetadata: true,
    ...options.grant,
  });
  return token.toJwt();
}

/**
 * An rtc-node participant (the independent counterpart): publishes a continuous tone, records
 * what it hears per remote identity, and the DTMF, attribute and disconnect events it sees.
 */
export class RtcNodePeer {
  readonly room = new Room();
  readonly heard = new Map<string, Int16Array[]>();
  /** performance.now() of the first frame above silence per remote identity. */
  readonly firstHeardAt = new Map<string, number>();
  readonly dtmf: { code: number; digit: string; from: string | undefined }[] = [];
  readonly disconnected: { identity: string; reason: number | undefined }[] = [];
  readonly data: { payload: Uint8Array; topic: string | undefined; from: string | undefined }[] =
    [];
  #source: AudioSource | undefined;
  #speaking = false;
  #sender: Promise<void> | undefined;
  readonly #streams: AudioStream[] = [];

  static async join(
    lk: LiveKitServerHandle,
    room: string,
    identity: string,
    options: { attributes?: Record<string, string>; name?: string; toneHz?: number } = {},
  ): Promise<RtcNodePeer> {
    const peer = new RtcNodePeer();
    peer.room.on(RoomEvent.TrackSubscribed, (track, _publication, participant) =>
      peer.#listen(track, participant),
    );
    peer.room.on(RoomEvent.DtmfReceived, (code, digit, participant) =>
      peer.dtmf.push({ code, digit, from: participant?.identity }),
    );
    peer.room.on(RoomEvent.DataReceived, (payload, participant, _kind, topic) =>
      peer.data.push({ payload, topic, from: participant?.identity }),
    );
    peer.room.on(RoomEvent.ParticipantDisconnected, (participant) =>
      peer.disconnected.push({
        identity: participant.identity,
        reason: participant.disconnectReason,
      }),
    );
    await peer.room.connect(lk.wsUrl, await participantToken(lk, room, identity, options), {
      autoSubscribe: true,
      dynacast: false,
    });
    if (options.toneHz !== undefined) await peer.speak(options.toneHz);
    return peer;
  }

  /** Publish a microphone track playing a sine tone at `hz` (−10.5 dBFS). */
  async speak(hz: number): Promise<void> {
    const source = new AudioSource(SAMPLE_RATE, 1, 100);
    this.#source = source;
    const options = new TrackPublishOptions();
    options.source = TrackSource.SOURCE_MICROPHONE;
    await this.room.localParticipant!.publishTrack(
      RtcLocalAudioTrack.createAudioTrack(`tone-${hz}`, source),
      options,
    );
    this.#speaking = true;
    const tone = new ToneGenerator(hz, SAMPLE_RATE, 0.3);
    this.#sender = (async () => {
      while (this.#speaking) {
        // captureFrame paces itself on the source's queue (10 ms frames).
        await source
          .captureFrame(new AudioFrame(tone.next(480), SAMPLE_RATE, 1, 480))
          .catch(() => {});
      }
    })();
  }

  /** What was heard from `identity` in the last `seconds`. */
  recent(identity: string, seconds: number): Int16Array {
    const chunks = this.heard.get(identity) ?? [];
    const pcm = concatPcm(chunks);
    return pcm.subarray(Math.max(0, pcm.length - seconds * SAMPLE_RATE));
  }

  /** Tone analysis of the last `seconds` heard from `identity`. */
  analyse(identity: string, hz: number, seconds: number): ToneAnalysis {
    return analyseTone(this.recent(identity, seconds), SAMPLE_RATE, hz);
  }

  /**
   * Wait until rtc-node lists `identity`: it drops DTMF and data from participants it does not
   * know yet, and reports no disconnect for one it never saw.
   */
  async knows(identity: string): Promise<void> {
    await waitFor(
      () => this.room.remoteParticipants.has(identity),
      10_000,
      `rtc-node to see ${identity}`,
    );
  }

  /** Forget what was heard (to analyse only what comes next). */
  clearHeard(): void {
    this.heard.clear();
    this.firstHeardAt.clear();
  }

  async close(): Promise<void> {
    this.#speaking = false;
    await this.#sender;
    for (const stream of this.#streams) await stream.cancel().catch(() => {});
    await this.#source?.close().catch(() => {});
    await this.room.disconnect();
  }

  #listen(track: RemoteTrack, participant: RtcRemoteParticipant): void {
    if (track.kind !== TrackKind.KIND_AUDIO) return;
    let stream: AudioStream;
    try {
      stream = new AudioStream(track, { sampleRate: SAMPLE_RATE, numChannels: 1 });
    } catch {
      // Released before rtc-node's queued TrackSubscribed reached us (a participant that left at
      // once, or this room closing): nothing to hear, which assertions on `heard` catch.
      return;
    }
    this.#streams.push(stream);
    const identity = participant.identity;
    void (async () => {
      for await (const frame of stream) {
        const pcm = new Int16Array(frame.data);
        const chunks = this.heard.get(identity) ?? [];
        chunks.push(pcm);
        // Keep the last 10 s.
        if (chunks.length > 1000) chunks.shift();
        this.heard.set(identity, chunks);
        if (!this.firstHeardAt.has(identity) && energy(pcm) > 1e5) {
          this.firstHeardAt.set(identity, performance.now());
        }
      }
    })().catch(() => {});
  }
}

function energy(pcm: Int16Array): number {
  let sum = 0;
  for (const v of pcm) sum += v * v;
  return sum / Math.max(1, pcm.length);
}

/**
 * Feeds a local track with an Opus-encoded tone every 20 ms: the RTP timestamp advances by 960
 * per frame, as a forwarder of a real stream would.
 */
export class OpusToneWriter {
  readonly #encoder = new Encoder({ channels: 1, sample_rate: SAMPLE_RATE, application: 'voip' });
  readonly #tone: ToneGenerator;
  #timer: NodeJS.Timeout | undefined;
  #timestamp = 0;
  /** performance.now() of the first packet the track accepted. */
  firstSentAt: number | undefined;
  written = 0;
  accepted = 0;

  constructor(
    readonly track: LocalAudioTrack,
    hz: number,
  ) {
    this.#tone = new ToneGenerator(hz, SAMPLE_RATE, 0.3);
    this.#encoder.bitrate = 32_000;
  }

  start(): this {
    this.#timer = setInterval(() => this.#write(), 20);
    return this;
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #write(): void {
    const payload = this.#encoder.encode(this.#tone.next(FRAME_SAMPLES));
    this.written += 1;
    if (this.track.writeRtp({ payload, timestamp: this.#timestamp })) {
      this.accepted += 1;
      this.firstSentAt ??= performance.now();
    }
    this.#timestamp = (this.#timestamp + FRAME_SAMPLES) >>> 0;
  }
}

/** Decodes a remote track's Opus RTP to PCM for analysis. */
export class RtpToneReceiver {
  readonly #decoder = new Decoder({ channels: 1, sample_rate: SAMPLE_RATE });
  readonly #chunks: Int16Array[] = [];
  packets = 0;
  decodeErrors = 0;
  payloadTypes = new Set<number>();

  constructor(track: RemoteAudioTrack) {
    track.on('rtp', (packet) => {
      this.packets += 1;
      this.payloadTypes.add(packet.header.payloadType);
      try {
        const bytes = this.#decoder.decode(packet.payload);
        this.#chunks.push(
          Int16Array.from(new Int16Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 2)),
        );
        if (this.#chunks.length > 500) this.#chunks.shift();
      } catch {
        this.decodeErrors += 1;
      }
    });
  }

  /** Analysis of the last `seconds` decoded. */
  analyse(expectedHz: number, seconds = 1): ToneAnalysis {
    const pcm = concatPcm(this.#chunks);
    return analyseTone(
      pcm.subarray(Math.max(0, pcm.length - seconds * SAMPLE_RATE)),
      SAMPLE_RATE,
      expectedHz,
    );
  }

  clear(): void {
    this.#chunks.length = 0;
    this.packets = 0;
  }
}

/** A tone heard cleanly: right frequency, plausible level (−10.5 dBFS sent), mostly tone. */
export function assertTone(analysis: ToneAnalysis, hz: number, what: string): void {
  const ok =
    Math.abs(analysis.frequencyHz - hz) <= 10 &&
    analysis.levelDbfs > -20 &&
    analysis.levelDbfs < -6 &&
    analysis.toneShare > 0.8;
  if (!ok) {
    throw new Error(
      `${what}: expected a ${hz} Hz tone, got ${analysis.frequencyHz} Hz at ${analysis.levelDbfs.toFixed(1)} dBFS, tone share ${analysis.toneShare.toFixed(2)}`,
    );
  }
}

/** Poll `check` every 50 ms until it holds, or fail after `timeoutMs` with `what`. */
export async function waitFor(
  check: () => boolean,
  timeoutMs: number,
  what: string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * A TCP proxy in front of livekit-server's HTTP/WebSocket port. `cut()` breaks every connection
 * through it (as a network failure would); `rejectPath` answers upgrades to that path with 404
 * (a server that does not know the endpoint).
 */
export class TcpProxy {
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  connections = 0;
  port = 0;

  private constructor(
    readonly targetPort: number,
    readonly rejectPath: string | undefined,
  ) {
    this.#server = createServer((client) => this.#accept(client));
  }

  static async start(targetPort: number, options: { rejectPath?: string } = {}): Promise<TcpProxy> {
    const proxy = new TcpProxy(targetPort, options.rejectPath);
    await new Promise<void>((resolve) => proxy.#server.listen(0, '127.0.0.1', resolve));
    const address = proxy.#server.address();
    proxy.port = typeof address === 'object' && address ? address.port : 0;
    return proxy;
  }

  get url(): string {
    return `ws://127.0.0.1:${this.port}`;
  }

  /** Destroy every open connection (new ones are accepted). */
  cut(): void {
    for (const socket of this.#sockets) socket.destroy();
    this.#sockets.clear();
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #accept(client: Socket): void {
    this.connections += 1;
    this.#sockets.add(client);
    client.on('close', () => this.#sockets.delete(client));
    client.on('error', () => {});
    client.once('data', (head) => {
      const requestLine = head.toString('latin1').split('\r\n', 1)[0] ?? '';
      const path = requestLine.split(' ')[1]?.split('?')[0];
      if (this.rejectPath !== undefined && path === this.rejectPath) {
        client.end(
          'HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\nConnection: close\r\n\r\nnot found',
        );
        return;
      }
      const upstream = createConnection({ host: '127.0.0.1', port: this.targetPort });
      this.#sockets.add(upstream);
      upstream.on('close', () => {
        this.#sockets.delete(upstream);
        client.destroy();
      });
      upstream.on('error', () => client.destroy());
      client.on('close', () => upstream.destroy());
      upstream.write(head);
      client.pipe(upstream);
      upstream.pipe(client);
    });
  }
}
