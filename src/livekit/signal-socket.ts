import WebSocket from 'ws';
import { LiveKitError, errorForUpgradeStatus } from './livekit-errors.js';

/**
 * One open signal WebSocket, reduced to what the signal client needs, so unit tests can put an
 * in-memory pipe in its place. It has exactly one owner, hence plain callbacks.
 */
export interface SignalSocket {
  /** Send one binary message; dropped when the socket is no longer open. */
  send(data: Uint8Array): void;
  /** Close (normal closure); idempotent. `onclose` still fires once. */
  close(): void;
  /** Each binary message received. */
  onmessage: ((data: Uint8Array) => void) | undefined;
  /** Once, when the socket closed or broke, by either side. */
  onclose: ((code: number, reason: string) => void) | undefined;
}

/**
 * Opens a signal socket to `url` (with its query string). Rejects with a {@link LiveKitError}:
 * `unreachable`, `timeout`, `not-allowed` or `http-error` (with `httpStatus`).
 */
export type SignalSocketFactory = (
  url: string,
  options: {
    /** Upgrade deadline in milliseconds. */
    timeoutMs: number;
  },
) => Promise<SignalSocket>;

/** How long a closing socket may wait for the server's close frame before it is torn down. */
const CLOSE_GRACE_MS = 250;
/** Longest upgrade-failure body kept for the error message. */
const MAX_ERROR_BODY_BYTES = 1024;

/** The production factory: a `ws` WebSocket (Node 20 has no stable global WebSocket). */
export const openWebSocketSignalSocket: SignalSocketFactory = (url, { timeoutMs }) =>
  new Promise<SignalSocket>((resolve, reject) => {
    const ws = new WebSocket(url, {
      handshakeTimeout: timeoutMs,
      // Signal messages are small protobufs; compression would cost CPU on every ping.
      perMessageDeflate: false,
    });
    ws.binaryType = 'nodebuffer';
    let settled = false;
    const fail = (err: LiveKitError) => {
      if (settled) return;
      settled = true;
      ws.removeAllListeners();
      ws.on('error', () => {});
      ws.terminate();
      reject(err);
    };
    ws.once('unexpected-response', (req, res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        if (size < MAX_ERROR_BODY_BYTES) chunks.push(chunk);
        size += chunk.length;
      });
      const done = () => {
        req.destroy();
        fail(errorForUpgradeStatus(res.statusCode ?? 0, Buffer.concat(chunks).toString('utf8')));
      };
      res.once('end', done);
      res.once('error', done);
    });
    ws.once('error', (err: NodeJS.ErrnoException) => {
      const timedOut = /handshake has timed out/i.test(err.message);
      fail(
        timedOut
          ? new LiveKitError('timeout', `signal WebSocket did not open within ${timeoutMs} ms`, {
              cause: err,
            })
          : new LiveKitError('unreachable', `livekit-server unreachable (${err.code ?? 'error'})`, {
              cause: err,
            }),
      );
    });
    ws.once('open', () => {
      if (settled) return;
      settled = true;
      ws.removeAllListeners('error');
      resolve(new WebSocketSignalSocket(ws));
    });
  });

class WebSocketSignalSocket implements SignalSocket {
  #onmessage: ((data: Uint8Array) => void) | undefined;
  #onclose: ((code: number, reason: string) => void) | undefined;
  /**
   * Messages (and a close) that arrive before the owner set its callbacks. livekit-server writes
   * its first message right behind the upgrade response, often in the same TCP read, and `ws`
   * emits it synchronously after 'open', before the promise of the factory has resolved.
   */
  #early: Uint8Array[] | undefined = [];
  #earlyClose: { code: number; reason: string } | undefined;
  #closeTimer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(private readonly ws: WebSocket) {
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      // We ask for protobuf; a text frame would be JSON from a misconfigured proxy: ignore it.
      if (!isBinary) return;
      if (this.#onmessage) this.#onmessage(data);
      else this.#early?.push(data);
    });
    // Errors after the upgrade are followed by 'close', which is what we report.
    ws.on('error', () => {});
    ws.once('close', (code: number, reason: Buffer) => {
      this.#closed = true;
      if (this.#closeTimer) clearTimeout(this.#closeTimer);
      const text = reason.toString('utf8');
      if (this.#onclose) this.#onclose(code, text);
      else this.#earlyClose = { code, reason: text };
    });
  }

  get onmessage(): ((data: Uint8Array) => void) | undefined {
    return this.#onmessage;
  }

  set onmessage(handler: ((data: Uint8Array) => void) | undefined) {
    this.#onmessage = handler;
    const early = this.#early;
    if (!handler || !early) return;
    this.#early = undefined;
    for (const data of early) this.#onmessage?.(data);
  }

  get onclose(): ((code: number, reason: string) => void) | undefined {
    return this.#onclose;
  }

  set onclose(handler: ((code: number, reason: string) => void) | undefined) {
    this.#onclose = handler;
    const early = this.#earlyClose;
    if (!handler || !early || this.#early) return;
    // Delivered once the early messages are (the owner sets onmessage first).
    this.#earlyClose = undefined;
    handler(early.code, early.reason);
  }

  send(data: Uint8Array): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(data);
  }

  close(): void {
    if (this.#closed || this.#closeTimer) return;
    if (this.ws.readyState === WebSocket.OPEN) {
      this.ws.close(1000, 'client closing');
      // A dead server never answers the close frame; ws would wait 30 s holding the socket.
      this.#closeTimer = setTimeout(() => this.ws.terminate(), CLOSE_GRACE_MS);
      this.#closeTimer.unref();
    } else {
      this.ws.terminate();
    }
  }
}
