/**
 * Sessions of the operator console: after a sign-in, the browser holds a signed, HttpOnly,
 * SameSite=Strict cookie naming a session this process keeps; each session has an expiry and a
 * CSRF token that every action must echo. The signing key is random per process, so a restart
 * signs everyone out, and sign-out revokes the session here, not only in the browser.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/** Name of the session cookie. */
export const SESSION_COOKIE = 'wac_console';

/** Default session lifetime, ms (8 hours: a working day at the console). */
export const DEFAULT_SESSION_TTL_MS = 8 * 60 * 60 * 1000;

/** Sessions kept at once; the oldest are dropped beyond this (a flood of sign-ins cannot grow memory). */
const MAX_SESSIONS = 1000;

/** A signed-in operator. */
export interface ConsoleSession {
  /** Random session id (also what the cookie names). */
  readonly id: string;
  /** The API key the operator signed in with (never its secret). */
  readonly apiKeyId: string;
  /** Epoch ms after which the session is refused. */
  readonly expiresAt: number;
  /** Token every form of the session carries (`_csrf`); compared in constant time. */
  readonly csrfToken: string;
}

export interface ConsoleSessionsOptions {
  /** Optional - session lifetime, ms. Default {@link DEFAULT_SESSION_TTL_MS}. */
  ttlMs?: number;
  /** Optional - clock, epoch ms (tests). Default `Date.now`. */
  now?: () => number;
}

export class ConsoleSessions {
  private readonly key = randomBytes(32);
  private readonly sessions = new Map<string, ConsoleSession>();
  private readonly ttlMs: number;
  private readonly now: () => number;

  constructor(options: ConsoleSessionsOptions = {}) {
    this.ttlMs = options.ttlMs ?? DEFAULT_SESSION_TTL_MS;
    this.now = options.now ?? Date.now;
  }

  /** Start a session for an operator who proved `apiKeyId`; returns it with its cookie value. */
  create(apiKeyId: string): { session: ConsoleSession; cookieValue: string } {
    this.prune();
    const id = randomBytes(18).toString('base64url');
    const session: ConsoleSession = {
      id,
      apiKeyId,
      expiresAt: this.now() + this.ttlMs,
      csrfToken: this.mac(`csrf:${id}`),
    };
    this.sessions.set(id, session);
    return { session, cookieValue: `${id}.${this.mac(`session:${id}`)}` };
  }

  /** The live session a cookie value names; undefined when forged, revoked or expired. */
  verify(cookieValue: string | undefined): ConsoleSession | undefined {
    if (!cookieValue) return undefined;
    const dot = cookieValue.indexOf('.');
    if (dot <= 0) return undefined;
    const id = cookieValue.slice(0, dot);
    if (!sameText(cookieValue.slice(dot + 1), this.mac(`session:${id}`))) return undefined;
    const session = this.sessions.get(id);
    if (!session) return undefined;
    if (session.expiresAt <= this.now()) {
      this.sessions.delete(id);
      return undefined;
    }
    return session;
  }

  /** Whether the session `sessionId` is still signed in (not revoked, not expired). */
  isActive(sessionId: string): boolean {
    const session = this.sessions.get(sessionId);
    return session !== undefined && session.expiresAt > this.now();
  }

  /** Whether `token` is the session's CSRF token. */
  checkCsrf(session: ConsoleSession, token: string | undefined): boolean {
    return token !== undefined && sameText(token, session.csrfToken);
  }

  /** Sign-out: the session is refused from now on. */
  revoke(sessionId: string): void {
    this.sessions.delete(sessionId);
  }

  /** Seconds a new session lives (the cookie's Max-Age). */
  get ttlSeconds(): number {
    return Math.floor(this.ttlMs / 1000);
  }

  private mac(text: string): string {
    return createHmac('sha256', this.key).update(text).digest('base64url');
  }

  private prune(): void {
    const now = this.now();
    for (const [id, s] of this.sessions) if (s.expiresAt <= now) this.sessions.delete(id);
    // Map order is insertion order: the first entries are the oldest sessions.
    for (const id of this.sessions.keys()) {
      if (this.sessions.size < MAX_SESSIONS) break;
      this.sessions.delete(id);
    }
  }
}

function sameText(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
