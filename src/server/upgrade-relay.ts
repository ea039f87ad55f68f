/**
 * Hands an HTTP upgrade request (a WebSocket handshake) to another listener that can serve it,
 * byte for byte: the request head is written again as received, then both sockets are piped into
 * each other until either side closes. Used for a Twilio media stream that reached an instance
 * other than the one holding its call (a load balancer, or `serve --processes`).
 */
import { connect, type Socket } from 'node:net';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';

/** Header marking a relayed request, so that it is never relayed twice. */
export const RELAYED_HEADER = 'x-whatsapp-connector-relayed';

export interface UpgradeRelayTarget {
  host: string;
  port: number;
}

/** Options of {@link relayUpgrade}. */
export interface UpgradeRelayOptions {
  /** Optional - how long connecting to the target may take, ms. Default 3000. */
  connectTimeoutMs?: number;
  /** Optional - called once when the target was reached and the request handed over. */
  onConnect?: () => void;
  /** Optional - called once when the relay could not reach the target (the client got a 502). */
  onError?: (err: Error) => void;
}

/** The target of an `http://host:port` base URL; undefined for any other URL. */
export function relayTargetOf(baseUrl: string): UpgradeRelayTarget | undefined {
  let url: URL;
  try {
    url = new URL(baseUrl);
  } catch {
    return undefined;
  }
  if (url.protocol !== 'http:') return undefined;
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  return { host, port: url.port ? Number(url.port) : 80 };
}

/** Relay `req` (whose head was already read from `socket`, with `head` after it) to `target`. */
export function relayUpgrade(
  req: IncomingMessage,
  socket: Duplex,
  head: Buffer,
  target: UpgradeRelayTarget,
  options: UpgradeRelayOptions = {},
): void {
  const upstream: Socket = connect({ host: target.host, port: target.port });
  upstream.setNoDelay(true);
  let connected = false;
  const timer = setTimeout(
    () => upstream.destroy(new Error('relay target did not answer in time')),
    options.connectTimeoutMs ?? 3000,
  );
  timer.unref();
  upstream.once('connect', () => {
    connected = true;
    clearTimeout(timer);
    upstream.write(requestHead(req));
    if (head.length > 0) upstream.write(head);
    socket.pipe(upstream);
    upstream.pipe(socket);
    options.onConnect?.();
  });
  upstream.on('error', (err) => {
    clearTimeout(timer);
    if (!connected) {
      options.onError?.(err);
      const body = 'the instance holding this stream is unreachable\n';
      socket.end(
        'HTTP/1.1 502 Bad Gateway\r\nConnection: close\r\nContent-Type: text/plain\r\n' +
          `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
      );
      return;
    }
    socket.destroy();
  });
  upstream.on('close', () => socket.destroy());
  socket.on('error', () => upstream.destroy());
  socket.on('close', () => upstream.destroy());
}

/** The request line and headers as received, plus the relayed mark. */
function requestHead(req: IncomingMessage): string {
  const lines = [`${req.method ?? 'GET'} ${req.url ?? '/'} HTTP/${req.httpVersion}`];
  const raw = req.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    if (raw[i]!.toLowerCase() === RELAYED_HEADER) continue;
    lines.push(`${raw[i]}: ${raw[i + 1]}`);
  }
  lines.push(`${RELAYED_HEADER}: 1`);
  return `${lines.join('\r\n')}\r\n\r\n`;
}
