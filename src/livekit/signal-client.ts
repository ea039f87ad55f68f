import type { JoinResponse, ReconnectResponse } from '@livekit/protocol';
import {
  DisconnectReason,
  LeaveRequest,
  LeaveRequest_Action,
  Ping,
  SignalRequest,
  SignalResponse,
} from '@livekit/protocol';
import type { Logger } from '../log/index.js';
import { SafeEventEmitter, logListenerErrors } from '../util/typed-emitter.js';
import { LiveKitError } from './livekit-errors.js';
import type { SignalSocket, SignalSocketFactory } from './signal-socket.js';
import { buildSignalUrl, redactSignalUrl, type SignalUrlParams } from './signal-url.js';

/** A request we can send, as the `message` oneof of SignalRequest. */
export type SignalRequestMessage = Exclude<SignalRequest['message'], { case: undefined }>;
type ResponseMessage = Exclude<SignalResponse['message'], { case: undefined }>;
export type SignalResponseCase = ResponseMessage['case'];

/** One event per SignalResponse case, carrying that case's value. */
export type SignalResponseEvents = {
  [K in SignalResponseCase]: [value: Extract<ResponseMessage, { case: K }>['value']];
};

export type SignalClientEvents = SignalResponseEvents & {
  /**
   * The live socket closed, broke, or stopped answering pings. The client is then
   * `reconnecting`: requests queue until {@link SignalClient.markReady}. Reason is for logs.
   */
  lost: [reason: string];
};

/**
 * - `idle`: never connected.
 * - `connecting`: first join in flight; nothing can be sent yet.
 * - `connected`: requests go out at once.
 * - `reconnecting`: the socket was lost, or a resume/re-join is in flight, or done but the media
 *   path is not back yet; requests (other than negotiation, pings and leave) queue.
 * - `closed`: final.
 */
export type SignalState = 'idle' | 'connecting' | 'connected' | 'reconnecting' | 'closed';

/** Outcome of {@link SignalClient.resume}. */
export type ResumeOutcome =
  /** Session resumed; `response` is absent when the server sent another message first. */
  | { resumed: true; response: ReconnectResponse | undefined }
  /** The server answered with a LeaveRequest: `action` says whether a full reconnect may work. */
  | { resumed: false; leave: LeaveRequest };

/**
 * Requests that belong to the socket they are sent on, never queued: negotiation and ICE of the
 * current attempt, state sync, pings and leave (as client-sdk-js's pass-through list).
 */
const PASS_THROUGH: ReadonlySet<SignalRequestMessage['case']> = new Set([
  'offer',
  'answer',
  'trickle',
  'syncState',
  'leave',
  'ping',
  'pingReq',
  'simulate',
]);

/** Bound on requests queued while reconnecting (a runaway caller must not grow it forever). */
const MAX_QUEUED_REQUESTS = 256;

export interface SignalClientOptions {
  /** Opens the WebSocket. */
  socketFactory: SignalSocketFactory;
  /** WebSocket upgrade plus first message, in milliseconds. */
  connectTimeoutMs: number;
  logger?: Logger | undefined;
}

/**
 * LiveKit's signal channel (livekit_rtc.proto over a WebSocket): join and resume handshakes, the
 * request queue while reconnecting, ping/pong with timeout, and one typed event per server
 * message. It does not decide what to do when the socket is lost; the engine does.
 */
export class SignalClient extends SafeEventEmitter<SignalClientEvents> {
  #state: SignalState = 'idle';
  /** The socket whose handshake completed; messages and losses of others are ignored. */
  #live: SignalSocket | undefined;
  /** A socket still in its handshake (closed if the client is closed meanwhile). */
  #pending: SignalSocket | undefined;
  #queue: SignalRequestMessage[] = [];
  #pingIntervalMs = 0;
  #pingTimeoutMs = 0;
  #pingTimer: NodeJS.Timeout | undefined;
  #pongDeadline: NodeJS.Timeout | undefined;
  #rttMs = 0;
  readonly #log: Logger | undefined;

  constructor(private readonly options: SignalClientOptions) {
    super(logListenerErrors(options.logger, 'signal event listener threw'));
    this.#log = options.logger;
  }

  get state(): SignalState {
    return this.#state;
  }

  /** Round-trip time of the last ping, in milliseconds (0 before the first pong). */
  get rttMs(): number {
    return this.#rttMs;
  }

  /** Requests waiting for the connection to come back. */
  get queuedRequests(): number {
    return this.#queue.length;
  }

  /**
   * Open a new session (first join, or a full reconnect: any current socket is dropped without
   * a `lost` event). Resolves with the JoinResponse; the client is then `connected` for a first
   * join, and stays `reconnecting` for a re-join until {@link markReady}.
   */
  async join(
    params: Omit<SignalUrlParams, 'resume'>,
    onJoin?: (join: JoinResponse) => void,
  ): Promise<JoinResponse> {
    this.#assertOpen();
    const rejoin = this.#state !== 'idle';
    this.#dropLive();
    this.#state = rejoin ? 'reconnecting' : 'connecting';
    let opened: Handshake;
    try {
      opened = await this.#open({ ...params, resume: undefined });
    } catch (err) {
      this.#failHandshake(rejoin);
      throw err;
    }
    const { socket, first } = opened;
    if (first.case === 'join') {
      this.#pingIntervalMs = first.value.pingInterval * 1000;
      this.#pingTimeoutMs = first.value.pingTimeout * 1000;
      if (!rejoin) this.#state = 'connected';
      // Set-up that later messages depend on (e.g. the subscriber peer connection the server's
      // first offer is for) runs before any of them is dispatched, with the socket live.
      this.#goLive(opened, () => onJoin?.(first.value));
      return first.value;
    }
    socket.close();
    this.#failHandshake(rejoin);
    if (first.case === 'leave') throw leftError(first.value, 'join');
    throw new LiveKitError('protocol', `expected a join response, got ${first.case}`);
  }

  /**
   * Resume the session on a new socket (`reconnect=1`). Resolves with the outcome; the client
   * stays `reconnecting` until {@link markReady}. Rejects on transport errors (retryable).
   */
  async resume(params: SignalUrlParams & { resume: NonNullable<SignalUrlParams['resume']> }) {
    this.#assertOpen();
    this.#dropLive();
    this.#state = 'reconnecting';
    const opened = await this.#open(params);
    const { socket, first } = opened;
    if (first.case === 'leave') {
      socket.close();
      return { resumed: false, leave: first.value } satisfies ResumeOutcome;
    }
    if (first.case === 'reconnect') {
      this.#goLive(opened);
      return { resumed: true, response: first.value } satisfies ResumeOutcome;
    }
    // Servers that skip the ReconnectResponse send their next message instead; that message
    // still counts (client-sdk-js declares the signal reconnected and processes it).
    opened.rest.unshift(first);
    this.#goLive(opened);
    return { resumed: true, response: undefined } satisfies ResumeOutcome;
  }

  /** The media path is back: flush the queued requests in order and send directly again. */
  markReady(): void {
    if (this.#state === 'closed' || !this.#live) return;
    this.#state = 'connected';
    const queued = this.#queue.splice(0);
    for (const message of queued) this.#write(message);
  }

  /**
   * Send a request. While reconnecting it is queued (pass-through requests go to the current
   * socket, or are dropped when there is none: they belong to a negotiation that is over).
   */
  send(message: SignalRequestMessage): void {
    switch (this.#state) {
      case 'connected':
        this.#write(message);
        return;
      case 'reconnecting':
        if (PASS_THROUGH.has(message.case)) {
          this.#write(message);
        } else if (this.#queue.length < MAX_QUEUED_REQUESTS) {
          this.#queue.push(message);
        } else {
          this.#log?.warn({ request: message.case }, 'signal queue full, request dropped');
        }
        return;
      case 'connecting':
        // Only negotiation of the join in flight can be sent before the join response.
        if (PASS_THROUGH.has(message.case)) this.#write(message);
        return;
      case 'idle':
      case 'closed':
        return;
    }
  }

  /**
   * Send on the live socket now, bypassing the queue: requests that build the session being
   * (re)established (its AddTrackRequests, its subscriptions). Dropped when no socket is live.
   */
  sendNow(message: SignalRequestMessage): void {
    if (this.#state !== 'closed') this.#write(message);
  }

  /**
   * Send a LeaveRequest (when a socket is live) and close. `reason` is what the server reports to
   * the other participants (only CLIENT_INITIATED, USER_UNAVAILABLE, USER_REJECTED and AGENT_ERROR
   * are passed on by livekit-server v1.13; others arrive as CLIENT_INITIATED).
   */
  leave(reason: DisconnectReason): void {
    if (this.#state === 'closed') return;
    this.#write({
      case: 'leave',
      value: new LeaveRequest({ reason, action: LeaveRequest_Action.DISCONNECT }),
    });
    this.close();
  }

  /** Close without a leave; idempotent. No `lost` event follows. */
  close(): void {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    this.#queue = [];
    this.#dropLive();
    const pending = this.#pending;
    this.#pending = undefined;
    pending?.close();
  }

  #isClosed(): boolean {
    return this.#state === 'closed';
  }

  #assertOpen(): void {
    if (this.#state === 'closed') throw new LiveKitError('closed', 'signal client is closed');
  }

  /** Open a socket and wait for its first message, within the connect timeout. */
  async #open(params: SignalUrlParams): Promise<Handshake> {
    const url = buildSignalUrl(params);
    const timeoutMs = this.options.connectTimeoutMs;
    const started = Date.now();
    this.#log?.debug(
      { url: redactSignalUrl(url), resume: params.resume !== undefined },
      'signal connecting',
    );
    const socket = await this.options.socketFactory(url, { timeoutMs });
    if (this.#isClosed()) {
      socket.close();
      throw new LiveKitError('closed', 'signal client closed while connecting');
    }
    this.#pending = socket;
    try {
      // A join waits for the join response (or a refusal); a resume takes whatever comes first.
      const decisive =
        params.resume === undefined
          ? (message: ResponseMessage) => message.case === 'join' || message.case === 'leave'
          : () => true;
      const handshake = await firstMessage(
        socket,
        Math.max(1, timeoutMs - (Date.now() - started)),
        decisive,
      );
      // close() may have run while we waited.
      if (this.#isClosed()) {
        socket.close();
        throw new LiveKitError('closed', 'signal client closed while connecting');
      }
      return handshake;
    } finally {
      if (this.#pending === socket) this.#pending = undefined;
    }
  }

  #failHandshake(rejoin: boolean): void {
    if (this.#state !== 'closed') this.#state = rejoin ? 'reconnecting' : 'idle';
  }

  /**
   * Make the handshake's socket the live one: messages that arrived behind the first one are
   * dispatched now, in order, then new ones as they come.
   */
  #goLive({ socket, rest, closed }: Handshake, beforeDispatch?: () => void): void {
    this.#live = socket;
    socket.onmessage = (data) => {
      if (this.#live !== socket) return;
      const message = decode(data, this.#log);
      if (!message) return;
      this.#armPongDeadline();
      this.#dispatch(message);
    };
    socket.onclose = (code, reason) => {
      if (this.#live !== socket) return;
      this.#lose(`signal socket closed (${code}${reason ? ` ${reason}` : ''})`);
    };
    this.#startPings();
    beforeDispatch?.();
    for (const message of rest) {
      if (this.#live !== socket) return;
      this.#dispatch(message);
    }
    if (closed) this.#lose(`signal socket closed (${closed.code})`);
  }

  #dispatch(message: ResponseMessage): void {
    if (message.case === 'pongResp') {
      this.#rttMs = Math.max(0, Date.now() - Number(message.value.lastPingTimestamp));
    }
    // The union is narrowed per case by the event map; TypeScript cannot correlate the two.
    (this.emit as (event: string, value: unknown) => void)(message.case, message.value);
  }

  #write(message: SignalRequestMessage): void {
    this.#live?.send(new SignalRequest({ message }).toBinary());
  }

  /** Ping every interval; the deadline is re-armed by any message (as client-sdk-js does). */
  #startPings(): void {
    this.#stopPings();
    if (this.#pingIntervalMs > 0) {
      this.#pingTimer = setInterval(() => this.#ping(), this.#pingIntervalMs);
    }
    this.#armPongDeadline();
  }

  #ping(): void {
    const now = BigInt(Date.now());
    // Both forms, like client-sdk-js: `ping` for servers before Ping/Pong messages.
    this.#write({ case: 'ping', value: now });
    this.#write({
      case: 'pingReq',
      value: new Ping({ timestamp: now, rtt: BigInt(Math.round(this.#rttMs)) }),
    });
  }

  #armPongDeadline(): void {
    if (this.#pongDeadline) clearTimeout(this.#pongDeadline);
    this.#pongDeadline = undefined;
    if (this.#pingTimeoutMs <= 0) return;
    this.#pongDeadline = setTimeout(() => this.#lose('ping timeout'), this.#pingTimeoutMs);
  }

  #stopPings(): void {
    if (this.#pingTimer) clearInterval(this.#pingTimer);
    if (this.#pongDeadline) clearTimeout(this.#pongDeadline);
    this.#pingTimer = undefined;
    this.#pongDeadline = undefined;
  }

  #lose(reason: string): void {
    if (this.#state === 'closed' || !this.#live) return;
    this.#dropLive();
    this.#state = 'reconnecting';
    this.#log?.warn({ reason }, 'signal connection lost');
    this.emit('lost', reason);
  }

  /** Forget the live socket (closing it) without reporting a loss. */
  #dropLive(): void {
    this.#stopPings();
    const live = this.#live;
    this.#live = undefined;
    if (live) {
      live.onmessage = undefined;
      live.onclose = undefined;
      live.close();
    }
  }
}

/**
 * A socket whose first message arrived. Messages right behind it (often in the same TCP read,
 * which `ws` emits synchronously) and a close are held here until the socket goes live.
 */
interface Handshake {
  socket: SignalSocket;
  first: ResponseMessage;
  rest: ResponseMessage[];
  closed: { code: number } | undefined;
}

/** Messages tolerated ahead of the join response before the handshake is declared broken. */
const MAX_EARLY_MESSAGES = 64;

/**
 * Wait on a fresh socket for the first message `decisive` accepts; messages ahead of it are kept
 * (in order) in `rest`. livekit-server v1.13 can write the answer to a publisher offer carried in
 * the join request (and the TrackPublished of its tracks) before the JoinResponse itself.
 */
function firstMessage(
  socket: SignalSocket,
  timeoutMs: number,
  decisive: (message: ResponseMessage) => boolean,
): Promise<Handshake> {
  return new Promise<Handshake>((resolve, reject) => {
    let handshake: Handshake | undefined;
    const early: ResponseMessage[] = [];
    const timer = setTimeout(() => {
      socket.onmessage = undefined;
      socket.onclose = undefined;
      socket.close();
      reject(new LiveKitError('timeout', `no signal response within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.onmessage = (data) => {
      if (handshake) {
        const message = decode(data, undefined);
        if (message) handshake.rest.push(message);
        return;
      }
      let response: SignalResponse;
      try {
        response = SignalResponse.fromBinary(data);
      } catch (err) {
        clearTimeout(timer);
        socket.onmessage = undefined;
        socket.onclose = undefined;
        socket.close();
        reject(new LiveKitError('protocol', 'undecodable first signal message', { cause: err }));
        return;
      }
      if (response.message.case === undefined) return;
      if (!decisive(response.message)) {
        early.push(response.message);
        if (early.length > MAX_EARLY_MESSAGES) {
          clearTimeout(timer);
          socket.onmessage = undefined;
          socket.onclose = undefined;
          socket.close();
          reject(new LiveKitError('protocol', `no join response after ${early.length} messages`));
        }
        return;
      }
      clearTimeout(timer);
      handshake = { socket, first: response.message, rest: early, closed: undefined };
      resolve(handshake);
    };
    socket.onclose = (code, reason) => {
      if (handshake) {
        handshake.closed = { code };
        return;
      }
      clearTimeout(timer);
      reject(
        new LiveKitError(
          'unreachable',
          `signal socket closed before the first message (${code}${reason ? ` ${reason}` : ''})`,
        ),
      );
    };
  });
}

function decode(data: Uint8Array, log: Logger | undefined): ResponseMessage | undefined {
  try {
    const message = SignalResponse.fromBinary(data).message;
    return message.case === undefined ? undefined : message;
  } catch (err) {
    log?.warn({ err }, 'undecodable signal message ignored');
    return undefined;
  }
}

function leftError(leave: LeaveRequest, during: string): LiveKitError {
  return new LiveKitError(
    'left',
    `livekit-server sent a leave during ${during} (${DisconnectReason[leave.reason] ?? leave.reason})`,
    { disconnectReason: leave.reason },
  );
}
