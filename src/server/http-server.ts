import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from '../log/index.js';
import { silentLogger } from '../log/index.js';

/** Handles a request whose path matched a route; may be async. */
export type RouteHandler = (
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
) => void | Promise<void>;

export interface RouteOptions {
  /**
   * Optional - largest request body accepted, bytes. A declared `Content-Length` above it is
   * answered 413 before the handler runs; a chunked body is counted by {@link readBody} while it
   * is read, which then fails with {@link BodyTooLargeError} (answered 413 unless the handler
   * answers itself). Default: no cap beyond what the handler passes to `readBody`.
   */
  maxBodyBytes?: number;
}

interface Route extends RouteOptions {
  /** Exact path, or prefix when it ends with "/". */
  path: string;
  handler: RouteHandler;
}

/** Handles an HTTP upgrade (WebSocket) whose path matched; owns `socket` from then on. */
export type UpgradeHandler = (req: IncomingMessage, socket: Duplex, head: Buffer, url: URL) => void;

interface UpgradeRoute {
  /** Exact path, or prefix when it ends with "/". */
  path: string;
  handler: UpgradeHandler;
}

/** What a listener reports for metrics (`src/metrics`); every method is optional to call. */
export interface HttpListenerMetrics {
  /** A connection was dropped at accept because the listener was at its cap. */
  connectionDropped(listener: string): void;
  /** A request body was refused for its size. */
  bodyTooLarge(listener: string): void;
}

export interface HttpServerOptions {
  /** Optional - name of the listener in logs and metrics (`public`, `internal`). Default `http`. */
  name?: string;
  logger?: Logger;
  /**
   * Optional - open connections (idle keep-alive ones included) accepted at once; further ones
   * are closed at accept, before a byte is read. Default: no cap.
   */
  maxConnections?: number;
  /** Optional - time a client has to send the request headers, ms. Default 10000. */
  headersTimeoutMs?: number;
  /**
   * Optional - time a client has to send the whole request, headers and body, ms; slower ones get
   * 408 and are closed. Handlers may take longer to answer (Twirp long-polls do). Default 30000.
   */
  requestTimeoutMs?: number;
  metrics?: HttpListenerMetrics;
  /**
   * Optional - keep connections open between requests. `false` answers every request with
   * `Connection: close`, so a listener shared by several processes (`serve --processes`) spreads
   * requests, not only connections, over them. Default true.
   */
  keepAlive?: boolean;
}

/** Default {@link HttpServerOptions.headersTimeoutMs}. */
export const DEFAULT_HEADERS_TIMEOUT_MS = 10_000;
/** Default {@link HttpServerOptions.requestTimeoutMs}. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;

/** The body cap of the route a request matched, for {@link readBody}. */
const ROUTE_BODY_LIMIT = Symbol('routeBodyLimit');
type LimitedRequest = IncomingMessage & { [ROUTE_BODY_LIMIT]?: number };

/** How often the dropped-connection warning may repeat, ms (a flood must not flood the log). */
const DROP_LOG_INTERVAL_MS = 10_000;
/**
 * A body left unread by an early answer (refused auth, say) is read and dropped when it declares
 * at most this many bytes, keeping the connection; larger or unknown bodies close it instead.
 */
const DRAIN_UNREAD_BODY_BYTES = 64 * 1024;

/**
 * One HTTP listener of the service (the connector has a public and an internal one). Routes are
 * matched by exact path, or by prefix for paths ending with `/`; the longest match wins. A handler
 * that throws answers 500 without taking the process down. Each listener caps its connections,
 * the time to receive a request, and per route the body size.
 */
export class HttpServer {
  readonly name: string;
  private readonly routes: Route[] = [];
  private readonly upgradeRoutes: UpgradeRoute[] = [];
  private readonly server: Server;
  private readonly logger: Logger;
  private readonly metrics: HttpListenerMetrics | undefined;
  private readonly keepAlive: boolean;
  private closed = false;
  private droppedSinceLog = 0;
  private lastDropLog = 0;

  constructor(options: HttpServerOptions = {}) {
    this.name = options.name ?? 'http';
    this.logger = options.logger ?? silentLogger;
    this.metrics = options.metrics;
    this.keepAlive = options.keepAlive ?? true;
    const requestTimeout = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    this.server = createServer(
      {
        requestTimeout,
        headersTimeout: Math.min(
          options.headersTimeoutMs ?? DEFAULT_HEADERS_TIMEOUT_MS,
          requestTimeout,
        ),
        // The timeouts above are checked at this period; node's default (30 s) would let a slow
        // client hold its connection up to twice the timeout.
        connectionsCheckingInterval: 1000,
      },
      (req, res) => void this.dispatch(req, res),
    );
    if (options.maxConnections !== undefined) this.server.maxConnections = options.maxConnections;
    this.server.on('drop', () => this.onDrop());
    this.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) =>
      this.dispatchUpgrade(req, socket, head),
    );
  }

  route(path: string, handler: RouteHandler, options: RouteOptions = {}): this {
    this.routes.push({ path, handler, ...options });
    this.routes.sort((a, b) => b.path.length - a.path.length);
    return this;
  }

  /** Route WebSocket upgrades (same path rules as {@link route}); others get 404. */
  upgradeRoute(path: string, handler: UpgradeHandler): this {
    this.upgradeRoutes.push({ path, handler });
    this.upgradeRoutes.sort((a, b) => b.path.length - a.path.length);
    return this;
  }

  private match(pathname: string): Route | undefined {
    return matchRoute(this.routes, pathname);
  }

  private dispatchUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    let url: URL | undefined;
    try {
      url = new URL(req.url ?? '/', 'http://localhost');
    } catch {
      url = undefined;
    }
    const route = url && matchRoute(this.upgradeRoutes, url.pathname);
    if (!url || !route) {
      socket.on('error', () => undefined);
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    try {
      route.handler(req, socket, head, url);
    } catch (err) {
      this.logger.error({ err, path: url.pathname, listener: this.name }, 'upgrade handler failed');
      socket.destroy();
    }
  }

  private async dispatch(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (!this.keepAlive) res.shouldKeepAlive = false;
    // A response sent before the body was read in full (refused, or not wanted): close the
    // connection rather than read the rest of a body nobody needs.
    res.once('finish', () => {
      if (req.complete) return;
      // A small rest is read and dropped so the connection stays usable: closing a socket with
      // unread bytes makes the kernel send a reset, which can reach the client before the
      // answer it already sent (Go's client then reports EOF instead of the Twirp error).
      const declared = declaredLength(req);
      if (declared !== undefined && declared <= DRAIN_UNREAD_BODY_BYTES) req.resume();
      else closeSoon(req.socket);
    });
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
    if (route.maxBodyBytes !== undefined) {
      const declared = declaredLength(req);
      if (declared !== undefined && declared > route.maxBodyBytes) {
        this.refuseBody(res, url.pathname, route.maxBodyBytes, declared);
        return;
      }
      (req as LimitedRequest)[ROUTE_BODY_LIMIT] = route.maxBodyBytes;
    }
    try {
      await route.handler(req, res, url);
    } catch (err) {
      if (err instanceof BodyTooLargeError) {
        if (!res.headersSent) this.refuseBody(res, url.pathname, err.limitBytes, undefined);
        else res.end();
        return;
      }
      this.logger.error({ err, path: url.pathname, listener: this.name }, 'request handler failed');
      if (!res.headersSent) res.writeHead(500, { 'Content-Type': 'text/plain' });
      res.end('internal error');
    }
  }

  private refuseBody(
    res: ServerResponse,
    path: string,
    limitBytes: number,
    declared: number | undefined,
  ): void {
    this.metrics?.bodyTooLarge(this.name);
    this.logger.warn(
      { path, listener: this.name, limitBytes, declaredBytes: declared },
      'request body too large; refused',
    );
    const size = declared === undefined ? 'more than that' : `${declared} bytes`;
    res
      .writeHead(413, { 'Content-Type': 'text/plain', Connection: 'close' })
      .end(`request body too large: ${path} accepts at most ${limitBytes} bytes, got ${size}\n`);
  }

  private onDrop(): void {
    this.metrics?.connectionDropped(this.name);
    this.droppedSinceLog++;
    const now = Date.now();
    if (now - this.lastDropLog < DROP_LOG_INTERVAL_MS) return;
    this.logger.warn(
      { listener: this.name, dropped: this.droppedSinceLog, limit: this.server.maxConnections },
      'connection limit reached; new connections dropped',
    );
    this.lastDropLog = now;
    this.droppedSinceLog = 0;
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

  /**
   * Serve a connection another process accepted (`serve --processes` hands each child its share
   * of the public port's connections); the listener need not listen. After {@link close} the
   * connection is closed instead.
   */
  accept(socket: Socket): void {
    if (this.closed) {
      socket.destroy();
      return;
    }
    this.server.emit('connection', socket);
    // Accepted paused by the supervisor, so no byte was read before this process took it.
    socket.resume();
  }

  get port(): number {
    return (this.server.address() as AddressInfo | null)?.port ?? 0;
  }

  /** The bound address, once listening. */
  get address(): AddressInfo | undefined {
    return (this.server.address() as AddressInfo | null) ?? undefined;
  }

  get listening(): boolean {
    return this.server.listening;
  }

  /** Open connections right now (for metrics). */
  connections(): Promise<number> {
    return new Promise((resolve) =>
      this.server.getConnections((err, count) => resolve(err ? 0 : count)),
    );
  }

  /** Stop accepting requests and close idle connections. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (!this.server.listening) {
      // Handed connections only (see accept): nothing to stop listening on.
      this.server.closeAllConnections();
      return;
    }
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeIdleConnections();
      // Long-polls still open are cut after a short grace period.
      setTimeout(() => this.server.closeAllConnections(), 2000).unref();
    });
  }
}

function matchRoute<R extends { path: string }>(routes: R[], pathname: string): R | undefined {
  return routes.find((r) =>
    r.path.endsWith('/') ? pathname.startsWith(r.path) : pathname === r.path,
  );
}

function declaredLength(req: IncomingMessage): number | undefined {
  const raw = req.headers['content-length'];
  if (raw === undefined) return undefined;
  const n = Number(raw);
  return Number.isFinite(n) && n >= 0 ? n : undefined;
}

/** End a connection once what was written is flushed, and drop it if the peer lingers. */
function closeSoon(socket: Socket | null): void {
  if (!socket || socket.destroyed) return;
  socket.end();
  setTimeout(() => socket.destroy(), 1000).unref();
}

/** A request body over its cap; `readBody` throws it before buffering past the cap. */
export class BodyTooLargeError extends Error {
  override readonly name = 'BodyTooLargeError';
  constructor(
    /** The cap that was exceeded, bytes. */
    readonly limitBytes: number,
  ) {
    super(`request body exceeds ${limitBytes} bytes`);
  }
}

/**
 * Read a request body. The cap is the smaller of `limitBytes` and the cap of the route the
 * request matched ({@link RouteOptions.maxBodyBytes}); a declared `Content-Length` over it fails
 * before anything is read, a chunked body as soon as the count passes it.
 * @throws BodyTooLargeError - let it propagate to have the listener answer 413.
 */
export async function readBody(req: IncomingMessage, limitBytes?: number): Promise<Buffer> {
  const routeLimit = (req as LimitedRequest)[ROUTE_BODY_LIMIT];
  const limit = Math.min(limitBytes ?? Infinity, routeLimit ?? Infinity);
  if (limit === Infinity) throw new Error('readBody needs a limit (argument or route option)');
  const declared = declaredLength(req);
  if (declared !== undefined && declared > limit) throw new BodyTooLargeError(limit);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buf = chunk as Buffer;
    size += buf.length;
    if (size > limit) throw new BodyTooLargeError(limit);
    chunks.push(buf);
  }
  return Buffer.concat(chunks);
}
