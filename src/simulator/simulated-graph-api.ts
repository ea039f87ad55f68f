/**
 * The Graph API side of the simulator: `/{version}/{phone-number-id}[/{edge}]` with Meta's
 * request checks and answers (reference §2, §3, §12.1). Every request is logged (without the
 * token) so tests can assert on exactly what the business sent.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { readBody } from '../server/http-server.js';
import { validateBusinessSession } from './business-sdp-validator.js';
import { newMessageId } from './call-id.js';
import type { SimulatedCall } from './simulated-call.js';
import { GraphErrors, newFbtraceId, SimulatedGraphError } from './simulated-graph-error.js';
import type { SimulatedPhoneNumber } from './simulated-phone-number.js';
import type { CallPermissionStatus, SimulatedUser } from './simulated-user.js';
import { isBusinessScopedUserId, whatsAppUserIdKind } from '../whatsapp/whatsapp-user.js';

/** One Graph request as received, and what the simulator answered. */
export interface GraphRequestRecord {
  seq: number;
  at: string;
  method: string;
  path: string;
  query: Record<string, string>;
  /** Parsed JSON body (or the raw text when it was not JSON). */
  body: unknown;
  /** Whether a correct bearer token was presented (the token itself is never recorded). */
  authorized: boolean;
  /** HTTP status answered; undefined while pending or for a request left unanswered. */
  status?: number;
  response?: unknown;
}

/**
 * A Graph fault: `error` answers 500 (131000), `timeout` never answers, `applied_unanswered`
 * applies the request and then never answers.
 */
export type GraphFault = 'error' | 'timeout' | 'applied_unanswered';

/** What the Graph layer needs from the simulator. */
export interface GraphBackend {
  readonly accessToken: string;
  readonly versionRange: { min: number; max: number };
  readonly maxConcurrentCalls: number;
  readonly permissionsRequestsPerSecond: number;
  phoneNumber(id: string): SimulatedPhoneNumber | undefined;
  /** The user with this phone number (created on first use). */
  user(waId: string): SimulatedUser;
  /** The user a phone number, BSUID or parent BSUID names, if known. */
  findUser(id: string): SimulatedUser | undefined;
  call(id: string): SimulatedCall | undefined;
  activeCalls(): SimulatedCall[];
  /** Creates and starts a business-initiated call. */
  startBusinessCall(init: {
    number: SimulatedPhoneNumber;
    user: SimulatedUser;
    offerSdp: string;
    bizOpaqueCallbackData?: string | undefined;
  }): SimulatedCall;
  /** Schedules the user's reply to a call permission request. */
  schedulePermissionReply(
    number: SimulatedPhoneNumber,
    user: SimulatedUser,
    messageId: string,
  ): void;
  /** Fault hook for a request with `/calls` action `action` (undefined for other requests). */
  takeGraphFault(action: string | undefined): GraphFault | undefined;
  readonly graphTimeoutMs: number;
}

const BODY_LIMIT = 256 * 1024;
const DAY_S = 24 * 3600;

type Json = Record<string, unknown>;

export class SimulatedGraphApi {
  private readonly records: GraphRequestRecord[] = [];
  private readonly heldSockets = new Set<Socket>();
  private readonly permissionGets: number[] = [];
  private seq = 0;

  constructor(private readonly backend: GraphBackend) {}

  get log(): readonly GraphRequestRecord[] {
    return this.records;
  }

  clearLog(): void {
    this.records.length = 0;
  }

  /** Closes connections held open by the timeout fault. */
  close(): void {
    for (const s of this.heldSockets) s.destroy();
    this.heldSockets.clear();
  }

  async handle(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const method = req.method ?? 'GET';
    const record: GraphRequestRecord = {
      seq: ++this.seq,
      at: new Date().toISOString(),
      method,
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      body: undefined,
      authorized: false,
    };
    this.records.push(record);
    const answer = (status: number, body: unknown) => {
      record.status = status;
      record.response = body;
      res
        .writeHead(status, { 'Content-Type': 'application/json; charset=UTF-8' })
        .end(JSON.stringify(body));
    };
    try {
      const raw = method === 'POST' ? (await readBody(req, BODY_LIMIT)).toString('utf8') : '';
      record.body = parseBody(raw);
      const action = (record.body as { action?: unknown } | undefined)?.action;
      const fault = this.backend.takeGraphFault(typeof action === 'string' ? action : undefined);
      if (fault === 'timeout') {
        this.hold(req);
        return;
      }
      if (fault === 'error') throw GraphErrors.somethingWentWrong();
      if (fault === 'applied_unanswered') {
        // Meta did the work; its answer never reaches the business.
        record.response = await this.route(method, url, req, record).catch((err: unknown) => err);
        this.hold(req);
        return;
      }
      const result = await this.route(method, url, req, record);
      answer(200, result);
    } catch (err) {
      const error =
        err instanceof SimulatedGraphError
          ? err
          : new SimulatedGraphError({
              status: 500,
              code: 1,
              message: 'An unknown error occurred',
              isTransient: true,
            });
      answer(error.status, error.toBody(newFbtraceId()));
    }
  }

  /** The "Graph timeout" fault: read the request, never answer, cut the connection later. */
  private hold(req: IncomingMessage): void {
    const socket = req.socket;
    this.heldSockets.add(socket);
    const timer = setTimeout(() => socket.destroy(), this.backend.graphTimeoutMs);
    timer.unref();
    socket.once('close', () => {
      clearTimeout(timer);
      this.heldSockets.delete(socket);
    });
  }

  private async route(
    method: string,
    url: URL,
    req: IncomingMessage,
    record: GraphRequestRecord,
  ): Promise<unknown> {
    const segments = url.pathname.split('/').filter((s) => s.length > 0);
    const [version, objectId, edge, ...rest] = segments;
    if (version === undefined || objectId === undefined || rest.length > 0) {
      throw GraphErrors.unknownPath(url.pathname);
    }
    const versionMatch = /^v(\d+)\.(\d+)$/.exec(version);
    if (!versionMatch) throw GraphErrors.unknownPath(url.pathname);
    this.authorize(req, url);
    record.authorized = true;
    const major = Number(versionMatch[1]);
    const { min, max } = this.backend.versionRange;
    if (major < min || major > max || versionMatch[2] !== '0') {
      throw GraphErrors.unsupportedVersion(version);
    }
    const number = this.backend.phoneNumber(objectId);
    if (!number) throw GraphErrors.unknownObject(objectId, method);
    const body = (record.body ?? {}) as unknown;
    const key = `${method} ${edge ?? ''}`;
    switch (key) {
      case 'GET ':
        return {
          verified_name: 'Simulated Business',
          display_phone_number: `+${number.displayPhoneNumber}`,
          id: number.id,
          quality_rating: 'GREEN',
        };
      case 'POST calls':
        return this.calls(number, asObject(body));
      case 'GET call_permissions':
        return this.callPermissions(number, url);
      case 'POST messages':
        return this.messages(number, asObject(body));
      case 'GET settings':
        return this.getSettings(number);
      case 'POST settings':
        return this.postSettings(number, asObject(body));
      default:
        throw GraphErrors.unknownObject(`${objectId}/${edge ?? ''}`, method);
    }
  }

  private authorize(req: IncomingMessage, url: URL): void {
    const header = req.headers.authorization;
    const token =
      typeof header === 'string' && /^(Bearer|OAuth) /i.test(header)
        ? header.replace(/^(Bearer|OAuth) /i, '').trim()
        : (url.searchParams.get('access_token') ?? undefined);
    if (token === undefined || token === '') throw GraphErrors.missingToken();
    if (token !== this.backend.accessToken) throw GraphErrors.invalidToken();
  }

  // ----------------------------------------------------------------------------------- /calls

  private async calls(number: SimulatedPhoneNumber, body: Json): Promise<unknown> {
    if (number.sipEnabled) throw GraphErrors.sipEnabled();
    if (!number.callingEnabled) throw GraphErrors.callingNotEnabled();
    requireMessagingProduct(body);
    const action = body.action;
    if (typeof action !== 'string')
      throw GraphErrors.invalidParameter('The parameter action is required.');
    const opaque = optionalOpaque(body.biz_opaque_callback_data);
    if (action === 'connect') return this.connect(number, body, opaque);
    if (!['pre_accept', 'accept', 'reject', 'terminate'].includes(action)) {
      throw GraphErrors.invalidParameter(
        `Invalid action '${action}'. Supported actions: connect, pre_accept, accept, reject, terminate.`,
      );
    }
    const callId = body.call_id;
    if (typeof callId !== 'string' || callId === '') {
      throw GraphErrors.invalidParameter('The parameter call_id is required.');
    }
    const call = this.backend.call(callId);
    if (!call || call.number.id !== number.id) {
      throw GraphErrors.invalidParameter(
        `Invalid call_id: no call ${callId} exists for this phone number.`,
      );
    }
    switch (action) {
      case 'pre_accept': {
        validateBusinessSession(body.session, 'answer');
        await applying(() => call.businessPreAccept((body.session as { sdp: string }).sdp));
        break;
      }
      case 'accept': {
        validateBusinessSession(body.session, 'answer');
        await applying(() => call.businessAccept((body.session as { sdp: string }).sdp, opaque));
        break;
      }
      case 'reject':
        call.businessReject();
        break;
      default:
        call.businessTerminate();
    }
    return { messaging_product: 'whatsapp', success: true };
  }

  /**
   * The user a request names: `to` (a phone number) or `recipient` (a BSUID or parent BSUID);
   * "if you include both `to` and `recipient`, `to` takes precedence" (reference §2.1).
   */
  private namedUser(body: Json): SimulatedUser {
    const { to, recipient } = body;
    if (to !== undefined) {
      const text = typeof to === 'string' ? to.trim() : '';
      const kind = whatsAppUserIdKind(text);
      if (kind === 'bsuid' || kind === 'parent_bsuid') {
        throw GraphErrors.userIdInPhoneNumberField('to');
      }
      if (kind !== 'phone_number') {
        throw GraphErrors.invalidParameter('The parameter to must be a phone number.');
      }
      return this.backend.user(text);
    }
    if (recipient !== undefined) {
      if (typeof recipient !== 'string' || !isBusinessScopedUserId(recipient)) {
        throw GraphErrors.recipientNotUserId();
      }
      const user = this.backend.findUser(recipient);
      if (!user) throw GraphErrors.unknownUserId();
      return user;
    }
    throw GraphErrors.invalidParameter('The parameter to or recipient is required.');
  }

  private connect(number: SimulatedPhoneNumber, body: Json, opaque: string | undefined): unknown {
    const user = this.namedUser(body);
    validateBusinessSession(body.session, 'offer');
    if (user.permission(number.id).status === 'no_permission') throw GraphErrors.noCallPermission();
    const active = this.backend.activeCalls();
    if (active.some((c) => c.user === user)) throw GraphErrors.duplicateCall();
    if (active.filter((c) => c.number.id === number.id).length >= this.backend.maxConcurrentCalls) {
      throw GraphErrors.concurrentCallsLimit(this.backend.maxConcurrentCalls);
    }
    if (user.connectedBusinessCallsToday(number.id) >= 100)
      throw GraphErrors.businessInitiatedCallsLimit();
    const call = this.backend.startBusinessCall({
      number,
      user,
      offerSdp: (body.session as { sdp: string }).sdp,
      bizOpaqueCallbackData: opaque,
    });
    return { messaging_product: 'whatsapp', calls: [{ id: call.id }] };
  }

  // -------------------------------------------------------------------------- call permissions

  private callPermissions(number: SimulatedPhoneNumber, url: URL): unknown {
    const now = Date.now();
    while ((this.permissionGets[0] ?? now) <= now - 1000) this.permissionGets.shift();
    if (this.permissionGets.length >= this.backend.permissionsRequestsPerSecond) {
      throw GraphErrors.permissionsRateLimit();
    }
    this.permissionGets.push(now);
    const user = this.permissionsUser(url);
    const permission = user.permission(number.id, now);
    const requests24h = user.requestsWithin(number.id, DAY_S * 1000, now);
    const requests7d = user.requestsWithin(number.id, 7 * DAY_S * 1000, now);
    const calls24h = user.connectedBusinessCallsToday(number.id, now);
    const nowS = Math.floor(now / 1000);
    const limit = (period: string, max: number, usage: number, windowS: number) => ({
      time_period: period,
      max_allowed: max,
      current_usage: usage,
      ...(usage >= max ? { limit_expiration_time: nowS + windowS } : {}),
    });
    return {
      messaging_product: 'whatsapp',
      permission: {
        status: permission.status,
        ...(permission.expiresAt !== undefined
          ? { expiration_time: Math.floor(permission.expiresAt / 1000) }
          : {}),
      },
      actions: [
        {
          action_name: 'send_call_permission_request',
          can_perform_action:
            permission.status !== 'permanent' && requests24h < 1 && requests7d < 2,
          limits: [limit('PT24H', 1, requests24h, DAY_S), limit('P7D', 2, requests7d, 7 * DAY_S)],
        },
        {
          action_name: 'start_call',
          can_perform_action: permission.status !== 'no_permission' && calls24h < 100,
          limits: [limit('PT24H', 100, calls24h, DAY_S)],
        },
      ],
    };
  }

  /** `?user_wa_id=<phone number>` or `?recipient=<BSUID>` (reference §2.6). */
  private permissionsUser(url: URL): SimulatedUser {
    const waId = url.searchParams.get('user_wa_id');
    const recipient = url.searchParams.get('recipient');
    if (waId !== null) {
      const kind = whatsAppUserIdKind(waId);
      if (kind === 'bsuid' || kind === 'parent_bsuid') {
        throw GraphErrors.userIdInPhoneNumberField('user_wa_id');
      }
      if (kind !== 'phone_number') {
        throw GraphErrors.invalidParameter('The parameter user_wa_id must be a phone number.');
      }
      return this.backend.user(waId);
    }
    if (recipient !== null) {
      if (!isBusinessScopedUserId(recipient)) throw GraphErrors.recipientNotUserId();
      const user = this.backend.findUser(recipient);
      if (!user) throw GraphErrors.unknownUserId();
      return user;
    }
    throw GraphErrors.invalidParameter('The parameter user_wa_id or recipient is required.');
  }

  // ----------------------------------------------------------------------------------- messages

  private messages(number: SimulatedPhoneNumber, body: Json): unknown {
    requireMessagingProduct(body);
    const user = this.namedUser(body);
    if (typeof body.type !== 'string')
      throw GraphErrors.invalidParameter('The parameter type is required.');
    const messageId = newMessageId();
    const interactive = asObject(body.interactive);
    const isPermissionRequest =
      (body.type === 'interactive' && interactive.type === 'call_permission_request') ||
      (body.type === 'template' &&
        JSON.stringify(body.template ?? {}).includes('call_permission_request'));
    if (body.type === 'interactive' && interactive.type === undefined) {
      throw GraphErrors.invalidParameter('The parameter interactive.type is required.');
    }
    if (isPermissionRequest) {
      const permission = user.permission(number.id);
      if (permission.status === 'permanent') throw GraphErrors.permanentPermissionExists();
      if (
        user.requestsWithin(number.id, DAY_S * 1000) >= 1 ||
        user.requestsWithin(number.id, 7 * DAY_S * 1000) >= 2
      ) {
        throw GraphErrors.permissionRequestLimit();
      }
      user.recordPermissionRequest(number.id);
      this.backend.schedulePermissionReply(number, user, messageId);
    }
    // A send by phone number reports `wa_id`, a send by BSUID reports `user_id` and no number
    // (Meta's BSUID page as relayed by provider docs; see docs/whatsapp-usernames-bsuid.md).
    const byPhone = body.to !== undefined;
    return {
      messaging_product: 'whatsapp',
      contacts: [
        byPhone
          ? { input: body.to, wa_id: user.phoneNumber }
          : {
              input: body.recipient,
              user_id: user.userId,
              ...(user.parentUserId !== undefined ? { parent_user_id: user.parentUserId } : {}),
            },
      ],
      messages: [{ id: messageId }],
    };
  }

  // ----------------------------------------------------------------------------------- settings

  private getSettings(number: SimulatedPhoneNumber): unknown {
    return {
      calling: {
        status: number.callingEnabled ? 'ENABLED' : 'DISABLED',
        call_icon_visibility: number.callIconVisibility,
        callback_permission_status: number.callbackPermission ? 'ENABLED' : 'DISABLED',
        sip: { status: number.sipEnabled ? 'ENABLED' : 'DISABLED' },
      },
    };
  }

  private postSettings(number: SimulatedPhoneNumber, body: Json): unknown {
    const calling = asObject(body.calling);
    const enabled = (v: unknown, name: string): boolean | undefined => {
      if (v === undefined) return undefined;
      if (v !== 'ENABLED' && v !== 'DISABLED') {
        throw GraphErrors.invalidParameter(`calling.${name} must be ENABLED or DISABLED.`);
      }
      return v === 'ENABLED';
    };
    const status = enabled(calling.status, 'status');
    const callback = enabled(calling.callback_permission_status, 'callback_permission_status');
    const sip = enabled(asObject(calling.sip).status, 'sip.status');
    const icon = calling.call_icon_visibility;
    if (icon !== undefined && icon !== 'DEFAULT' && icon !== 'DISABLE_ALL') {
      throw GraphErrors.invalidParameter(
        'calling.call_icon_visibility must be DEFAULT or DISABLE_ALL.',
      );
    }
    if (status !== undefined) number.callingEnabled = status;
    if (callback !== undefined) number.callbackPermission = callback;
    if (sip !== undefined) number.sipEnabled = sip;
    if (icon !== undefined) number.callIconVisibility = icon;
    return { success: true };
  }
}

function parseBody(raw: string): unknown {
  if (raw === '') return undefined;
  try {
    return JSON.parse(raw) as unknown;
  } catch {
    throw GraphErrors.invalidParameter('The request body is not valid JSON.');
  }
}

function asObject(v: unknown): Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Json) : {};
}

function requireMessagingProduct(body: Json): void {
  if (body.messaging_product !== 'whatsapp') {
    throw GraphErrors.invalidParameter(
      "The parameter messaging_product is required and must be 'whatsapp'.",
    );
  }
}

function optionalOpaque(v: unknown): string | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || v.length > 512) {
    throw GraphErrors.invalidParameter(
      'biz_opaque_callback_data must be a string of at most 512 characters.',
    );
  }
  return v;
}

/** Runs an SDP application; a werift parse failure becomes Meta's SDP error. */
async function applying(fn: () => Promise<void>): Promise<void> {
  try {
    await fn();
  } catch (err) {
    if (err instanceof SimulatedGraphError) throw err;
    throw GraphErrors.invalidSdp(err instanceof Error ? err.message : 'could not apply SDP');
  }
}

export type { CallPermissionStatus };
