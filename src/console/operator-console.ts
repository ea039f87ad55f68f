/**
 * The operator console: server-rendered pages on the connector's internal listener under
 * `/console/` (live calls with their quality, ended calls, webhooks and forwarding, call
 * permissions, instances, the benchmark chart) and the actions hang up, transfer and dial.
 *
 * - Sign-in with an API key and secret or a token with `roomCreate` (`console-sign-in.ts`), then
 *   a signed HttpOnly SameSite=Strict session cookie (`console-sessions.ts`).
 * - Every action is a form POST carrying the session's CSRF token, from this origin; it answers
 *   with a redirect to the page and a one-time notice (works without JavaScript).
 * - The live calls page updates itself from a Server-Sent Events stream (one update a second).
 * - Every response forbids framing and loading anything from another origin.
 */
import { randomBytes } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import type { CallSummary } from '../calls/whatsapp-call.js';
import type { Logger } from '../log/index.js';
import { readBody } from '../server/http-server.js';
import { CallQualityHistory, QUALITY_SAMPLE_PERIOD_MS } from './call-quality-history.js';
import { consoleAsset } from './console-assets.js';
import { CONSOLE_PATH, type ConsolePageId, type Notice, type PageFrame } from './console-layout.js';
import { ConsoleSessions, SESSION_COOKIE, type ConsoleSession } from './console-sessions.js';
import {
  checkSignIn,
  SignInRefusedError,
  SignInThrottle,
  type SignInCredentials,
} from './console-sign-in.js';
import {
  StateStoreAbsentError,
  type ConsolePermissionVerdict,
  type ConsoleSources,
} from './console-sources.js';
import { EndedCallLog, DEFAULT_ENDED_CALLS_KEPT } from './ended-call-log.js';
import { shortId } from './format.js';
import type { Html } from './html.js';
import { benchPage } from './pages/bench-page.js';
import { clusterPage } from './pages/cluster-page.js';
import { endedCallsPage } from './pages/ended-calls-page.js';
import { liveCallsPage, liveCallsUpdate, type LiveCallsView } from './pages/live-calls-page.js';
import { permissionsPage } from './pages/permissions-page.js';
import { signInPage } from './pages/sign-in-page.js';
import { webhooksPage, type WebhooksView } from './pages/webhooks-page.js';

export interface OperatorConsoleOptions {
  /** Required - what the console shows and does. */
  sources: ConsoleSources;
  /** Required - API key → secret pairs that may sign in (the Connector API's keys). */
  apiKeys: Readonly<Record<string, string>>;
  /** Required - this instance's id (shown in the top bar). */
  instanceId: string;
  logger: Logger;
  /** Optional - API key pre-filled on the sign-in form (dev only; never a secret). */
  signInHint?: string | undefined;
}

/** Largest form body accepted, bytes. */
const MAX_FORM_BYTES = 16 * 1024;
/** How long a one-time sign-in link stays valid, ms. */
const SIGN_IN_LINK_TTL_MS = 15 * 60_000;
/** Dead letters shown per queue. */
const DEAD_LETTERS_SHOWN = 20;
/** Webhook receipts shown. */
const RECEIPTS_SHOWN = 100;

const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "form-action 'self'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
].join('; ');

const SECURITY_HEADERS = {
  'Content-Security-Policy': CONTENT_SECURITY_POLICY,
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  // Not `no-referrer`: with it browsers send `Origin: null` on form posts, and the origin check
  // below needs the real one.
  'Referrer-Policy': 'same-origin',
  'Cache-Control': 'no-store',
};

/** Why the transfer action is disabled while the backend offers none. */
const TRANSFER_UNAVAILABLE =
  'not available on this connector yet (the backend has no transfer capability).';

type Form = URLSearchParams;

/** One open live-calls event stream. */
interface LiveStream {
  /** Send the current calls. */
  push(): void;
  /** Close the stream. */
  end(): void;
}

interface Request {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  session: ConsoleSession;
  form: Form;
}

export class OperatorConsole {
  private readonly sources: ConsoleSources;
  private readonly apiKeys: Readonly<Record<string, string>>;
  private readonly instanceId: string;
  private readonly logger: Logger;
  private readonly signInHint: string | undefined;
  private readonly transferUnavailable: string | undefined;
  private readonly sessions = new ConsoleSessions();
  private readonly throttle = new SignInThrottle();
  private readonly notices = new Map<string, Notice>();
  private readonly verdicts = new Map<string, ConsolePermissionVerdict>();
  private readonly signInLinks = new Map<string, { apiKeyId: string; expiresAt: number }>();
  private readonly ended = new EndedCallLog();
  private readonly quality = new CallQualityHistory();
  private readonly streams = new Set<LiveStream>();
  private readonly unsubscribe: () => void;
  private readonly sampler: NodeJS.Timeout;
  private closed = false;

  constructor(options: OperatorConsoleOptions) {
    this.sources = options.sources;
    this.apiKeys = options.apiKeys;
    this.instanceId = options.instanceId;
    this.logger = options.logger.child({ component: 'console' });
    this.signInHint = options.signInHint;
    this.transferUnavailable = options.sources.actions.transfer ? undefined : TRANSFER_UNAVAILABLE;
    this.unsubscribe = this.sources.calls.onEnded((call) => this.ended.add(call));
    this.sampler = setInterval(() => this.sampleQuality(), QUALITY_SAMPLE_PERIOD_MS);
    this.sampler.unref();
  }

  /**
   * A link that signs its first visitor in as `apiKeyId` (`whatsapp-connector dev` prints one on
   * its banner); valid once, for 15 minutes. Returns the path (`/console/sign-in?once=…`).
   */
  createSignInLink(apiKeyId: string): string {
    const now = Date.now();
    for (const [n, link] of this.signInLinks) if (link.expiresAt <= now) this.signInLinks.delete(n);
    const nonce = randomBytes(24).toString('base64url');
    this.signInLinks.set(nonce, { apiKeyId, expiresAt: now + SIGN_IN_LINK_TTL_MS });
    return `${CONSOLE_PATH}sign-in?once=${nonce}`;
  }

  /** Stop sampling and end the event streams. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.sampler);
    this.unsubscribe();
    for (const stream of [...this.streams]) stream.end();
  }

  /** The route handler for `/console` and everything under `/console/`. */
  readonly handle = async (req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> => {
    const path = url.pathname;
    if (path === '/console' || path === CONSOLE_PATH) return redirect(res, `${CONSOLE_PATH}calls`);
    if (path.startsWith(`${CONSOLE_PATH}assets/`)) return this.serveAsset(req, res, path);
    if (path === `${CONSOLE_PATH}sign-in`) {
      if (req.method === 'POST') return this.signIn(req, res);
      if (req.method === 'GET') return this.signInForm(res, url);
      return methodNotAllowed(res, 'GET, POST');
    }
    const session = this.sessions.verify(cookie(req, SESSION_COOKIE));
    if (!session) {
      if (req.method === 'GET' && path !== `${CONSOLE_PATH}calls/live`) {
        return redirect(res, `${CONSOLE_PATH}sign-in?next=${encodeURIComponent(path)}`);
      }
      sendText(res, 401, 'sign in first: /console/sign-in');
      return;
    }
    if (req.method === 'POST') return this.action(req, res, url, session);
    if (req.method !== 'GET') return methodNotAllowed(res, 'GET, POST');
    switch (path) {
      case `${CONSOLE_PATH}calls`:
        return this.sendPage(res, liveCallsPage(this.frame(session, 'calls'), this.liveView()));
      case `${CONSOLE_PATH}calls/live`:
        return this.liveStream(req, res, session);
      case `${CONSOLE_PATH}ended`:
        return this.sendPage(
          res,
          endedCallsPage(this.frame(session, 'ended'), {
            calls: this.ended.list(),
            now: Date.now(),
            kept: DEFAULT_ENDED_CALLS_KEPT,
          }),
        );
      case `${CONSOLE_PATH}webhooks`:
        return this.sendPage(
          res,
          webhooksPage(this.frame(session, 'webhooks'), await this.webhooksView()),
        );
      case `${CONSOLE_PATH}permissions`:
        return this.permissionsPage(res, session);
      case `${CONSOLE_PATH}cluster`:
        return this.clusterPage(res, session);
      case `${CONSOLE_PATH}bench`:
        return this.sendPage(
          res,
          benchPage(this.frame(session, 'bench'), {
            chart: await this.newestBenchChart(),
            directory: this.sources.benchResultsDir,
          }),
        );
      case `${CONSOLE_PATH}bench/chart.svg`:
        return this.serveBenchChart(res);
      default:
        sendText(res, 404, 'no such console page');
    }
  };

  // ---- sign-in ----------------------------------------------------------------------------------

  private signInForm(res: ServerResponse, url: URL): void {
    const once = url.searchParams.get('once');
    if (once) {
      const link = this.signInLinks.get(once);
      this.signInLinks.delete(once);
      if (link && link.expiresAt > Date.now()) {
        this.startSession(res, link.apiKeyId, `${CONSOLE_PATH}calls`);
        return;
      }
      this.sendPage(
        res,
        signInPage({
          error: 'That sign-in link was used already or has expired: sign in below.',
          apiKey: this.signInHint ?? '',
          next: `${CONSOLE_PATH}calls`,
        }),
        401,
      );
      return;
    }
    this.sendPage(
      res,
      signInPage({
        error: undefined,
        apiKey: this.signInHint ?? '',
        next: safeNext(url.searchParams.get('next')),
      }),
    );
  }

  private async signIn(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (!sameOrigin(req)) return sendText(res, 403, 'cross-origin request refused');
    const address = req.socket.remoteAddress ?? 'unknown';
    const form = await readForm(req);
    const next = safeNext(form.get('next'));
    const wait = this.throttle.waitSeconds(address);
    if (wait > 0) {
      this.sendPage(
        res,
        signInPage({
          error: `Too many refused sign-ins from your address: try again in ${wait} s.`,
          apiKey: '',
          next,
        }),
        429,
      );
      return;
    }
    const token = form.get('token') ?? '';
    const credentials: SignInCredentials = token.trim()
      ? { kind: 'token', token }
      : {
          kind: 'api_key',
          apiKey: (form.get('apiKey') ?? '').trim(),
          apiSecret: form.get('apiSecret') ?? '',
        };
    try {
      const { apiKeyId } = await checkSignIn(credentials, this.apiKeys);
      this.throttle.succeeded(address);
      this.logger.info({ apiKeyId, method: credentials.kind }, 'console sign-in');
      this.startSession(res, apiKeyId, next);
    } catch (err) {
      if (!(err instanceof SignInRefusedError)) throw err;
      this.throttle.failed(address);
      this.logger.warn({ remote: address, method: credentials.kind }, 'console sign-in refused');
      const apiKey = credentials.kind === 'api_key' ? credentials.apiKey : '';
      this.sendPage(res, signInPage({ error: err.message, apiKey, next }), 401);
    }
  }

  private startSession(res: ServerResponse, apiKeyId: string, next: string): void {
    const { cookieValue } = this.sessions.create(apiKeyId);
    res.writeHead(303, {
      ...SECURITY_HEADERS,
      Location: next,
      'Set-Cookie': `${SESSION_COOKIE}=${cookieValue}; Path=${CONSOLE_PATH}; HttpOnly; SameSite=Strict; Max-Age=${this.sessions.ttlSeconds}`,
    });
    res.end();
  }

  // ---- actions ----------------------------------------------------------------------------------

  private async action(
    req: IncomingMessage,
    res: ServerResponse,
    url: URL,
    session: ConsoleSession,
  ): Promise<void> {
    if (!sameOrigin(req)) return sendText(res, 403, 'cross-origin request refused');
    const form = await readForm(req);
    if (!this.sessions.checkCsrf(session, form.get('_csrf') ?? undefined)) {
      return sendText(res, 403, 'the form is stale or forged (CSRF check failed): reload the page');
    }
    const request: Request = { req, res, url, session, form };
    const path = url.pathname;
    if (path === `${CONSOLE_PATH}sign-out`) {
      this.sessions.revoke(session.id);
      this.notices.delete(session.id);
      this.verdicts.delete(session.id);
      this.logger.info({ apiKeyId: session.apiKeyId }, 'console sign-out');
      res.writeHead(303, {
        ...SECURITY_HEADERS,
        Location: `${CONSOLE_PATH}sign-in`,
        'Set-Cookie': `${SESSION_COOKIE}=; Path=${CONSOLE_PATH}; HttpOnly; SameSite=Strict; Max-Age=0`,
      });
      res.end();
      return;
    }
    if (path === `${CONSOLE_PATH}dial`) return this.dial(request);
    if (path === `${CONSOLE_PATH}permissions/check`) return this.checkPermission(request);
    const callAction = /^\/console\/calls\/([^/]+)\/(hangup|transfer)$/.exec(path);
    if (callAction) {
      const callId = decodeURIComponent(callAction[1] ?? '');
      return callAction[2] === 'hangup'
        ? this.hangup(request, callId)
        : this.transfer(request, callId);
    }
    sendText(res, 404, 'no such console action');
  }

  private async hangup(r: Request, callId: string): Promise<void> {
    const operator = { apiKeyId: r.session.apiKeyId };
    try {
      await this.sources.actions.hangup(callId, operator);
      this.logger.info({ callId, apiKeyId: operator.apiKeyId }, 'console: call hung up');
      this.notify(r, 'ok', `Call ${shortId(callId)} hung up.`);
    } catch (err) {
      this.notify(r, 'error', `Hang-up of ${shortId(callId)} failed: ${messageOf(err)}`);
    }
    redirect(r.res, `${CONSOLE_PATH}calls`);
  }

  private async transfer(r: Request, callId: string): Promise<void> {
    const transfer = this.sources.actions.transfer?.bind(this.sources.actions);
    const room = (r.form.get('room') ?? '').trim();
    if (!transfer) {
      this.notify(r, 'error', `Transfer is ${this.transferUnavailable ?? 'not available.'}`);
    } else if (!room) {
      this.notify(r, 'error', 'Transfer needs the room to move the call to.');
    } else {
      try {
        await transfer(callId, room, { apiKeyId: r.session.apiKeyId });
        this.notify(r, 'ok', `Call ${shortId(callId)} transferred to room ${room}.`);
      } catch (err) {
        this.notify(r, 'error', `Transfer of ${shortId(callId)} failed: ${messageOf(err)}`);
      }
    }
    redirect(r.res, `${CONSOLE_PATH}calls`);
  }

  private async dial(r: Request): Promise<void> {
    const to = (r.form.get('to') ?? '').trim();
    if (!to) {
      this.notify(r, 'error', 'Dial needs the user: a phone number or a BSUID.');
      return redirect(r.res, `${CONSOLE_PATH}calls`);
    }
    try {
      const placed = await this.sources.actions.dial(
        {
          to,
          phoneNumberId: (r.form.get('phoneNumberId') ?? '').trim() || undefined,
          roomName: (r.form.get('room') ?? '').trim(),
          agentName: (r.form.get('agent') ?? '').trim(),
          agentMetadata: r.form.get('agentMetadata') ?? '',
        },
        { apiKeyId: r.session.apiKeyId },
      );
      this.logger.info(
        { callId: placed.callId, room: placed.roomName, apiKeyId: r.session.apiKeyId },
        'console: call dialled',
      );
      this.notify(
        r,
        'ok',
        `Calling ${to}: call ${shortId(placed.callId)} in room ${placed.roomName}.`,
      );
    } catch (err) {
      this.notify(r, 'error', `Dial failed: ${messageOf(err)}`);
    }
    redirect(r.res, `${CONSOLE_PATH}calls`);
  }

  private async checkPermission(r: Request): Promise<void> {
    const check = this.sources.permissions?.check?.bind(this.sources.permissions);
    const to = (r.form.get('to') ?? '').trim();
    if (!check) {
      this.notify(r, 'error', 'Permission checks are not available on this instance.');
    } else if (!to) {
      this.notify(r, 'error', "Enter the user's phone number.");
    } else {
      try {
        const phoneNumberId = (r.form.get('phoneNumberId') ?? '').trim() || undefined;
        this.verdicts.set(r.session.id, await check(to, phoneNumberId));
      } catch (err) {
        this.notify(r, 'error', `Permission check failed: ${messageOf(err)}`);
      }
    }
    redirect(r.res, `${CONSOLE_PATH}permissions`);
  }

  private notify(r: Request, kind: Notice['kind'], text: string): void {
    this.notices.set(r.session.id, { kind, text });
  }

  // ---- pages ------------------------------------------------------------------------------------

  private frame(session: ConsoleSession, page: ConsolePageId): PageFrame {
    const notice = this.notices.get(session.id);
    this.notices.delete(session.id);
    return {
      page,
      operator: session.apiKeyId,
      instanceId: this.instanceId,
      csrfToken: session.csrfToken,
      notice,
    };
  }

  /** Calls that are not over, newest first, with their quality history. */
  private liveView(): LiveCallsView {
    const calls = this.liveCalls();
    return {
      calls: calls.map((call) => ({ call, samples: this.quality.samples(call.callId) })),
      numbers: this.sources.actions.numbers(),
      transferUnavailable: this.transferUnavailable,
    };
  }

  private liveCalls(): CallSummary[] {
    return this.sources.calls
      .list()
      .filter((c) => c.state !== 'ended')
      .sort((a, b) => b.createdAt - a.createdAt);
  }

  private sampleQuality(): void {
    const live = new Map(
      this.liveCalls().map((c) => [c.callId, this.sources.calls.quality(c.callId)] as const),
    );
    this.quality.sample(live, Date.now());
    for (const stream of this.streams) stream.push();
  }

  private liveStream(req: IncomingMessage, res: ServerResponse, session: ConsoleSession): void {
    res.writeHead(200, {
      ...SECURITY_HEADERS,
      'Content-Type': 'text/event-stream; charset=utf-8',
      Connection: 'keep-alive',
    });
    const stream: LiveStream = {
      push: () => {
        if (!this.sessions.isActive(session.id)) {
          // Signed out (or expired) elsewhere: the page goes to the sign-in form.
          res.write('event: signed-out\ndata: {}\n\n');
          stream.end();
          return;
        }
        const update = liveCallsUpdate(this.liveView(), session.csrfToken);
        res.write(`event: calls\ndata: ${JSON.stringify(update)}\n\n`);
      },
      end: () => {
        this.streams.delete(stream);
        res.end();
      },
    };
    this.streams.add(stream);
    req.on('close', () => this.streams.delete(stream));
    stream.push();
  }

  private async webhooksView(): Promise<WebhooksView> {
    const { webhooks, forwarding, queues } = this.sources;
    let queueView: WebhooksView['queues'];
    if (!queues) {
      queueView = {
        unavailable:
          'No state store is in use on this instance, so there are no durable queues or dead letters to show.',
      };
    } else {
      try {
        const list = await queues.queues();
        queueView = {
          location: await queues.location(),
          queues: await Promise.all(
            list.map(async (q) => ({
              name: q.name,
              sizes: await q.sizes(),
              deadLetters: await q.deadLetters(DEAD_LETTERS_SHOWN),
            })),
          ),
        };
      } catch (err) {
        queueView = {
          unavailable:
            err instanceof StateStoreAbsentError
              ? err.message
              : `The state store cannot be read: ${messageOf(err)}`,
        };
      }
    }
    return {
      receipts: webhooks?.recent(RECEIPTS_SHOWN),
      forwarding: forwarding
        ? { target: forwarding.target, ...forwarding.counts() }
        : {
            off: 'Forwarding is off: no WHATSAPP_FORWARD_URL (whatsapp.forward_url) is configured.',
          },
      queues: queueView,
      now: Date.now(),
    };
  }

  private permissionsPage(res: ServerResponse, session: ConsoleSession): void {
    const verdict = this.verdicts.get(session.id);
    this.verdicts.delete(session.id);
    const source = this.sources.permissions;
    this.sendPage(
      res,
      permissionsPage(this.frame(session, 'permissions'), {
        replies: source?.list().sort((a, b) => b.repliedAt - a.repliedAt),
        canCheck: source?.check !== undefined,
        verdict,
        numbers: this.sources.actions.numbers(),
      }),
    );
  }

  private async clusterPage(res: ServerResponse, session: ConsoleSession): Promise<void> {
    const cluster = this.sources.cluster;
    let instances: Awaited<ReturnType<typeof cluster.instances>> | { unavailable: string };
    try {
      instances = (await cluster.instances()).sort((a, b) => a.id.localeCompare(b.id));
    } catch (err) {
      instances = { unavailable: `The instances cannot be listed: ${messageOf(err)}` };
    }
    this.sendPage(
      res,
      clusterPage(this.frame(session, 'cluster'), {
        selfId: cluster.selfId,
        shared: cluster.shared,
        instances,
        now: Date.now(),
      }),
    );
  }

  private async newestBenchChart(): Promise<{ file: string; modifiedAt: number } | undefined> {
    const dir = this.sources.benchResultsDir;
    let names: string[];
    try {
      names = (await readdir(dir)).filter((n) => n.endsWith('.svg'));
    } catch {
      return undefined;
    }
    let newest: { file: string; modifiedAt: number } | undefined;
    for (const file of names) {
      const info = await stat(join(dir, file)).catch(() => undefined);
      if (info?.isFile() && (!newest || info.mtimeMs > newest.modifiedAt)) {
        newest = { file, modifiedAt: info.mtimeMs };
      }
    }
    return newest;
  }

  private async serveBenchChart(res: ServerResponse): Promise<void> {
    const chart = await this.newestBenchChart();
    if (!chart) return sendText(res, 404, 'no benchmark chart: run make bench');
    const body = await readFile(join(this.sources.benchResultsDir, chart.file));
    res.writeHead(200, {
      ...SECURITY_HEADERS,
      'Content-Type': 'image/svg+xml',
      // Shown through <img>, which runs no script; the sandbox covers a direct visit too.
      'Content-Security-Policy': "default-src 'none'; style-src 'unsafe-inline'; sandbox",
      'Content-Length': body.length,
    });
    res.end(body);
  }

  private async serveAsset(req: IncomingMessage, res: ServerResponse, path: string) {
    if (req.method !== 'GET' && req.method !== 'HEAD') return methodNotAllowed(res, 'GET');
    const asset = await consoleAsset(path.slice(`${CONSOLE_PATH}assets/`.length));
    if (!asset) return sendText(res, 404, 'no such asset');
    res.writeHead(200, {
      ...SECURITY_HEADERS,
      'Content-Type': asset.type,
      'Content-Length': asset.body.length,
      'Cache-Control': 'no-cache',
    });
    res.end(req.method === 'HEAD' ? undefined : asset.body);
  }

  private sendPage(res: ServerResponse, page: Html, status = 200): void {
    const body = Buffer.from(page.text);
    res.writeHead(status, {
      ...SECURITY_HEADERS,
      'Content-Type': 'text/html; charset=utf-8',
      'Content-Length': body.length,
    });
    res.end(body);
  }
}

// ---- HTTP helpers ---------------------------------------------------------------------------------

function redirect(res: ServerResponse, location: string): void {
  res.writeHead(303, { ...SECURITY_HEADERS, Location: location }).end();
}

function sendText(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, { ...SECURITY_HEADERS, 'Content-Type': 'text/plain; charset=utf-8' });
  res.end(`${text}\n`);
}

function methodNotAllowed(res: ServerResponse, allow: string): void {
  res.writeHead(405, { ...SECURITY_HEADERS, Allow: allow, 'Content-Type': 'text/plain' });
  res.end('method not allowed\n');
}

async function readForm(req: IncomingMessage): Promise<Form> {
  const body = await readBody(req, MAX_FORM_BYTES);
  return new URLSearchParams(body.toString('utf8'));
}

function cookie(req: IncomingMessage, name: string): string | undefined {
  const header = req.headers.cookie;
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/**
 * A browser's POST from another site is refused even before the CSRF token is looked at: the
 * `Origin` (sent by browsers on every POST) must be this host, and `Sec-Fetch-Site` not
 * cross-site. Clients that send neither (curl) pass to the token check.
 */
function sameOrigin(req: IncomingMessage): boolean {
  if (req.headers['sec-fetch-site'] === 'cross-site') return false;
  const origin = req.headers.origin;
  if (origin === undefined) return true;
  const host = req.headers.host;
  return host !== undefined && (origin === `http://${host}` || origin === `https://${host}`);
}

/** A redirect target after sign-in: console pages only (no open redirect). */
function safeNext(next: string | null | undefined): string {
  if (next && next.startsWith(CONSOLE_PATH) && !next.startsWith('//') && !next.includes('\\')) {
    return next;
  }
  return `${CONSOLE_PATH}calls`;
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
