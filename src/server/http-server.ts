import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../log/index.js';
import { silentLogger } from '../log/index.js';

/** Handles a request whose path matched a route; may be async. */
export type RouteHandler = (
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
) => void | Promise<void>;

interface Route {
  /** Exact path, or prefix when it ends with "/". */
  path: string;
  handler: RouteHandler;
}

export interface HttpServerOptions {
  logger?: Logger;
}

/**
 * The one HTTP listener of the service: Connector API (`/twirp/`), WhatsApp webhooks, health and
 * metrics. Routes are matched by exact path, or by prefix for paths ending with `/`; the longest
 * match wins. A handler that throws answers 500 without taking the process down.
 */
export class HttpServer {
  private readonly routes: Route[] = [];
  private readonly server: Server;
  private readonly logger: Logger;
  private closed = false;

  constructor(options: HttpServerOptions = {}) {
    this.logger = options.logger ?? silentLogger;
    this.server = createServer((req, res) => void this.dispatch(req, res));
    // Bound slow-loris style clients; long-polling Twirp calls (wait_until_answered) need > 30 s.
    this.server.requestTimeout = 120_000;
    this.server.headersTimeout = 20_000;
  }

  route(path: string, handler: RouteHandler): this {
    this.routes.push({ path, handler });
    this.routes.sort((a, b) => b.path.length - a.path.length);
    return this;
  }

  private match(pathname: string): Route | undefined {
    return this.routes.find((r) =>
      r.path.endsWith('/') ? pathname.startsWith(r.path) : pathname === r.path,
    );
  }

  private async dispatch(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://localhost');
    } catch {
      res.writeHead(400, { 'Content-Type': 'text/plain' }).end('bad request');
      return;
    }
    const route = this.match(url.pathname);
    if (!route) {
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end('404 page not found');
      return;
    }
    try {
      await route.handler(req, res, url);
    } catch (err) {
      this.logger.error({ err, path: url.pathname }, 'request handler failed');
      if (!res.headersSent) res.writeHead(500, { 'Content-Type': 'text/plain' });
      res.end('internal error');
    }
  }

  /** Start listening; resolves with the bound port (useful with port 0). */
  async listen(port: number, host: string): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    return (this.server.address() as AddressInfo).port;
  }

  get port(): number {
    return (this.server.address() as AddressInfo | null)?.port ?? 0;
  }

  /** Stop accepting requests and close idle connections. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeIdleConnections();
      // Long-polls still open are cut after a short grace period.
      setTimeout(() => this.server.closeAllConnections(), 2000).unref();
    });
  }
}

/** Read a request body up to `limitBytes`; rejects with `BodyTooLargeError` past it. */
export class BodyTooLargeError extends Error {
  override readonly name = 'BodyTooLargeError';
}

export async function readBody(req: IncomingMessage, limitBytes: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? NaN);
  if (Number.isFinite(declared) && declared > limitBytes) {
    req.resume();
    throw new BodyTooLargeError(`request body exceeds ${limitBytes} bytes`);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buf = chunk as Buffer;
    size += buf.length;
    if (size > limitBytes) {
      req.resume();
      throw new BodyTooLargeError(`request body exceeds ${limitBytes} bytes`);
    }
    chunks.push(buf);
  }
  return Buffer.concat(chunks);
}
