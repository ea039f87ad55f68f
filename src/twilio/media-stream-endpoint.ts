import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Logger } from '../log/index.js';
import { tokenOfPath, type ConnectUrlSigner } from './connect-url-signer.js';
import type { TwilioCall } from './twilio-call.js';
import type { TwilioCallRegistry } from './twilio-call-registry.js';

/**
 * Largest WebSocket message accepted, bytes. Twilio's frames are a few hundred bytes (a 20 ms
 * media frame is ~350); anything near this is not Twilio. Larger messages close the socket (1009).
 */
export const MAX_MESSAGE_BYTES = 64 * 1024;

/** An HTTP refusal of a connect URL: status and a reason for people reading Twilio's debugger. */
interface Refusal {
  status: number;
  message: string;
}

const REFUSALS = {
  malformed: { status: 401, message: 'invalid connect URL: malformed token' },
  bad_signature: { status: 401, message: 'invalid connect URL: signature mismatch' },
  expired: { status: 410, message: 'connect URL expired' },
  unknown: {
    status: 404,
    message: 'unknown connect URL (issued by another instance, or before a restart)',
  },
  used: { status: 409, message: 'connect URL already used' },
  ended: { status: 410, message: 'the call of this connect URL has ended' },
  closing: { status: 503, message: 'server shutting down' },
} satisfies Record<string, Refusal>;

const STATUS_TEXT: Record<number, string> = {
  401: 'Unauthorized',
  404: 'Not Found',
  409: 'Conflict',
  410: 'Gone',
  503: 'Service Unavailable',
};

/** Answer an upgrade request with a plain HTTP error and drop the connection. */
function refuse(socket: Duplex, refusal: Refusal): void {
  const body = `${refusal.message}\n`;
  socket.end(
    `HTTP/1.1 ${refusal.status} ${STATUS_TEXT[refusal.status] ?? 'Error'}\r\n` +
      'Connection: close\r\n' +
      'Content-Type: text/plain; charset=utf-8\r\n' +
      `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}

/**
 * Hands a stream whose call this instance does not know to the instance that holds it. Resolves
 * true once the connection was handed over (the socket is then the relay's), false when no
 * other instance holds it (the endpoint then answers 404).
 */
export type MediaStreamRelay = (
  sessionId: string,
  req: IncomingMessage,
  socket: Duplex,
  head: Buffer,
) => Promise<boolean>;

/**
 * The WebSocket endpoint Twilio's `<Connect><Stream url>` reaches: `GET /twilio/stream/<token>`
 * with `Upgrade: websocket`. Before the handshake: the token's signature (401), its expiry (410)
 * and its single use (409, or 404 when this instance does not know it) are checked, so a guessed
 * or replayed URL never gets a socket. After it: the call's media stream session takes over.
 */
export class MediaStreamEndpoint {
  readonly #signer: ConnectUrlSigner;
  readonly #registry: TwilioCallRegistry;
  readonly #log: Logger;
  readonly #wss = new WebSocketServer({
    noServer: true,
    maxPayload: MAX_MESSAGE_BYTES,
    perMessageDeflate: false,
  });
  readonly #sockets = new Set<WebSocket>();
  #relay: MediaStreamRelay | undefined;
  #closing = false;

  constructor(options: { signer: ConnectUrlSigner; registry: TwilioCallRegistry; logger: Logger }) {
    this.#signer = options.signer;
    this.#registry = options.registry;
    this.#log = options.logger;
  }

  /**
   * Streams of calls this instance does not hold go to `relay` (in a cluster: to the instance
   * that issued the URL) instead of being refused with 404.
   */
  relayUnknownTo(relay: MediaStreamRelay): void {
    this.#relay = relay;
  }

  /** HTTP `upgrade` handler for paths under `/twilio/stream/`. Never throws. */
  readonly handleUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer, url: URL): void => {
    socket.on('error', () => undefined);
    if (this.#closing) return refuse(socket, REFUSALS.closing);
    const token = tokenOfPath(url.pathname);
    if (!token) return refuse(socket, REFUSALS.malformed);
    const verified = this.#signer.verify(token);
    if (!verified.ok) {
      this.#log.info(
        { reason: verified.reason, sessionId: verified.claims?.sessionId },
        'media stream refused',
      );
      return refuse(socket, REFUSALS[verified.reason]);
    }
    const claim = this.#registry.claim(verified.sessionId);
    if (!claim.ok && claim.reason === 'unknown' && this.#relay) {
      void this.#relayOrRefuse(verified.sessionId, req, socket, head);
      return;
    }
    if (!claim.ok) {
      this.#log.info(
        { reason: claim.reason, sessionId: verified.sessionId },
        'media stream refused',
      );
      return refuse(socket, REFUSALS[claim.reason]);
    }
    const call = claim.call;
    // If the handshake fails (bad headers, socket gone), the URL is spent: end the call.
    const onEarlyClose = () => void call.end('stream_closed');
    socket.once('close', onEarlyClose);
    try {
      this.#wss.handleUpgrade(req, socket, head, (ws) => {
        socket.off('close', onEarlyClose);
        this.#accept(ws, call);
      });
    } catch (err) {
      this.#log.warn({ err }, 'media stream handshake failed');
      socket.destroy();
    }
  };

  async #relayOrRefuse(
    sessionId: string,
    req: IncomingMessage,
    socket: Duplex,
    head: Buffer,
  ): Promise<void> {
    let relayed = false;
    try {
      relayed = await this.#relay!(sessionId, req, socket, head);
    } catch (err) {
      this.#log.warn({ err, sessionId }, 'media stream relay failed');
    }
    if (relayed) return;
    this.#log.info({ reason: 'unknown', sessionId }, 'media stream refused');
    refuse(socket, REFUSALS.unknown);
  }

  /** Plain HTTP (no upgrade) under `/twilio/stream/`: say what is expected. */
  readonly handleHttp = (_req: IncomingMessage, res: ServerResponse): void => {
    res
      .writeHead(426, { 'Content-Type': 'text/plain; charset=utf-8', Upgrade: 'websocket' })
      .end('this is a Twilio Media Streams WebSocket endpoint\n');
  };

  #accept(ws: WebSocket, call: TwilioCall): void {
    this.#sockets.add(ws);
    const session = call.attach(ws);
    ws.on('message', (data, isBinary) => session.receive(data as Buffer, isBinary));
    ws.on('close', (code) => {
      this.#sockets.delete(ws);
      session.transportClosed(code);
    });
    ws.on('error', (err) => this.#log.debug({ err }, 'media stream socket error'));
  }

  /** Refuse new streams and drop open sockets (their calls end on their own). */
  close(): void {
    this.#closing = true;
    for (const ws of this.#sockets) ws.terminate();
    this.#sockets.clear();
    this.#wss.close();
  }
}
