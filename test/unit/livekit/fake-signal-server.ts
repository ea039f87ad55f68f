import {
  JoinResponse,
  ParticipantInfo,
  SignalRequest,
  SignalResponse,
  type SignalRequest as SignalRequestType,
} from '@livekit/protocol';
import type { SignalSocket, SignalSocketFactory } from '../../../src/livekit/signal-socket.js';

type ResponseMessage = Exclude<SignalResponse['message'], { case: undefined }>;

/** The server end of one in-memory signal socket. */
export class FakeSignalSocket implements SignalSocket {
  onmessage: ((data: Uint8Array) => void) | undefined;
  onclose: ((code: number, reason: string) => void) | undefined;
  readonly sent: SignalRequestType[] = [];
  closed = false;

  constructor(readonly url: URL) {}

  send(data: Uint8Array): void {
    if (!this.closed) this.sent.push(SignalRequest.fromBinary(data));
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.onclose?.(1000, '');
  }

  /** The server writes a message. */
  deliver(message: ResponseMessage): void {
    if (this.closed) throw new Error('socket is closed');
    this.onmessage?.(new SignalResponse({ message }).toBinary());
  }

  /** The connection breaks (server gone, proxy cut). */
  drop(): void {
    if (this.closed) return;
    this.closed = true;
    this.onclose?.(1006, '');
  }

  /** Cases of the requests the client sent, in order. */
  sentCases(): string[] {
    return this.sent.map((request) => request.message.case ?? '');
  }
}

/**
 * A signal socket factory whose sockets the test drives: each connect attempt yields a
 * {@link FakeSignalSocket}, or fails with the error the test queued.
 */
export class FakeSignalServer {
  readonly sockets: FakeSignalSocket[] = [];
  readonly #failures: Error[] = [];
  #waiters: ((socket: FakeSignalSocket) => void)[] = [];

  readonly factory: SignalSocketFactory = async (url) => {
    const failure = this.#failures.shift();
    if (failure) throw failure;
    const socket = new FakeSignalSocket(new URL(url));
    this.sockets.push(socket);
    // The client sets its callbacks right after this promise resolves.
    queueMicrotask(() => {
      const waiters = this.#waiters;
      this.#waiters = [];
      for (const waiter of waiters) waiter(socket);
    });
    return socket;
  };

  /** The next connect attempt fails with `error`. */
  failNext(error: Error): void {
    this.#failures.push(error);
  }

  /** Resolves with the next socket, once the client listens on it. */
  nextSocket(): Promise<FakeSignalSocket> {
    return new Promise((resolve) =>
      this.#waiters.push((socket) => queueMicrotask(() => resolve(socket))),
    );
  }
}

/** A join response as livekit-server sends it (ping every 5 s, timeout 15 s). */
export function joinResponse(overrides: Partial<JoinResponse> = {}): JoinResponse {
  return new JoinResponse({
    participant: new ParticipantInfo({ sid: 'PA_self', identity: 'self', version: 1 }),
    pingInterval: 5,
    pingTimeout: 15,
    serverVersion: '1.13.5',
    ...overrides,
  });
}

/** Let pending promise callbacks run. */
export async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise<void>((resolve) => queueMicrotask(resolve));
}
