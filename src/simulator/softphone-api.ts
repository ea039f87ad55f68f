/**
 * Signalling of the softphone page (a browser as a WhatsApp user), under
 * `/_simulator/softphone`. The page holds one event stream per tab — it is that user's phone —
 * and posts its WebRTC offers; the simulator answers them with a {@link BrowserPhone} bridged to
 * the call's Meta relay leg. Routes:
 *
 *   GET  /_simulator/softphone/events?user={phone|BSUID}[&username=]  Server-Sent Events: this
 *        tab is the user's phone (`hello`, then `incoming`, `call`, `digit`, `ended`, `replaced`)
 *   POST /_simulator/softphone/calls               {session, offer, phoneNumberId?} → {callId, answer}
 *   POST /_simulator/softphone/calls/{id}/answer   {session, offer} → {answer}
 *   POST /_simulator/softphone/calls/{id}/decline  {session}
 *   POST /_simulator/softphone/calls/{id}/hangup   {session}
 *
 * Closing the event stream (the tab goes away) hangs up the calls the tab answered or placed.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ConnectorError, toConnectorError } from '../errors/connector-error.js';
import type { Logger } from '../log/index.js';
import { readBody } from '../server/http-server.js';
import { BrowserPhone } from './browser-phone.js';
import type { SimulatedCall } from './simulated-call.js';
import type { SimulatedUser } from './simulated-user.js';
import type { WhatsAppSimulator } from './whatsapp-simulator.js';

type Json = Record<string, unknown>;

/** How often an idle event stream gets a comment line, so proxies and browsers keep it open, ms. */
const KEEPALIVE_MS = 15_000;

/** One open softphone tab: the phone of one user. */
class SoftphoneSession {
  readonly id = randomUUID();
  readonly calls = new Set<SimulatedCall>();
  private readonly keepalive: NodeJS.Timeout;
  private closed = false;

  constructor(
    readonly user: SimulatedUser,
    private readonly res: ServerResponse,
  ) {
    this.keepalive = setInterval(() => this.write(': keepalive\n\n'), KEEPALIVE_MS);
    this.keepalive.unref();
    // A tab that vanished mid-write is the `close` the owner already handles, not a crash.
    this.res.on('error', () => undefined);
  }

  private write(text: string): void {
    if (this.closed || this.res.destroyed || this.res.writableEnded) return;
    this.res.write(text);
  }

  get isOpen(): boolean {
    return !this.closed;
  }

  send(event: string, data: unknown): void {
    this.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.keepalive);
    this.res.end();
  }
}

/** What the page is told about a call. */
function callView(call: SimulatedCall): Json {
  const s = call.snapshot();
  return {
    id: s.id,
    direction: s.direction,
    state: s.state,
    phoneNumberId: s.phoneNumberId,
    businessNumber: call.number.displayPhoneNumber,
    endReason: s.endReason ?? null,
    heardDigits: s.heardDigits,
  };
}

function userView(user: SimulatedUser): Json {
  return {
    phoneNumber: user.phoneNumber ?? null,
    userId: user.userId,
    parentUserId: user.parentUserId ?? null,
    username: user.username ?? null,
    name: user.name,
  };
}

function bad(message: string): ConnectorError {
  return new ConnectorError('invalid_argument', message);
}

export class SoftphoneApi {
  private readonly sessions = new Map<string, SoftphoneSession>();
  private closed = false;

  constructor(
    private readonly sim: WhatsAppSimulator,
    private readonly logger: Logger,
  ) {}

  /** The open tab that is `user`'s phone, if any. */
  sessionOf(user: SimulatedUser): SoftphoneSession | undefined {
    for (const s of this.sessions.values()) if (s.user === user && s.isOpen) return s;
    return undefined;
  }

  /** Whether a browser tab is `user`'s phone (it then rings for business-initiated calls). */
  hasPhone(user: SimulatedUser): boolean {
    return this.sessionOf(user) !== undefined;
  }

  /**
   * A business calls a user whose phone is a tab: the tab rings once Meta's RINGING is out, and
   * follows the call from then on.
   */
  ring(call: SimulatedCall): void {
    const session = this.sessionOf(call.user);
    if (!session) return;
    this.follow(session, call);
    call
      .waitForState('ringing', this.sim.timing.connectWebhookDelayMs + 10_000)
      .then(() => session.send('incoming', callView(call)))
      .catch(() => undefined);
  }

  async handle(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    try {
      const parts = url.pathname
        .replace(/^\/_simulator\/softphone\/?/, '')
        .split('/')
        .filter((p) => p !== '')
        .map(decodeURIComponent);
      const method = req.method ?? 'GET';
      if (method === 'GET' && parts.length === 1 && parts[0] === 'events') {
        this.openEvents(req, res, url);
        return;
      }
      if (method !== 'POST' || parts[0] !== 'calls' || parts.length > 3) {
        throw new ConnectorError('bad_route', `unknown softphone route ${method} ${url.pathname}`);
      }
      const body = await readJson(req);
      const session = this.sessionFrom(body);
      const [, callId, action] = parts;
      let answer: unknown;
      if (callId === undefined) answer = await this.placeCall(session, body);
      else if (action === 'answer') answer = await this.answerCall(session, callId, body);
      else if (action === 'decline') answer = this.endCall(session, callId, 'decline');
      else if (action === 'hangup') answer = this.endCall(session, callId, 'hangup');
      else throw new ConnectorError('bad_route', `unknown softphone route ${url.pathname}`);
      res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify(answer));
    } catch (err) {
      const e = toConnectorError(err);
      if (res.headersSent) {
        res.end();
        return;
      }
      res
        .writeHead(e.httpStatus, { 'Content-Type': 'application/json' })
        .end(JSON.stringify({ error: { code: e.code, message: e.message } }));
    }
  }

  /** Ends every event stream (the simulator is closing); calls are closed by the simulator. */
  close(): void {
    this.closed = true;
    for (const s of this.sessions.values()) s.close();
    this.sessions.clear();
  }

  // ------------------------------------------------------------------------------------ routes

  private openEvents(req: IncomingMessage, res: ServerResponse, url: URL): void {
    if (this.closed) throw new ConnectorError('unavailable', 'the simulator is closing');
    const name = url.searchParams.get('user');
    if (name === null || name.trim() === '') {
      throw bad('user is required: a phone number or a BSUID such as US.13491208655302741918');
    }
    const username = url.searchParams.get('username') ?? undefined;
    const user = this.sim.userNamed(name, username === '' ? undefined : username);
    res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-store',
      Connection: 'keep-alive',
    });
    // One tab per user: a newer tab takes the phone over.
    const previous = this.sessionOf(user);
    if (previous) {
      previous.send('replaced', {});
      this.drop(previous);
    }
    const session = new SoftphoneSession(user, res);
    this.sessions.set(session.id, session);
    const lost = () => this.drop(session);
    req.once('close', lost);
    session.send('hello', {
      session: session.id,
      user: userView(user),
      phoneNumbers: this.sim.phoneNumbers.map((n) => ({
        id: n.id,
        displayPhoneNumber: n.displayPhoneNumber,
      })),
    });
    // Calls already ringing for this user (the tab was opened or reloaded meanwhile).
    for (const call of this.sim.activeCalls()) {
      if (call.user === user && call.direction === 'BUSINESS_INITIATED' && call.state === 'ringing')
        this.ring(call);
    }
    this.logger.info({ user: user.key }, 'softphone connected');
  }

  /** The user calls the business from the tab. */
  private async placeCall(session: SoftphoneSession, body: Json): Promise<Json> {
    const offer = requireString(body, 'offer');
    const phoneNumberId = optionalString(body, 'phoneNumberId');
    if (phoneNumberId !== undefined && !this.sim.phoneNumber(phoneNumberId)) {
      throw new ConnectorError('not_found', `unknown phone number id ${phoneNumberId}`);
    }
    const { phone, answerSdp } = await BrowserPhone.answer(offer, {
      hostAddress: this.sim.relayAddress,
    });
    let call: SimulatedCall;
    try {
      call = await this.sim.placeUserCall({
        from: session.user.userId,
        ...(phoneNumberId !== undefined ? { phoneNumberId } : {}),
        phone,
      });
    } catch (err) {
      await phone.close();
      throw err;
    }
    this.follow(session, call);
    this.watchBrowserLeg(call, phone);
    return { callId: call.id, answer: answerSdp, call: callView(call) };
  }

  /** The user picks up a business-initiated call in the tab. */
  private async answerCall(session: SoftphoneSession, callId: string, body: Json): Promise<Json> {
    const call = this.ownCall(session, callId);
    const offer = requireString(body, 'offer');
    if (call.direction !== 'BUSINESS_INITIATED' || call.state !== 'ringing') {
      throw new ConnectorError('failed_precondition', `call is ${call.state}, not ringing`);
    }
    const { phone, answerSdp } = await BrowserPhone.answer(offer, {
      hostAddress: this.sim.relayAddress,
    });
    try {
      call.usePhone(phone);
    } catch (err) {
      await phone.close();
      throw err;
    }
    this.watchBrowserLeg(call, phone);
    // Meta reports the pickup once media can flow: the browser leg first, then the relay leg.
    phone
      .waitConnected(this.sim.timing.establishTimeoutMs)
      .then(() => call.answer())
      .catch((err: unknown) => {
        this.logger.warn({ err, callId: call.id }, 'softphone answer did not complete');
        session.send('failed', { id: call.id, message: (err as Error).message });
        if (call.state !== 'ended') call.hangUp();
      });
    return { answer: answerSdp, call: callView(call) };
  }

  private endCall(session: SoftphoneSession, callId: string, how: 'decline' | 'hangup'): Json {
    const call = this.ownCall(session, callId);
    if (how === 'decline') call.reject();
    else call.hangUp();
    return { call: callView(call) };
  }

  // ------------------------------------------------------------------------------------ helpers

  private sessionFrom(body: Json): SoftphoneSession {
    const id = requireString(body, 'session');
    const session = this.sessions.get(id);
    if (!session?.isOpen) {
      throw new ConnectorError(
        'not_found',
        'no such softphone session: open the event stream first (GET /_simulator/softphone/events)',
      );
    }
    return session;
  }

  private ownCall(session: SoftphoneSession, callId: string): SimulatedCall {
    const call = this.sim.call(callId);
    if (!call || call.user !== session.user) {
      throw new ConnectorError('not_found', 'no such call for this softphone');
    }
    return call;
  }

  /** Tells the tab every change of `call` until it ends. */
  private follow(session: SoftphoneSession, call: SimulatedCall): void {
    if (session.calls.has(call)) return;
    session.calls.add(call);
    const onState = () => session.send('call', callView(call));
    const onDigit = (digit: string) => session.send('digit', { id: call.id, digit });
    call.on('state', onState);
    call.on('digit', onDigit);
    call.once('ended', () => {
      call.off('state', onState);
      call.off('digit', onDigit);
      session.calls.delete(call);
      session.send('ended', callView(call));
    });
  }

  /** A browser leg that fails ends the call as if the user hung up (their phone went away). */
  private watchBrowserLeg(call: SimulatedCall, phone: BrowserPhone): void {
    phone.on('state', (state) => {
      if (state === 'failed' && call.state !== 'ended') {
        this.logger.info({ callId: call.id }, 'softphone media lost; the user hangs up');
        call.hangUp();
      }
    });
  }

  private drop(session: SoftphoneSession): void {
    if (!this.sessions.delete(session.id)) return;
    session.close();
    for (const call of session.calls) {
      // A ringing business call keeps ringing (Meta's ring timeout ends it); a call the tab was
      // part of ends with the tab.
      if (call.phone.kind === 'browser' && call.state !== 'ended') call.hangUp();
    }
    this.logger.info({ user: session.user.key }, 'softphone disconnected');
  }
}

async function readJson(req: IncomingMessage): Promise<Json> {
  const raw = (await readBody(req, 256 * 1024)).toString('utf8');
  if (raw.trim() === '') return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw bad('body is not valid JSON');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    throw bad('body must be a JSON object');
  return parsed as Json;
}

function requireString(body: Json, key: string): string {
  const v = body[key];
  if (typeof v !== 'string' || v.trim() === '') throw bad(`${key} is required`);
  return v;
}

function optionalString(body: Json, key: string): string | undefined {
  const v = body[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw bad(`${key} must be a string`);
  return v;
}
