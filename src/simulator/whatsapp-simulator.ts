/**
 * A local stand-in for Meta's WhatsApp Cloud API Calling: Graph endpoints, signed webhooks, and
 * for every call a simulated WhatsApp user behind a real ICE-lite WebRTC relay. Usable in-process
 * (`WhatsAppSimulator.start()`) and as `whatsapp-connector simulate`.
 */
import { randomInt } from 'node:crypto';
import { ConnectorError } from '../errors/connector-error.js';
import type { Logger } from '../log/index.js';
import { silentLogger } from '../log/index.js';
import { HttpServer } from '../server/http-server.js';
import type { WhatsAppWebhookPayload } from '../whatsapp/webhook-payloads.js';
import { newCallId, newMessageId } from './call-id.js';
import { SimulatorControlApi } from './simulator-control-api.js';
import { SoftphoneApi } from './softphone-api.js';
import { serveSoftphonePage } from './softphone-page.js';
import type { UserPhone } from './user-phone.js';
import type { MediaImpairment } from './meta-relay-peer.js';
import { SeededRandom } from './seeded-random.js';
import { SimulatedCall, type CallTiming } from './simulated-call.js';
import {
  SimulatedGraphApi,
  type GraphBackend,
  type GraphFault,
  type GraphRequestRecord,
} from './simulated-graph-api.js';
import {
  createPhoneNumber,
  type SimulatedPhoneNumber,
  type SimulatedPhoneNumberInit,
} from './simulated-phone-number.js';
import {
  SimulatedUser,
  type CallPermissionStatus,
  type SimulatedUserIdentity,
} from './simulated-user.js';
import { isBusinessScopedUserId, whatsAppUserIdKind } from '../whatsapp/whatsapp-user.js';
import { NO_FAULTS, type SimulatorFaults } from './simulator-faults.js';
import { SafeEventEmitter } from '../util/typed-emitter.js';
import { createUserVoice, type UserVoiceSpec } from './user-voice.js';
import { WebhookDispatcher, type WebhookDelivery } from './webhook-dispatcher.js';
import { permissionReplyWebhook } from './webhook-envelopes.js';

/** All of Meta's timers, ms. */
export interface SimulatorTiming extends CallTiming {
  /** Per-attempt webhook HTTP timeout, ms. Default 20000 (Meta's ~20 s). */
  webhookTimeoutMs: number;
  /** Waits before each webhook retry, ms; bounds the retries. Default [1000, 5000, 15000]. */
  webhookRetryDelaysMs: number[];
  /** Delay before the user's reply to a call permission request, ms. Default 500. */
  permissionReplyDelayMs: number;
}

export const DEFAULT_TIMING: Readonly<SimulatorTiming> = {
  acceptTimeoutMs: 45_000,
  ringTimeoutMs: 60_000,
  mediaStartTimeoutMs: 20_000,
  mediaGapTimeoutMs: 30_000,
  connectWebhookDelayMs: 300,
  ringingDelayMs: 200,
  establishTimeoutMs: 10_000,
  webhookTimeoutMs: 20_000,
  webhookRetryDelaysMs: [1000, 5000, 15000],
  permissionReplyDelayMs: 500,
};

/** What the simulated user does when a business calls, unless a test drives the call. */
export interface BusinessCallBehaviour {
  action: 'answer' | 'reject' | 'ignore';
  /** Ring this long first, ms. Default 1000. */
  delayMs?: number;
  /** What the user says once answered. Default silence. */
  voice?: UserVoiceSpec;
}

export interface WhatsAppSimulatorOptions {
  /** Listening port. Default 0 (any free port). */
  port?: number;
  /** Listening address. Default 127.0.0.1. */
  host?: string;
  /** Bearer token the Graph API accepts. Default "simulator-access-token". */
  accessToken?: string;
  /** App secret that signs webhooks. Default "simulator-app-secret". */
  appSecret?: string;
  /** Webhook URL for numbers without their own. Default none (webhooks are only logged). */
  webhookUrl?: string;
  /** Business numbers. Default one: id 106540352242922, +1 555 000 1234. */
  phoneNumbers?: SimulatedPhoneNumberInit[];
  /** Meta's timers; tests shorten them. */
  timing?: Partial<SimulatorTiming>;
  /** Permission a user has before any request. Default `no_permission` (as on Meta). */
  defaultCallPermission?: CallPermissionStatus;
  /**
   * Users known from the start, e.g. a username-only user `{ userId, username }`. Users named by
   * phone number are also created on first use. Default none.
   */
  users?: SimulatedUserIdentity[];
  /** Automatic user behaviour on business-initiated calls. Default none (drive the call). */
  businessCallBehaviour?: BusinessCallBehaviour;
  /** Address the relay peers listen on and advertise. Default 127.0.0.1. */
  relayAddress?: string;
  /** Users stay silent until the business's first RTP packet. Default true. */
  waitForBusinessMedia?: boolean;
  /** Initial faults. Default none. */
  faults?: Partial<SimulatorFaults>;
  /** Seed of the fault PRNG. Default 1. */
  seed?: number;
  /** Graph major versions accepted. Default 17..25 (calling needs ≥ v17.0). */
  graphVersions?: { min: number; max: number };
  /** Concurrent calls per number before 138002. Default 1000. */
  maxConcurrentCalls?: number;
  /** `GET call_permissions` per second before 613. Default 100. */
  permissionsRequestsPerSecond?: number;
  /** Delay of Graph timeouts before the connection is cut, ms. Default 30000. */
  graphTimeoutMs?: number;
  logger?: Logger;
}

export interface PlaceUserCallOptions {
  /**
   * The caller: a phone number (digits, `+` allowed) or the BSUID of a user (a BSUID not known yet
   * makes a username-only user).
   */
  from: string;
  /** Business number called. Default the first configured one. */
  phoneNumberId?: string;
  /** Profile name. Default the number. */
  name?: string;
  /** Username of a caller named by BSUID who is not known yet. Default none. */
  username?: string;
  /** The user's end of the call. Default an in-process simulated phone (see `voice`). */
  phone?: UserPhone;
  /** What the user says once connected. Default silence. */
  voice?: UserVoiceSpec;
}

type SimulatorEvents = {
  /** A call was created (either direction). */
  call: [SimulatedCall];
  /** A webhook was produced. */
  webhook: [WebhookDelivery];
};

export class WhatsAppSimulator extends SafeEventEmitter<SimulatorEvents> implements GraphBackend {
  readonly accessToken: string;
  readonly appSecret: string;
  readonly versionRange: { min: number; max: number };
  readonly maxConcurrentCalls: number;
  readonly permissionsRequestsPerSecond: number;
  readonly graphTimeoutMs: number;
  readonly timing: SimulatorTiming;
  /** Live fault switches (see {@link setFaults}). */
  readonly faults: SimulatorFaults;
  private readonly logger: Logger;
  private readonly http: HttpServer;
  private readonly graph: SimulatedGraphApi;
  private readonly control: SimulatorControlApi;
  private readonly softphone: SoftphoneApi;
  private readonly webhooks: WebhookDispatcher;
  private readonly numbers = new Map<string, SimulatedPhoneNumber>();
  /** Every user, by phone number and by BSUID (and parent BSUID). */
  private readonly usersByName = new Map<string, SimulatedUser>();
  private readonly callsById = new Map<string, SimulatedCall>();
  private readonly unclaimedBusinessCalls: SimulatedCall[] = [];
  private readonly impairment: MediaImpairment;
  private readonly random: SeededRandom;
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly options: WhatsAppSimulatorOptions;
  private globalWebhookUrl: string | undefined;
  private baseUrl = '';
  private closing: Promise<void> | undefined;

  private constructor(options: WhatsAppSimulatorOptions) {
    super((event, err) =>
      (options.logger ?? silentLogger).warn({ err, event }, 'simulator listener threw'),
    );
    this.options = options;
    this.logger = options.logger ?? silentLogger;
    this.accessToken = options.accessToken ?? 'simulator-access-token';
    this.appSecret = options.appSecret ?? 'simulator-app-secret';
    this.globalWebhookUrl = options.webhookUrl;
    this.versionRange = options.graphVersions ?? { min: 17, max: 25 };
    this.maxConcurrentCalls = options.maxConcurrentCalls ?? 1000;
    this.permissionsRequestsPerSecond = options.permissionsRequestsPerSecond ?? 100;
    this.graphTimeoutMs = options.graphTimeoutMs ?? 30_000;
    this.timing = { ...DEFAULT_TIMING, ...options.timing };
    this.faults = { ...NO_FAULTS, ...options.faults };
    // The relay peers read the impairment live, so it mirrors the fault switches.
    const faults = this.faults;
    this.impairment = {
      get packetLossPercent() {
        return faults.packetLossPercent;
      },
      get jitterMs() {
        return faults.jitterMs;
      },
    };
    this.random = new SeededRandom(options.seed ?? 1);
    for (const init of options.phoneNumbers ?? [
      { id: '106540352242922', displayPhoneNumber: '15550001234' },
    ]) {
      const number = createPhoneNumber(init);
      this.numbers.set(number.id, number);
    }
    for (const identity of options.users ?? []) this.addUser(identity);
    this.webhooks = new WebhookDispatcher({
      appSecret: this.appSecret,
      timeoutMs: this.timing.webhookTimeoutMs,
      retryDelaysMs: this.timing.webhookRetryDelaysMs,
      logger: this.logger,
    });
    this.graph = new SimulatedGraphApi(this);
    this.control = new SimulatorControlApi(this);
    this.softphone = new SoftphoneApi(this, this.logger.child({ component: 'softphone' }));
    this.http = new HttpServer({ logger: this.logger });
    this.http.route('/_simulator', (req, res, url) => this.control.handle(req, res, url));
    this.http.route('/_simulator/', (req, res, url) => this.control.handle(req, res, url));
    this.http.route('/_simulator/softphone/', (req, res, url) =>
      this.softphone.handle(req, res, url),
    );
    this.http.route('/softphone', (req, res, url) => serveSoftphonePage(req, res, url));
    this.http.route('/softphone/', (req, res, url) => serveSoftphonePage(req, res, url));
    this.http.route('/', (req, res, url) => this.graph.handle(req, res, url));
  }

  /** Starts the simulator's HTTP server (Graph API + control API). */
  static async start(options: WhatsAppSimulatorOptions = {}): Promise<WhatsAppSimulator> {
    const sim = new WhatsAppSimulator(options);
    const host = options.host ?? '127.0.0.1';
    const port = await sim.http.listen(options.port ?? 0, host);
    const shownHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
    sim.baseUrl = `http://${shownHost.includes(':') ? `[${shownHost}]` : shownHost}:${port}`;
    sim.logger.info({ port }, 'WhatsApp simulator listening');
    return sim;
  }

  /** Graph base URL, without version: requests go to `${graphUrl}/v24.0/{phone-number-id}/calls`. */
  get graphUrl(): string {
    return this.baseUrl;
  }

  /** Control API base URL (`${controlUrl}/calls`, …). */
  get controlUrl(): string {
    return `${this.baseUrl}/_simulator`;
  }

  /** The softphone page: a browser as a WhatsApp user. */
  get softphoneUrl(): string {
    return `${this.baseUrl}/softphone/`;
  }

  /** Address the relay peers (and the softphone's browser legs) listen on. */
  get relayAddress(): string {
    return this.options.relayAddress ?? '127.0.0.1';
  }

  get port(): number {
    return this.http.port;
  }

  get phoneNumbers(): SimulatedPhoneNumber[] {
    return [...this.numbers.values()];
  }

  /** Id of the first configured business number. */
  get defaultPhoneNumberId(): string {
    return this.phoneNumbers[0]?.id ?? '';
  }

  phoneNumber(id: string): SimulatedPhoneNumber | undefined {
    return this.numbers.get(id);
  }

  /** Every call so far (ended ones included), oldest first. */
  get calls(): SimulatedCall[] {
    return [...this.callsById.values()];
  }

  call(id: string): SimulatedCall | undefined {
    return this.callsById.get(id);
  }

  activeCalls(): SimulatedCall[] {
    return this.calls.filter((c) => c.state !== 'ended');
  }

  /** The user with phone number `waId` (created on first use). */
  user(waId: string): SimulatedUser {
    const id = waId.replace(/\D/g, '');
    return this.usersByName.get(id) ?? this.addUser({ phoneNumber: id });
  }

  /** The user a phone number, BSUID or parent BSUID names, if known. */
  findUser(id: string): SimulatedUser | undefined {
    const key = isBusinessScopedUserId(id) ? id.trim() : id.replace(/\D/g, '');
    return this.usersByName.get(key);
  }

  /**
   * The user `id` names, created on first use: a phone number makes a phone user, a BSUID a
   * username-only user (with `username`, if given).
   * @throws ConnectorError `invalid_argument` when `id` is neither, or is a parent BSUID nobody has.
   */
  userNamed(id: string, username?: string): SimulatedUser {
    const known = this.findUser(id);
    if (known) return known;
    const kind = whatsAppUserIdKind(id);
    if (kind === 'phone_number') return this.user(id);
    if (kind === 'bsuid') {
      return this.addUser({ userId: id.trim(), ...(username !== undefined ? { username } : {}) });
    }
    throw new ConnectorError(
      'invalid_argument',
      kind === 'parent_bsuid'
        ? 'no user has this parent BSUID; create the user with its BSUID first'
        : 'a user is named by a phone number (6-15 digits) or a BSUID such as US.13491208655302741918',
    );
  }

  /**
   * Adds a user, e.g. one who adopted a username and has only a BSUID.
   * @throws ConnectorError `invalid_argument` for a malformed identity; `already_exists` when its
   * phone number or BSUID names a known user.
   */
  addUser(identity: SimulatedUserIdentity): SimulatedUser {
    let user: SimulatedUser;
    try {
      user = new SimulatedUser(identity, this.options.defaultCallPermission ?? 'no_permission');
    } catch (err) {
      throw new ConnectorError('invalid_argument', (err as Error).message);
    }
    const names = [user.phoneNumber, user.userId, user.parentUserId].filter(
      (n): n is string => n !== undefined,
    );
    if (names.some((n) => this.usersByName.has(n))) {
      throw new ConnectorError('already_exists', 'a user with this phone number or BSUID exists');
    }
    for (const n of names) this.usersByName.set(n, user);
    return user;
  }

  /** Every known user, in creation order. */
  get users(): SimulatedUser[] {
    return [...new Set(this.usersByName.values())];
  }

  /** Graph requests received, in order (no tokens). */
  get requestLog(): readonly GraphRequestRecord[] {
    return this.graph.log;
  }

  clearRequestLog(): void {
    this.graph.clearLog();
  }

  /** Webhooks produced, in order, with their delivery attempts. */
  get webhookLog(): readonly WebhookDelivery[] {
    return this.webhooks.log;
  }

  /** Resolves when every queued webhook had its first delivery attempt. */
  webhooksIdle(): Promise<void> {
    return this.webhooks.idle();
  }

  /** Sets the webhook URL of one number, or the global one. */
  setWebhookUrl(url: string | undefined, phoneNumberId?: string): void {
    if (phoneNumberId === undefined) {
      this.globalWebhookUrl = url;
      return;
    }
    const number = this.numbers.get(phoneNumberId);
    if (!number) throw new Error(`unknown phone number id ${phoneNumberId}`);
    if (url === undefined) delete number.webhookUrl;
    else number.webhookUrl = url;
  }

  /**
   * Meta's subscription check (reference §5): GET `url` with `hub.mode=subscribe`, a random
   * numeric `hub.challenge` and `hub.verify_token`; the endpoint must answer 200 with exactly the
   * challenge. Throws `ConnectorError` (`failed_precondition`) when it does not.
   */
  async verifyWebhookUrl(url: string, verifyToken: string): Promise<void> {
    const challenge = String(randomInt(1_000_000_000, 2_000_000_000));
    const target = new URL(url);
    target.searchParams.set('hub.mode', 'subscribe');
    target.searchParams.set('hub.challenge', challenge);
    target.searchParams.set('hub.verify_token', verifyToken);
    let status = 0;
    let text = '';
    try {
      const res = await fetch(target, {
        signal: AbortSignal.timeout(this.timing.webhookTimeoutMs),
      });
      status = res.status;
      text = (await res.text()).trim();
    } catch (err) {
      throw new ConnectorError(
        'failed_precondition',
        'webhook verification request failed',
        {},
        { cause: err },
      );
    }
    if (status !== 200 || text !== challenge) {
      throw new ConnectorError(
        'failed_precondition',
        `webhook verification failed: the callback answered ${status} without echoing hub.challenge`,
      );
    }
  }

  webhookUrlFor(phoneNumberId: string): string | undefined {
    return this.numbers.get(phoneNumberId)?.webhookUrl ?? this.globalWebhookUrl;
  }

  /** Changes fault switches; unspecified ones keep their value. */
  setFaults(update: Partial<SimulatorFaults>): SimulatorFaults {
    Object.assign(this.faults, update);
    return this.faults;
  }

  /** @internal Graph fault hook. */
  takeGraphFault(action: string | undefined): GraphFault | undefined {
    const only = this.faults.graphFaultActions;
    if (only.length > 0 && (action === undefined || !only.includes(action))) return undefined;
    if (this.faults.graphTimeoutsNext > 0) {
      this.faults.graphTimeoutsNext--;
      return 'timeout';
    }
    if (this.faults.graphAppliedButUnansweredNext > 0) {
      this.faults.graphAppliedButUnansweredNext--;
      return 'applied_unanswered';
    }
    if (this.faults.graphErrorsNext > 0) {
      this.faults.graphErrorsNext--;
      return 'error';
    }
    return undefined;
  }

  /** A simulated user calls the business; resolves once the connect webhook was queued. */
  async placeUserCall(options: PlaceUserCallOptions): Promise<SimulatedCall> {
    this.assertOpen();
    const number = this.numbers.get(options.phoneNumberId ?? this.defaultPhoneNumberId);
    if (!number) throw new Error(`unknown phone number id ${options.phoneNumberId ?? ''}`);
    const user = this.userNamed(options.from, options.username);
    if (options.name !== undefined) user.name = options.name;
    const voice = options.voice ? await createUserVoice(options.voice) : undefined;
    const call = this.createCall('USER_INITIATED', number, user, undefined, options.phone);
    if (voice) call.speak(voice);
    await call.startUserInitiated(this.faults.terminateBeforeConnect);
    if (number.callbackPermission) {
      // Callback permission: a user who calls grants a temporary permission (reference §6).
      const record = user.setPermission(number.id, 'temporary');
      this.deliver(
        number,
        permissionReplyWebhook(
          number,
          user,
          newMessageId(),
          call.id,
          {
            response: 'accept',
            is_permanent: false,
            expiration_timestamp: String(Math.floor((record.expiresAt ?? 0) / 1000)),
            response_source: 'automatic',
          },
          Date.now(),
        ),
        { field: 'messages', event: 'call_permission_reply', callId: call.id },
      );
    }
    return call;
  }

  /** @internal Graph `connect`. */
  startBusinessCall(init: {
    number: SimulatedPhoneNumber;
    user: SimulatedUser;
    offerSdp: string;
    bizOpaqueCallbackData?: string | undefined;
  }): SimulatedCall {
    const call = this.createCall(
      'BUSINESS_INITIATED',
      init.number,
      init.user,
      init.bizOpaqueCallbackData,
    );
    this.unclaimedBusinessCalls.push(call);
    void call.startBusinessInitiated(init.offerSdp);
    // A user whose phone is a softphone tab answers there; the automatic behaviour is for the rest.
    const behaviour = this.options.businessCallBehaviour;
    if (this.softphone.hasPhone(init.user)) this.softphone.ring(call);
    else if (behaviour) {
      void call
        .waitForState(
          'ringing',
          this.timing.connectWebhookDelayMs + this.timing.ringingDelayMs + 10_000,
        )
        .then(async () => {
          await this.sleep(behaviour.delayMs ?? 1000);
          if (call.state !== 'ringing') return;
          if (behaviour.action === 'reject') call.reject();
          else if (behaviour.action === 'answer') {
            if (behaviour.voice) call.speak(await createUserVoice(behaviour.voice));
            await call.answer();
          }
        })
        .catch((err: unknown) =>
          this.logger.debug({ err, callId: call.id }, 'automatic answer did not happen'),
        );
    }
    return call;
  }

  /**
   * Resolves with the next business-initiated call once the user's phone rings (calls already
   * ringing and not yet handed out come first).
   */
  async waitForBusinessCall(timeoutMs = 10_000): Promise<SimulatedCall> {
    let next = this.unclaimedBusinessCalls.shift();
    while (next && next.state === 'ended') next = this.unclaimedBusinessCalls.shift();
    const call =
      next ??
      (await new Promise<SimulatedCall>((resolve, reject) => {
        const timer = setTimeout(() => {
          this.off('call', onCall);
          reject(new Error(`no business-initiated call within ${timeoutMs} ms`));
        }, timeoutMs);
        const onCall = (c: SimulatedCall) => {
          if (c.direction !== 'BUSINESS_INITIATED') return;
          clearTimeout(timer);
          this.off('call', onCall);
          const i = this.unclaimedBusinessCalls.indexOf(c);
          if (i >= 0) this.unclaimedBusinessCalls.splice(i, 1);
          resolve(c);
        };
        this.on('call', onCall);
      }));
    await call.waitForState('ringing', timeoutMs);
    return call;
  }

  /** @internal Graph `messages` with a call permission request. */
  schedulePermissionReply(
    number: SimulatedPhoneNumber,
    user: SimulatedUser,
    messageId: string,
  ): void {
    const response = user.permissionRequestResponse;
    if (response === 'ignore') return;
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      if (this.closing) return;
      const now = Date.now();
      if (response === 'reject') {
        this.deliver(
          number,
          permissionReplyWebhook(
            number,
            user,
            newMessageId(),
            messageId,
            { response: 'reject', response_source: 'user_action' },
            now,
          ),
          { field: 'messages', event: 'call_permission_reply' },
        );
        return;
      }
      const permanent = response === 'accept_permanent';
      const record = user.setPermission(number.id, permanent ? 'permanent' : 'temporary', now);
      this.deliver(
        number,
        permissionReplyWebhook(
          number,
          user,
          newMessageId(),
          messageId,
          permanent
            ? { response: 'accept', is_permanent: true, response_source: 'user_action' }
            : {
                response: 'accept',
                is_permanent: false,
                expiration_timestamp: String(Math.floor((record.expiresAt ?? 0) / 1000)),
                response_source: 'user_action',
              },
          now,
        ),
        { field: 'messages', event: 'call_permission_reply' },
      );
    }, this.timing.permissionReplyDelayMs);
    this.timers.add(timer);
  }

  private createCall(
    direction: 'USER_INITIATED' | 'BUSINESS_INITIATED',
    number: SimulatedPhoneNumber,
    user: SimulatedUser,
    bizOpaqueCallbackData: string | undefined,
    phone?: UserPhone,
  ): SimulatedCall {
    const id = newCallId(user.key, number.displayPhoneNumber);
    const call = new SimulatedCall({
      id,
      direction,
      number,
      user,
      timing: this.timing,
      impairment: this.impairment,
      random: this.random,
      relayAddress: this.relayAddress,
      waitForBusinessMedia: this.options.waitForBusinessMedia ?? true,
      bizOpaqueCallbackData,
      ...(phone ? { phone } : {}),
      logger: this.logger,
      deliver: (payload, event, field = 'calls') =>
        this.deliver(number, payload, { field, event, callId: id }),
    });
    this.callsById.set(id, call);
    this.logger.info({ callId: id, direction, user: user.key }, 'simulated call created');
    this.emit('call', call);
    return call;
  }

  private deliver(
    number: SimulatedPhoneNumber,
    payload: WhatsAppWebhookPayload,
    meta: { field: string; event: string; callId?: string },
  ): void {
    if (this.closing) return;
    const before = this.webhooks.log.length;
    void this.webhooks.send(this.webhookUrlFor(number.id), payload, meta, this.faults);
    for (const d of this.webhooks.log.slice(before)) this.emit('webhook', d);
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        resolve();
      }, ms);
      this.timers.add(timer);
    });
  }

  private assertOpen(): void {
    if (this.closing) throw new Error('simulator is closed');
  }

  /** Ends every call silently, stops timers and webhooks, closes the server. Idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      for (const t of this.timers) clearTimeout(t);
      this.timers.clear();
      this.webhooks.close();
      this.graph.close();
      this.softphone.close();
      await Promise.all(this.calls.map((c) => c.close()));
      await this.http.close();
      this.removeAllListeners();
    })();
    return this.closing;
  }
}
