import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AudioFrame,
  AudioSource,
  AudioStream,
  LocalAudioTrack,
  Room,
  RoomEvent,
  TrackKind,
  TrackPublishOptions,
  TrackSource,
  type RemoteParticipant,
  type RemoteTrack,
} from '@livekit/rtc-node';
import { AccessToken, ConnectorClient } from 'livekit-server-sdk';
import { loadConfig, type Config } from '../../../src/config/index.js';
import { createLogger } from '../../../src/log/index.js';
import assert from 'node:assert/strict';
import {
  ToneGenerator,
  concatPcm,
  dominantFrequency,
  rmsDbfs,
  windowedToneShare,
} from '../../../src/media/tone.js';
import {
  ConnectorServer,
  type ConnectorServerOptions,
} from '../../../src/server/connector-server.js';
import {
  WhatsAppSimulator,
  type SimulatedCall,
  type WhatsAppSimulatorOptions,
} from '../../../src/simulator/index.js';
import { SessionDescription } from '@livekit/protocol';
import { startLiveKitServer, type LiveKitServerHandle } from '../../../testbed/livekit-server.js';

/** Everything a call needs, real: livekit-server, the simulator as Meta, and our service. */
export interface Bridge {
  lk: LiveKitServerHandle;
  simulator: WhatsAppSimulator;
  server: ConnectorServer;
  config: Config;
  /** The official Node SDK client pointed at our service. */
  client: ConnectorClient;
  connectorUrl: string;
  accessToken: string;
  phoneNumberId: string;
  stop(): Promise<void>;
}

export interface BridgeOptions {
  env?: Record<string, string>;
  simulator?: WhatsAppSimulatorOptions;
  /** Graph client settings of the connector (shorter timeouts to exercise Meta timing out). */
  graph?: ConnectorServerOptions['graph'];
  /** How the connector retries ending calls at Meta. */
  metaEndRetry?: ConnectorServerOptions['metaEndRetry'];
  /** The livekit-server URL the connector uses (e.g. a proxy a test can cut). Default its own. */
  liveKitUrl?: (lk: LiveKitServerHandle) => Promise<string>;
}

export async function startBridge(options: BridgeOptions = {}): Promise<Bridge> {
  const lk = await startLiveKitServer();
  const accessToken = 'test-meta-access-token';
  const simulator = await WhatsAppSimulator.start({
    accessToken,
    appSecret: 'test-app-secret',
    ...options.simulator,
    timing: { connectWebhookDelayMs: 50, ringingDelayMs: 50, ...options.simulator?.timing },
  });
  const config = loadConfig({
    env: {
      LIVEKIT_URL: options.liveKitUrl ? await options.liveKitUrl(lk) : lk.wsUrl,
      LIVEKIT_API_KEY: lk.apiKey,
      LIVEKIT_API_SECRET: lk.apiSecret,
      WHATSAPP_GRAPH_URL: simulator.graphUrl,
      MEDIA_ICE_ADDRESSES: '127.0.0.1',
      CALL_MEDIA_TIMEOUT_SECONDS: '2',
      LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
      // Admission control measures this process, which in tests also runs the test's own room
      // listeners and simulator: a loaded test machine must not refuse calls. Tests of admission
      // control turn it on.
      ADMISSION_CONTROL: 'false',
      // Each bridge its own state store (the directory is locked by the process using it).
      STATE_DIR: mkdtempSync(join(tmpdir(), 'wac-state-')),
      ...options.env,
    },
    overrides: { port: 0, bindAddress: '127.0.0.1' },
  });
  const server = new ConnectorServer({
    config,
    logger: createLogger({ level: config.logLevel }),
    ...(options.graph ? { graph: options.graph } : {}),
    ...(options.metaEndRetry ? { metaEndRetry: options.metaEndRetry } : {}),
  });
  const port = await server.start();
  const connectorUrl = `http://127.0.0.1:${port}`;
  return {
    lk,
    simulator,
    server,
    config,
    client: new ConnectorClient(connectorUrl, lk.apiKey, lk.apiSecret),
    connectorUrl,
    accessToken,
    phoneNumberId: simulator.defaultPhoneNumberId,
    async stop() {
      await server.close();
      await simulator.close();
      await lk.stop();
    },
  };
}

/** A plain room participant that listens to the connector's track and can speak a tone. */
export class RoomListener {
  readonly room = new Room();
  private readonly chunks: Int16Array[] = [];
  private speaking = false;
  private sender: Promise<void> | undefined;
  connector: RemoteParticipant | undefined;
  readonly sampleRate = 48_000;
  private readonly trackArrived: Promise<RemoteTrack>;

  constructor() {
    this.trackArrived = new Promise((resolve) => {
      this.room.on(RoomEvent.TrackSubscribed, (track, _pub, participant) => {
        if (track.kind !== TrackKind.KIND_AUDIO) return;
        this.connector = participant;
        resolve(track);
      });
    });
  }

  static async join(
    lk: LiveKitServerHandle,
    roomName: string,
    identity = 'listener',
  ): Promise<RoomListener> {
    const listener = new RoomListener();
    const token = new AccessToken(lk.apiKey, lk.apiSecret, { identity });
    token.addGrant({
      roomJoin: true,
      room: roomName,
      canSubscribe: true,
      canPublish: true,
      canPublishData: true,
    });
    await listener.room.connect(lk.wsUrl, await token.toJwt(), {
      autoSubscribe: true,
      dynacast: false,
    });
    // A track released before its subscription event is handled cannot be opened (rtc-node's
    // event queue): nothing is recorded, which the audio assertions that need it catch.
    listener.record().catch(() => {});
    return listener;
  }

  private async record(): Promise<void> {
    const track = await this.trackArrived;
    const stream = new AudioStream(track, { sampleRate: this.sampleRate, numChannels: 1 });
    for await (const frame of stream) {
      this.chunks.push(new Int16Array(frame.data));
    }
  }

  /** Wait until the connector's audio track is subscribed. */
  async waitForConnectorTrack(): Promise<RemoteParticipant> {
    await this.trackArrived;
    return this.connector!;
  }

  /** PCM heard from the connector during the last `ms` milliseconds. */
  heard(ms: number): Int16Array {
    const pcm = concatPcm(this.chunks);
    return pcm.subarray(Math.max(0, pcm.length - Math.round((ms * this.sampleRate) / 1000)));
  }

  /** Publish a continuous tone until `stopSpeaking()`. */
  async speak(frequencyHz: number, name = 'listener-voice'): Promise<void> {
    const source = new AudioSource(this.sampleRate, 1, 100);
    const track = LocalAudioTrack.createAudioTrack(name, source);
    const opts = new TrackPublishOptions();
    opts.source = TrackSource.SOURCE_MICROPHONE;
    await this.room.localParticipant!.publishTrack(track, opts);
    const tone = new ToneGenerator(frequencyHz, this.sampleRate, 0.3);
    this.speaking = true;
    this.sender = (async () => {
      while (this.speaking) {
        await source.captureFrame(new AudioFrame(tone.next(480), this.sampleRate, 1, 480));
      }
      await source.close();
    })();
  }

  async close(): Promise<void> {
    this.speaking = false;
    await this.sender;
    await this.room.disconnect();
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Poll `check` until it returns a truthy value or `timeoutMs` passes. */
export async function eventually<T>(
  check: () => T | Promise<T>,
  timeoutMs = 10_000,
  what = 'condition',
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await sleep(100);
  }
}

/**
 * Assert that `pcm` carries the tone `hz`: it is the dominant frequency, loud enough (> −25 dBFS
 * for a −13.5 dBFS source) and tonal in 100 ms windows (share > 0.8: no long gaps or noise).
 */
export function assertTone(pcm: Int16Array, sampleRate: number, hz: number, where: string): void {
  const peak = dominantFrequency(pcm, sampleRate);
  const level = rmsDbfs(pcm);
  const share = windowedToneShare(pcm, sampleRate, hz);
  const desc = `${where}: peak ${peak} Hz, level ${level.toFixed(1)} dBFS, tone share ${share.toFixed(2)}`;
  assert.ok(Math.abs(peak - hz) <= 10, desc);
  assert.ok(level > -25, desc);
  assert.ok(share > 0.8, desc);
}

/** Call a Connector method with plain Twirp JSON (for fields an SDK method does not expose). */
export function twirpJson(
  bridge: Bridge,
  method: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: Record<string, unknown> }> {
  return postTwirpJson(bridge.connectorUrl, bridge.lk, method, body, headers);
}

/**
 * POST a Connector method as Twirp JSON to `baseUrl`, with a roomCreate token of `keys`; `headers`
 * adds e.g. `X-Livekit-Request-Id`.
 */
export async function postTwirpJson(
  baseUrl: string,
  keys: { apiKey: string; apiSecret: string },
  method: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: Record<string, unknown> }> {
  const token = new AccessToken(keys.apiKey, keys.apiSecret);
  token.addGrant({ roomCreate: true });
  const res = await fetch(`${baseUrl}/twirp/livekit.Connector/${method}`, {
    method: 'POST',
    headers: {
      'Content-Type': 'application/json',
      Authorization: `Bearer ${await token.toJwt()}`,
      ...headers,
    },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

export interface InboundCall {
  userCall: SimulatedCall;
  roomName: string;
  listener: RoomListener;
}

/** A user calls with a tone; a listener is in the room; the call is accepted through the Node SDK. */
export async function acceptInboundCall(
  bridge: Bridge,
  options: { toneHz?: number; identity?: string } = {},
): Promise<InboundCall> {
  const userCall = await bridge.simulator.placeUserCall({
    from: `1555${String(Math.floor(Math.random() * 1e7)).padStart(7, '0')}`,
    voice: options.toneHz ? { kind: 'tone', frequencyHz: options.toneHz } : { kind: 'silence' },
  });
  const roomName = `call-${Date.now()}-${Math.floor(Math.random() * 1e6)}`;
  const listener = await RoomListener.join(bridge.lk, roomName);
  await bridge.client.acceptWhatsAppCall({
    whatsappPhoneNumberId: bridge.phoneNumberId,
    whatsappApiKey: bridge.accessToken,
    whatsappCloudApiVersion: '24.0',
    whatsappCallId: userCall.id,
    sdp: new SessionDescription({ type: 'offer', sdp: userCall.metaSdp }),
    roomName,
    participantIdentity: options.identity ?? 'wa-caller',
    waitUntilAnswered: true,
  });
  await listener.waitForConnectorTrack();
  return { userCall, roomName, listener };
}

/**
 * Fraction of 20 ms frames of `pcm` that are not holes (RMS above −25 dBFS, for a −13.5 dBFS
 * source): 1.0 is unbroken audio; lost packets that were not concealed show up as holes.
 */
export function audibleFrameFraction(pcm: Int16Array, sampleRate: number): number {
  const size = Math.round(sampleRate / 50);
  let good = 0;
  let total = 0;
  for (let off = 0; off + size <= pcm.length; off += size) {
    total++;
    if (rmsDbfs(pcm.subarray(off, off + size)) > -25) good++;
  }
  return total === 0 ? 0 : good / total;
}
