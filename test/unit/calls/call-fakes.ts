/**
 * In-memory stand-ins for what a call talks to — the media leg to Meta, the room leg, Meta's
 * Graph API — so the call objects' races can be driven step by step under fake timers. Each fake
 * records what the call did to it; scripted outcomes decide how the "other side" answers.
 */
import type {
  GraphCallsPort,
  MediaLegPort,
  MediaLegPortEvents,
  RoomJoiner,
  RoomDataMessage,
  RoomLegPort,
  RoomLegPortEvents,
} from '../../../src/calls/call-ports.js';
import type { CallEndReason } from '../../../src/calls/call-end-reason.js';
import type { AcceptParams, DialParams } from '../../../src/calls/call-params.js';
import type { CallDependencies, CallSettings } from '../../../src/calls/whatsapp-call.js';
import { silentLogger } from '../../../src/log/index.js';
import type { RoomLegOptions } from '../../../src/room/room-leg.js';
import { SafeEventEmitter } from '../../../src/util/typed-emitter.js';
import { GraphApiError } from '../../../src/whatsapp/graph-api-error.js';
import { GraphTransportError } from '../../../src/whatsapp/graph-transport-error.js';

/** A promise with its resolve/reject exposed. */
export interface Deferred<T> {
  promise: Promise<T>;
  resolve: (value: T) => void;
  reject: (err: unknown) => void;
}

export function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Let pending promise callbacks run (timers are fake; setImmediate is real). */
export async function flush(rounds = 5): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise((resolve) => setImmediate(resolve));
}

export const FRAME = new Int16Array(320);

/** The WebRTC leg to Meta: connects when told, counts RTP when told. */
export class FakeMediaLeg extends SafeEventEmitter<MediaLegPortEvents> implements MediaLegPort {
  state = 'new';
  packetsReceived = 0;
  readonly answersApplied: string[] = [];
  readonly audioSent: Int16Array[] = [];
  readonly dtmfSent: string[] = [];
  closeCalls = 0;
  /** Make `createAnswer` reject (an offer the leg cannot use). */
  rejectOffer = false;

  async createOffer(): Promise<string> {
    this.state = 'connecting';
    return 'v=0 fake-offer';
  }

  async createAnswer(offer: string): Promise<string> {
    if (this.rejectOffer) throw new Error(`no usable audio in ${offer}`);
    this.state = 'connecting';
    return 'v=0 fake-answer';
  }

  async setRemoteAnswer(sdp: string): Promise<void> {
    if (sdp.includes('unusable')) throw new Error('remote SDP answer rejected');
    this.answersApplied.push(sdp);
  }

  stats(): { packetsReceived: number } {
    return { packetsReceived: this.packetsReceived };
  }

  sendAudio(pcm: Int16Array): void {
    this.audioSent.push(pcm);
  }

  sendDtmf(digit: string): void {
    this.dtmfSent.push(digit);
  }

  readonly opusSent: { payload: Uint8Array }[] = [];
  source: 'pcm' | 'opus' = 'pcm';
  pcmOutput = true;

  sendOpus(packet: { payload: Uint8Array }): void {
    this.opusSent.push(packet);
  }

  selectAudioSource(source: 'pcm' | 'opus'): void {
    this.source = source;
  }

  setPcmOutput(enabled: boolean): void {
    this.pcmOutput = enabled;
  }

  async close(): Promise<void> {
    this.closeCalls++;
    this.end('closed');
  }

  /** ICE and DTLS came up. */
  connect(): void {
    this.state = 'connected';
    this.emit('connected');
  }

  /** `packets` RTP packets from Meta, the last one handed out as Opus. */
  receive(packets = 1): void {
    this.packetsReceived += packets;
    this.emit('opus', {
      payload: Uint8Array.of(0xf8, 0xff, 0xfe),
      sequenceNumber: this.packetsReceived & 0xffff,
      timestamp: (this.packetsReceived * 960) >>> 0,
      ssrc: 1,
      marker: false,
    });
  }

  /** The transport closed on its own (`peer-closed`: Meta closed DTLS). */
  end(reason: string): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.emit('closed', reason);
  }
}

/** The LiveKit leg: records attributes and how it was left. */
export class FakeRoomLeg extends SafeEventEmitter<RoomLegPortEvents> implements RoomLegPort {
  readonly attributeUpdates: Record<string, string>[] = [];
  readonly attributes: Record<string, string> = {};
  callerFrames = 0;
  audioMode: 'passthrough' | 'mixing' = 'passthrough';
  /** Every setRingback call, in order. */
  readonly ringback: boolean[] = [];
  closedWith: CallEndReason | 'not closed' | undefined = 'not closed';
  /** Set by a test to let the leg send data packets. */
  sendData?: RoomLegPort['sendData'];

  constructor(readonly options: RoomLegOptions) {
    super();
    Object.assign(this.attributes, options.attributes);
  }

  pushCallerAudio(): void {
    this.callerFrames++;
  }

  pushCallerOpus(): void {
    this.callerFrames++;
  }

  setRingback(on: boolean): void {
    if (this.ringback.at(-1) !== on) this.ringback.push(on);
  }

  /** The room switched between forwarding one speaker and mixing. */
  switchAudio(mode: 'passthrough' | 'mixing'): void {
    this.audioMode = mode;
    this.emit('audioMode', mode);
  }

  /** One Opus packet of the only speaker. */
  agentOpus(sequenceNumber: number, payload = Uint8Array.of(0xf8, 0xff, 0xfe)): void {
    this.emit('opus', { payload, sequenceNumber, marker: false });
  }

  async sendDtmf(): Promise<void> {}

  async setAttributes(attributes: Record<string, string>): Promise<void> {
    this.attributeUpdates.push(attributes);
    Object.assign(this.attributes, attributes);
  }

  async close(reason?: CallEndReason): Promise<void> {
    if (this.closedWith === 'not closed') this.closedWith = reason;
  }

  get closed(): boolean {
    return this.closedWith !== 'not closed';
  }

  /** The room's mix of the other participants. */
  mix(pcm: Int16Array): void {
    this.emit('audio', pcm);
  }

  /** A participant sent a DTMF digit into the room. */
  dtmf(digit: string): void {
    this.emit('dtmf', digit, 'agent');
  }

  /** A participant sent a data packet into the room. */
  data(message: RoomDataMessage): void {
    this.emit('data', message);
  }

  /** The room side ended the leg. */
  disconnect(reason: string): void {
    this.emit('disconnected', reason, 0);
  }
}

/** Joins rooms with fake legs; `hold()` makes the next join wait until the test lets it go. */
export class FakeRooms {
  readonly legs: FakeRoomLeg[] = [];
  private held: Deferred<void> | undefined;
  private failure: Error | undefined;

  readonly join: RoomJoiner = async (options) => {
    const held = this.held;
    this.held = undefined;
    if (held) await held.promise;
    if (this.failure) throw this.failure;
    const leg = new FakeRoomLeg(options);
    this.legs.push(leg);
    return leg;
  };

  hold(): Deferred<void> {
    this.held = deferred();
    return this.held;
  }

  failWith(err: Error): void {
    this.failure = err;
  }

  get last(): FakeRoomLeg | undefined {
    return this.legs.at(-1);
  }
}

type GraphAction = 'connect' | 'pre_accept' | 'accept' | 'reject' | 'terminate';
type Behaviour = 'ok' | Error | Deferred<unknown>;

/** One request the call sent to Meta. */
export interface GraphRequestSeen {
  action: GraphAction;
  callId: string | undefined;
  accessToken: string | undefined;
}

/**
 * Meta's Graph API: answers success unless a behaviour was scripted for the action (`script`):
 * an error to reject with, or a deferred the test settles.
 */
export class FakeGraph implements GraphCallsPort {
  readonly requests: GraphRequestSeen[] = [];
  private readonly scripts = new Map<GraphAction, Behaviour[]>();
  connectedCallId = 'wacid.fake-outbound';

  script(action: GraphAction, ...behaviours: Behaviour[]): void {
    this.scripts.set(action, [...(this.scripts.get(action) ?? []), ...behaviours]);
  }

  actions(): GraphAction[] {
    return this.requests.map((r) => r.action);
  }

  private async run<T>(
    action: GraphAction,
    request: { callId?: string; accessToken?: string; signal?: AbortSignal },
    value: T,
  ): Promise<T> {
    this.requests.push({ action, callId: request.callId, accessToken: request.accessToken });
    const behaviour = this.scripts.get(action)?.shift();
    if (behaviour === undefined || behaviour === 'ok') return value;
    if (behaviour instanceof Error) throw behaviour;
    // A held request gives up when its caller aborts, as the Graph client does.
    const signal = request.signal;
    await Promise.race([
      behaviour.promise,
      new Promise((_, reject) => {
        const abort = () =>
          reject(
            new GraphTransportError('aborted', 'aborted by caller', {
              operation: `calls.${action}`,
              attempts: 1,
              outcomeUnknown: true,
            }),
          );
        if (signal?.aborted) abort();
        signal?.addEventListener('abort', abort, { once: true });
      }),
    ]);
    return value;
  }

  connectCall(request: Parameters<GraphCallsPort['connectCall']>[0]) {
    return this.run('connect', request, { callId: this.connectedCallId });
  }

  preAcceptCall(request: Parameters<GraphCallsPort['preAcceptCall']>[0]) {
    return this.run('pre_accept', request, undefined);
  }

  acceptCall(request: Parameters<GraphCallsPort['acceptCall']>[0]) {
    return this.run('accept', request, undefined);
  }

  rejectCall(request: Parameters<GraphCallsPort['rejectCall']>[0]) {
    return this.run('reject', request, undefined);
  }

  terminateCall(request: Parameters<GraphCallsPort['terminateCall']>[0]) {
    return this.run('terminate', request, undefined);
  }
}

/** Meta refused on the first try (nothing was applied). */
export function metaRefusal(code = 100, status = 400): GraphApiError {
  return new GraphApiError(
    { code, message: `(#${code}) refused` },
    { status, operation: 'calls.x', attempts: 1, afterUncertainAttempt: false },
  );
}

/** Meta refused, but only after an attempt whose outcome is unknown (it may have applied it). */
export function refusalAfterTimeout(code = 100): GraphApiError {
  return new GraphApiError(
    { code, message: `(#${code}) the call is active` },
    { status: 400, operation: 'calls.x', attempts: 2, afterUncertainAttempt: true },
  );
}

/** No answer from Meta: the request may or may not have been applied. */
export function metaTimeout(): GraphTransportError {
  return new GraphTransportError('retries_exhausted', 'no answer from Meta', {
    operation: 'calls.x',
    attempts: 4,
    outcomeUnknown: true,
  });
}

export const TEST_SETTINGS: CallSettings = {
  livekit: { url: 'ws://127.0.0.1:1', apiKey: 'key', apiSecret: 'secret' },
  sampleRate: 16_000,
  hidePhoneNumber: false,
  mediaTimeoutMs: 2000,
  maxDurationMs: 0,
  metaEndRetry: { initialDelayMs: 1000, maxDelayMs: 4000, giveUpAfterMs: 60_000 },
};

/** Everything a call is built from, as fakes. */
export interface CallBed {
  media: FakeMediaLeg;
  rooms: FakeRooms;
  graph: FakeGraph;
  deps: CallDependencies;
}

export function callBed(settings: Partial<CallSettings> = {}): CallBed {
  const media = new FakeMediaLeg();
  const rooms = new FakeRooms();
  const graph = new FakeGraph();
  return {
    media,
    rooms,
    graph,
    deps: {
      settings: { ...TEST_SETTINGS, ...settings },
      graph,
      joinRoom: rooms.join,
      media,
      logger: silentLogger,
    },
  };
}

const META = { phoneNumberId: '106540352242922', accessToken: 'EAAB-secret', apiVersion: '24.0' };

const PARTICIPANT = {
  roomName: 'room-1',
  identity: 'wa-user',
  name: '',
  metadata: '',
  attributes: { tier: 'gold' },
  agents: [],
};

export function acceptParams(overrides: Partial<AcceptParams> = {}): AcceptParams {
  return {
    meta: META,
    callId: 'wacid.fake-inbound',
    offerSdp: 'v=0 meta-offer',
    participant: { ...PARTICIPANT },
    caller: { phoneNumber: '15551230001' },
    ringingTimeoutMs: 30_000,
    waitUntilAnswered: false,
    ...overrides,
  };
}

export function dialParams(overrides: Partial<DialParams> = {}): DialParams {
  return {
    meta: META,
    to: { phoneNumber: '15551230002' },
    participant: { ...PARTICIPANT },
    ringingTimeoutMs: 30_000,
    ...overrides,
  };
}
