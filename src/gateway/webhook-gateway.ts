/**
 * The built-in WhatsApp webhook gateway: Meta's calls (and every other field) arrive here, are
 * checked, answered at once, forwarded to the business's own app if configured, and then drive the
 * calls through the call router, wherever in the cluster they are held — user-initiated
 * `connect` → accept per the number's routing rule, business-initiated `connect` → Meta's answer
 * applied to the dialled call, `terminate` → the user's hang-up (with Meta's reason), call
 * statuses → the call's progress. Meta delivers at least once and in any order; every step here
 * is idempotent.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  CallEndedError,
  CallNotFoundError,
  CapacityError,
  DrainingError,
  RoomNotReadyError,
} from '../calls/call-errors.js';
import type { AcceptParams, CallOperations, OperationContext } from '../calls/call-params.js';
import {
  agentDispatch,
  defaultAcceptIdentity,
  generateWhatsAppRoomName,
} from '../calls/participant-defaults.js';
import type { Config } from '../config/index.js';
import type { Logger } from '../log/index.js';
import { BodyTooLargeError, readBody } from '../server/http-server.js';
import {
  FORWARD_QUEUE,
  QueueConsumer,
  StoreError,
  WEBHOOK_QUEUE,
  type DeliveryOutcome,
  type DurableQueue,
  type QueueEntry,
  type StateStore,
} from '../store/index.js';
import { SafeEventEmitter } from '../util/typed-emitter.js';
import type { WhatsAppGraphClient } from '../whatsapp/graph-client.js';
import {
  parseWebhookRawBody,
  type CallConnectEvent,
  type CallPermissionReplyEvent,
  type CallStatusEvent,
  type CallTerminateEvent,
  type WhatsAppWebhookEvent,
} from '../whatsapp/webhook-events.js';
import { WEBHOOK_SIGNATURE_HEADER, verifyWebhookSignature } from '../whatsapp/webhook-signature.js';
import { verifyWebhookSubscription } from '../whatsapp/webhook-verification.js';
import {
  phoneNumberDigits,
  whatsAppUserIdKind,
  type WhatsAppUser,
} from '../whatsapp/whatsapp-user.js';
import { isWithinBusinessHours } from './business-hours.js';
import { CallPermissionStore } from './call-permission-store.js';
import { renderCallTemplate, type CallTemplateValues } from './call-template.js';
import type { GatewaySettings, InboundRule, PhoneNumberRule } from './gateway-config.js';
import { RoomReadiness } from './room-readiness.js';
import { WebhookForwarder } from './webhook-forwarder.js';
import {
  WebhookReceiptLog,
  type WebhookReceiptHandle,
  type WebhookSignatureResult,
} from './webhook-receipts.js';

/** Largest webhook body accepted, bytes. Meta batches up to 1000 updates per POST. */
export const MAX_WEBHOOK_BODY_BYTES = 4 * 1024 * 1024;

/** How long a terminate or status event may take to reach the instance holding its call, ms. */
const WEBHOOK_EVENT_TIMEOUT_MS = 15_000;

/** How long event keys are remembered to drop redeliveries, ms. */
export const DEDUPE_WINDOW_MS = 10 * 60_000;

/**
 * How long a terminate for an unknown call is remembered, so that its late `connect` (Meta does
 * not order webhooks) is not answered, ms.
 */
export const TERMINATE_TOMBSTONE_MS = 10 * 60_000;

/** What the gateway did with one event. */
export type WebhookEventOutcome =
  /** Inbound call accepted into its room. */
  | 'accepted'
  /** Inbound call rejected at Meta because it came outside business hours. */
  | 'rejected_outside_hours'
  /** Inbound call left unanswered because it came outside business hours (`outside_hours: ignore`). */
  | 'ignored_outside_hours'
  /** Inbound call rejected at Meta: nobody in the room published audio in time. */
  | 'rejected_room_not_ready'
  /** No rule (or inbound disabled) for the number: left to the business's own app. */
  | 'no_rule'
  /** Business-initiated call not dialled through this connector: left alone. */
  | 'not_ours'
  /** A redelivery of an event already handled. */
  | 'duplicate'
  /** Older than `maxWebhookAgeSeconds`; not acted on. */
  | 'stale'
  /** A connect whose call had already been terminated. */
  | 'terminated_before_connect'
  /** Meta's SDP answer applied to a dialled call. */
  | 'connected'
  /** The user's (or Meta's) hang-up applied. */
  | 'hung_up'
  /** A call status applied. */
  | 'status_applied'
  /** A call permission reply recorded. */
  | 'permission_recorded'
  /** Not a call event; forwarding (if configured) is all that happens. */
  | 'not_a_call_event'
  /** Signed with a secret that is not this number's app secret. */
  | 'wrong_app'
  /** Handling failed; see `error`. */
  | 'failed';

export interface ProcessedWebhookEvent {
  event: WhatsAppWebhookEvent;
  outcome: WebhookEventOutcome;
  /** For accepted inbound calls. */
  roomName?: string;
  error?: Error;
}

/** An inbound call that matched a rule, announced before it is accepted. */
export interface InboundCallRouting {
  callId: string;
  phoneNumberId: string;
  roomName: string;
  participantIdentity: string;
  /** The caller's number, digits. */
  caller: string | undefined;
  /** Whether the accept waits for a room participant's audio. */
  waitsForAgent: boolean;
}

export interface WebhookGatewayEvents extends Record<string, unknown[]> {
  inboundCall: [InboundCallRouting];
  processed: [ProcessedWebhookEvent];
  /** A POST failed its signature check (`missing`, `mismatch`, `no_secret`); nothing was done. */
  signatureRefused: [reason: WebhookSignatureResult];
  /** A forward attempt from the durable queue: delivered, to be retried, or dead-lettered. */
  forward: [DeliveryOutcome];
}

/** Webhook events (processed one by one, not in batches) handled at once per instance. */
const WEBHOOK_QUEUE_CONCURRENCY = 64;
/** Forwards delivered at once per instance. */
const FORWARD_QUEUE_CONCURRENCY = 8;
/**
 * Lease of a webhook being processed, ms: longer than an accept takes, short enough that the
 * events a crashed process was processing are taken up again soon after a restart.
 */
const WEBHOOK_LEASE_MS = 45_000;

/**
 * A queued webhook: Meta's `X-Hub-Signature-256` header, a newline, then the body byte for byte.
 * The signature is kept (not the secrets it matched) so processing checks it again, and the
 * forward carries Meta's own signature.
 */
function encodeQueuedWebhook(signature: string, raw: Buffer): Buffer {
  return Buffer.concat([Buffer.from(`${signature}\n`, 'utf8'), raw]);
}

function decodeQueuedWebhook(payload: Buffer): { signature: string; raw: Buffer } {
  const newline = payload.indexOf(0x0a);
  if (newline < 0) return { signature: '', raw: payload };
  return {
    signature: payload.subarray(0, newline).toString('utf8'),
    raw: payload.subarray(newline + 1),
  };
}

export interface WebhookGatewayOptions {
  settings: GatewaySettings;
  config: Config;
  /** The calls, wherever they are held (the call router the Connector API drives too). */
  calls: CallOperations;
  /** Graph client for rejecting calls no call object was made for. */
  graph: WhatsAppGraphClient;
  logger: Logger;
  /** Clock for business hours and webhook age. Default `() => new Date()`. */
  now?: () => Date;
  /** Forwarder override (tests). Default: one built from `settings.forwardUrl`. */
  forwarder?: WebhookForwarder;
}

/** Result of checking a POST's signature: the secrets it matched. */
interface SignatureCheck {
  ok: boolean;
  result: WebhookSignatureResult;
  status?: 401 | 403;
  reason?: string;
  secrets: string[];
}

export class WebhookGateway extends SafeEventEmitter<WebhookGatewayEvents> {
  readonly settings: GatewaySettings;
  /** Call permission replies seen in webhooks. */
  readonly permissions = new CallPermissionStore();
  /** The latest webhooks received: signature, types, outcomes, latency, forwarding. */
  readonly receipts = new WebhookReceiptLog();
  private readonly config: Config;
  private readonly calls: CallOperations;
  private readonly graph: WhatsAppGraphClient;
  private readonly logger: Logger;
  private readonly now: () => Date;
  private readonly rules = new Map<string, PhoneNumberRule>();
  private readonly readiness: RoomReadiness;
  private readonly forwarder: WebhookForwarder | undefined;
  private readonly seen = new Map<string, number>();
  private readonly tombstones = new Map<string, number>();
  /** Inbound calls waiting for their room, by call id: aborted when the call terminates. */
  private readonly gated = new Map<string, AbortController>();
  private readonly tasks = new Set<Promise<void>>();
  private readonly abort = new AbortController();
  private sweepTimer: NodeJS.Timeout;
  private closed = false;
  /** Durable queues (see {@link attachQueues}); without them webhooks are processed in memory. */
  private webhookQueue: DurableQueue | undefined;
  private forwardQueue: DurableQueue | undefined;
  private webhookConsumer: QueueConsumer | undefined;
  private forwardConsumer: QueueConsumer | undefined;
  /** Receipts of webhooks queued by this process, by queue entry id. */
  private readonly queuedReceipts = new Map<string, WebhookReceiptHandle>();
  /** Forward queue entry id → the receipt it reports to. */
  private readonly forwardReceipts = new Map<string, WebhookReceiptHandle>();
  /** While draining: whether a call is held here (its webhooks are still taken). */
  private drainingHolds: ((callId: string) => boolean) | undefined;
  /** The webhook queue is the cluster's (Redis): any instance processes what is queued. */
  private sharedQueue = false;

  constructor(options: WebhookGatewayOptions) {
    super((event, err) => options.logger.error({ err, event }, 'gateway listener threw'));
    this.settings = options.settings;
    this.config = options.config;
    this.calls = options.calls;
    this.graph = options.graph;
    this.logger = options.logger.child({ component: 'webhook-gateway' });
    this.now = options.now ?? (() => new Date());
    for (const rule of options.settings.numbers) this.rules.set(rule.phoneNumberId, rule);
    this.readiness = new RoomReadiness(options.config.livekit);
    this.forwarder =
      options.forwarder ??
      (options.settings.forwardUrl
        ? new WebhookForwarder({
            url: options.settings.forwardUrl,
            maxAttempts: options.settings.forwardMaxAttempts,
            timeoutMs: options.settings.forwardTimeoutMs,
            logger: this.logger.child({ component: 'webhook-forwarder' }),
          })
        : undefined);
    this.sweepTimer = setInterval(() => this.sweep(), 60_000);
    this.sweepTimer.unref();
  }

  /**
   * Make webhooks durable: each is queued in `store` before Meta gets its 200 (a queue that
   * cannot take it answers 503, so Meta retries), processed from there, and forwarded through a
   * second queue with retries and a dead-letter list. `consumer` names this instance's leases.
   */
  attachQueues(store: StateStore, consumer: string): void {
    if (this.webhookQueue || this.closed) return;
    this.sharedQueue = store.kind === 'redis';
    this.webhookQueue = store.queue(WEBHOOK_QUEUE, { leaseMs: WEBHOOK_LEASE_MS });
    this.webhookConsumer = new QueueConsumer({
      queue: this.webhookQueue,
      consumer,
      concurrency: WEBHOOK_QUEUE_CONCURRENCY,
      handle: (entry) => this.processQueued(entry),
      logger: this.logger,
    });
    if (this.forwarder) {
      this.forwardQueue = store.queue(FORWARD_QUEUE, {
        maxAttempts: this.settings.forwardMaxAttempts,
        leaseMs: Math.max(30_000, this.settings.forwardTimeoutMs * 2),
      });
      this.forwardConsumer = new QueueConsumer({
        queue: this.forwardQueue,
        consumer,
        concurrency: FORWARD_QUEUE_CONCURRENCY,
        handle: (entry) => this.deliverForward(entry),
        onOutcome: (outcome, entry) => this.onForwardOutcome(outcome, entry),
        logger: this.logger.child({ component: 'webhook-forwarder' }),
      });
      this.forwardConsumer.start();
    }
    this.webhookConsumer.start();
  }

  /**
   * Shutting down. With a local queue, webhooks are answered 503 (Meta retries them, at another
   * instance or after the restart) unless every call event in them is for a call still held here
   * (`holds`), so hang-ups keep reaching the live calls. With the cluster's queue (Redis) they are
   * still taken: any instance processes them, and a new call is placed on an instance that is not
   * draining. Queued ones go on being processed.
   */
  startDraining(holds: (callId: string) => boolean): void {
    this.drainingHolds = holds;
  }

  /** The routing rule of a business number, if configured. */
  rule(phoneNumberId: string): PhoneNumberRule | undefined {
    return this.rules.get(phoneNumberId);
  }

  /** HTTP entry point for the webhook path (GET verification, POST events). */
  handle = async (req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> => {
    if (req.method === 'GET') return this.handleVerification(res, url);
    if (req.method !== 'POST') {
      res
        .writeHead(405, { Allow: 'GET, POST', 'Content-Type': 'text/plain' })
        .end('method not allowed');
      return;
    }
    let raw: Buffer;
    try {
      raw = await readBody(req, MAX_WEBHOOK_BODY_BYTES);
    } catch (err) {
      if (err instanceof BodyTooLargeError) {
        this.logger.warn({ limit: MAX_WEBHOOK_BODY_BYTES }, 'webhook body too large; refused');
        res.writeHead(413, { 'Content-Type': 'text/plain' }).end('payload too large');
        return;
      }
      throw err;
    }
    const check = this.checkSignature(raw, headerValue(req, WEBHOOK_SIGNATURE_HEADER));
    if (!check.ok) {
      // Never the body: it is unauthenticated and may carry personal data.
      this.logger.warn(
        {
          reason: check.reason,
          status: check.status,
          bytes: raw.length,
          remote: req.socket.remoteAddress,
        },
        'webhook refused: signature check failed',
      );
      res.writeHead(check.status ?? 403, { 'Content-Type': 'text/plain' }).end('invalid signature');
      this.emit('signatureRefused', check.result);
      if (check.result !== 'ok')
        this.receipts.refused(raw.length, check.result, check.status ?? 403);
      return;
    }
    if (this.drainingHolds && !this.sharedQueue && !this.concernsOnlyHeldCalls(raw)) {
      // Meta retries: the webhook reaches an instance that is not shutting down, or this one's
      // successor (the load balancer stopped sending here once /readyz said 503).
      res.writeHead(503, { 'Content-Type': 'text/plain', 'Retry-After': '5' }).end('shutting down');
      return;
    }
    if (this.webhookQueue) {
      let id: string;
      try {
        id = await this.webhookQueue.enqueue(
          encodeQueuedWebhook(headerValue(req, WEBHOOK_SIGNATURE_HEADER) ?? '', raw),
        );
      } catch (err) {
        if (!(err instanceof StoreError)) throw err;
        this.logger.warn(
          { reason: err.message, error: err.name },
          'webhook not queued (state store full or unavailable); answered 503 so Meta retries',
        );
        res
          .writeHead(503, { 'Content-Type': 'text/plain', 'Retry-After': '5' })
          .end('cannot queue the webhook now');
        return;
      }
      // Durably queued: Meta may forget it now. The work happens after the answer (Meta retries
      // on anything slower than ~20 s, and accepting a call takes seconds).
      res.writeHead(200, { 'Content-Type': 'text/plain' }).end('OK');
      this.queuedReceipts.set(id, this.receipts.accepted(raw.length, this.forwarder !== undefined));
      this.webhookConsumer?.wake();
      return;
    }
    // No state store (a gateway used on its own): processed in memory after the answer.
    res.writeHead(200, { 'Content-Type': 'text/plain' }).end('OK');
    const receipt = this.receipts.accepted(raw.length, this.forwarder !== undefined);
    this.track(this.process(raw, check.secrets, receipt).then(() => undefined));
  };

  /** Whether every event of `raw` is a call event for a call held here (see `startDraining`). */
  private concernsOnlyHeldCalls(raw: Buffer): boolean {
    const holds = this.drainingHolds;
    if (!holds) return true;
    const { events } = parseWebhookRawBody(raw);
    if (events.length === 0) return false;
    return events.every(
      (e) =>
        (e.kind === 'call_terminate' ||
          e.kind === 'call_status' ||
          (e.kind === 'call_connect' && e.session.sdpType !== 'offer')) &&
        holds(e.callId),
    );
  }

  /** One queued webhook: checked again, handed to the forward queue, then processed. */
  private async processQueued(entry: QueueEntry): Promise<void> {
    const { signature, raw } = decodeQueuedWebhook(entry.payload);
    const check = this.checkSignature(raw, signature);
    const receipt =
      this.queuedReceipts.get(entry.id) ??
      this.receipts.accepted(raw.length, this.forwarder !== undefined);
    this.queuedReceipts.delete(entry.id);
    if (!check.ok) {
      // The app secret changed since it was queued: nothing to trust it with.
      this.logger.warn({ reason: check.reason }, 'queued webhook no longer verifies; dropped');
      return;
    }
    if (this.forwardQueue) {
      // Before the webhook entry is acknowledged: a crash in between forwards it twice at worst.
      const id = await this.forwardQueue.enqueue(entry.payload);
      this.forwardReceipts.set(id, receipt);
      this.forwardConsumer?.wake();
    }
    const outcomes = await this.process(raw, check.secrets, receipt, false);
    if (this.closed && outcomes.includes('failed')) {
      // Cut short by the shutdown: not acknowledged, so the next process (or a peer) takes it up
      // again; every step of processing is idempotent.
      throw new Error('gateway closed while the webhook was processed');
    }
  }

  private async deliverForward(entry: QueueEntry): Promise<void> {
    const { signature, raw } = decodeQueuedWebhook(entry.payload);
    const secret = this.checkSignature(raw, signature).secrets[0];
    await this.forwarder!.attemptOnce(raw, secret);
  }

  private onForwardOutcome(outcome: DeliveryOutcome, entry: QueueEntry): void {
    this.emit('forward', outcome);
    if (outcome === 'retried') return;
    const receipt = this.forwardReceipts.get(entry.id);
    this.forwardReceipts.delete(entry.id);
    receipt?.forwarded(outcome === 'acked', entry.attempts);
  }

  /**
   * Resolves when every webhook received so far has been processed, and forwarded or given up on
   * (tests, shutdown).
   */
  async idle(): Promise<void> {
    for (;;) {
      while (this.tasks.size > 0) await Promise.allSettled([...this.tasks]);
      await this.forwarder?.idle();
      const pending = async (queue: DurableQueue | undefined) => {
        if (!queue) return 0;
        const sizes = await queue.sizes().catch(() => undefined);
        return sizes ? sizes.ready + sizes.inFlight + sizes.delayed : 0;
      };
      const busy =
        (this.webhookConsumer?.busy ?? 0) +
        (this.forwardConsumer?.busy ?? 0) +
        (await pending(this.webhookQueue)) +
        (await pending(this.forwardQueue));
      if (busy === 0 && this.tasks.size === 0) return;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /** Stop processing; gated accepts are abandoned. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.sweepTimer);
    this.abort.abort(new Error('gateway closed'));
    for (const c of this.gated.values()) c.abort(new Error('gateway closed'));
    await Promise.all([this.webhookConsumer?.stop(5000), this.forwardConsumer?.stop(5000)]);
    this.forwarder?.close();
    await Promise.allSettled([...this.tasks]);
    this.removeAllListeners();
  }

  // ---- HTTP -------------------------------------------------------------------------------------

  private handleVerification(res: ServerResponse, url: URL): void {
    const result = verifyWebhookSubscription(url.searchParams, this.settings.verifyToken);
    if (result.ok) this.logger.info('webhook subscription verified');
    else this.logger.warn({ reason: result.reason }, 'webhook subscription verification refused');
    res.writeHead(result.status, { 'Content-Type': result.contentType }).end(result.body);
  }

  private appSecrets(): string[] {
    const secrets = new Set<string>();
    if (this.settings.appSecret) secrets.add(this.settings.appSecret);
    for (const rule of this.rules.values()) if (rule.appSecret) secrets.add(rule.appSecret);
    return [...secrets];
  }

  private checkSignature(raw: Buffer, header: string | undefined): SignatureCheck {
    const secrets = this.appSecrets();
    if (secrets.length === 0) {
      return {
        ok: false,
        result: 'no_secret',
        status: 403,
        reason: 'no app secret configured',
        secrets: [],
      };
    }
    if (header === undefined || header === '') {
      return {
        ok: false,
        result: 'missing',
        status: 401,
        reason: 'missing X-Hub-Signature-256',
        secrets: [],
      };
    }
    const matched = secrets.filter((s) => verifyWebhookSignature(raw, header, s));
    if (matched.length === 0) {
      return {
        ok: false,
        result: 'mismatch',
        status: 403,
        reason: 'signature does not match',
        secrets: [],
      };
    }
    return { ok: true, result: 'ok', secrets: matched };
  }

  // ---- processing -------------------------------------------------------------------------------

  private track(task: Promise<void>): void {
    this.tasks.add(task);
    void task.finally(() => this.tasks.delete(task));
  }

  private async process(
    raw: Buffer,
    secrets: string[],
    receipt: WebhookReceiptHandle,
    forwardInMemory = true,
  ): Promise<WebhookEventOutcome[]> {
    if (this.forwarder && forwardInMemory) {
      void this.forwarder
        .forward(raw, secrets[0])
        .then((o) => receipt.forwarded(o.delivered, o.attempts));
    }
    const { events, problems } = parseWebhookRawBody(raw);
    for (const p of problems)
      this.logger.warn({ path: p.path }, `webhook part not understood: ${p.message}`);
    receipt.parsed(events);
    const outcomes = await Promise.all(
      events.map(async (event) => {
        let result: ProcessedWebhookEvent;
        try {
          result = await this.dispatch(event, secrets);
        } catch (err) {
          this.logger.error({ err, kind: event.kind }, 'webhook event handling failed');
          result = { event, outcome: 'failed', error: err as Error };
        }
        this.emit('processed', result);
        return result.outcome;
      }),
    );
    receipt.processed(outcomes);
    return outcomes;
  }

  private async dispatch(
    event: WhatsAppWebhookEvent,
    secrets: string[],
  ): Promise<ProcessedWebhookEvent> {
    if (event.kind === 'other') return { event, outcome: 'not_a_call_event' };
    const rule = event.phoneNumberId ? this.rules.get(event.phoneNumberId) : undefined;
    const expectedSecret = rule?.appSecret ?? this.settings.appSecret;
    if (rule && expectedSecret && !secrets.includes(expectedSecret)) {
      this.logger.warn(
        { phoneNumberId: event.phoneNumberId },
        "webhook signed with another app's secret than this number's; ignored",
      );
      return { event, outcome: 'wrong_app' };
    }
    if (this.isDuplicate(event.dedupeKey)) {
      this.logger.debug({ kind: event.kind }, 'duplicate webhook ignored');
      return { event, outcome: 'duplicate' };
    }
    switch (event.kind) {
      case 'call_connect':
        return event.session.sdpType === 'offer'
          ? this.onUserCall(event, rule)
          : this.onBusinessCallConnect(event);
      case 'call_terminate':
        return this.onTerminate(event);
      case 'call_status':
        return this.onStatus(event);
      case 'call_permission_reply':
        return this.onPermissionReply(event);
    }
  }

  private isDuplicate(key: string): boolean {
    const now = Date.now();
    const until = this.seen.get(key);
    if (until !== undefined && until > now) return true;
    this.seen.set(key, now + DEDUPE_WINDOW_MS);
    return false;
  }

  private sweep(): void {
    const now = Date.now();
    for (const [k, until] of this.seen) if (until <= now) this.seen.delete(k);
    for (const [k, until] of this.tombstones) if (until <= now) this.tombstones.delete(k);
  }

  private isStale(event: WhatsAppWebhookEvent): boolean {
    if (event.timestamp === undefined) return false;
    const ageSeconds = this.now().getTime() / 1000 - event.timestamp;
    return ageSeconds > this.settings.maxWebhookAgeSeconds;
  }

  /** The context of a call operation a webhook event drives; `timeoutMs` bounds the wait. */
  private context(log: Logger, timeoutMs?: number): OperationContext {
    return {
      logger: log,
      signal:
        timeoutMs === undefined
          ? this.abort.signal
          : AbortSignal.any([this.abort.signal, AbortSignal.timeout(timeoutMs)]),
      origin: 'webhook',
      requestId: randomUUID(),
      requester: 'webhook-gateway',
    };
  }

  // ---- user-initiated calls ---------------------------------------------------------------------

  private async onUserCall(
    event: CallConnectEvent,
    rule: PhoneNumberRule | undefined,
  ): Promise<ProcessedWebhookEvent> {
    const log = this.logger.child({ callId: event.callId, phoneNumberId: event.phoneNumberId });
    if (this.tombstones.has(event.callId)) {
      log.info('connect after terminate: the caller already hung up; not answered');
      return { event, outcome: 'terminated_before_connect' };
    }
    if (this.isStale(event)) {
      log.warn(
        { timestamp: event.timestamp },
        'stale connect webhook (a late retry); not answered',
      );
      return { event, outcome: 'stale' };
    }
    const inbound = rule?.inbound;
    if (!rule || !inbound?.enabled || !rule.accessToken) {
      log.info(
        'incoming call for a phone number without an inbound routing rule: ignored by the gateway (left to your own app via forwarding)',
      );
      return { event, outcome: 'no_rule' };
    }
    const meta = {
      phoneNumberId: rule.phoneNumberId,
      accessToken: rule.accessToken,
      apiVersion: rule.apiVersion,
    };
    if (inbound.hours && !isWithinBusinessHours(inbound.hours, this.now())) {
      if (inbound.hours.outsideHours === 'ignore') {
        log.info('call outside business hours: left unanswered (outside_hours: ignore)');
        return { event, outcome: 'ignored_outside_hours' };
      }
      log.info('call outside business hours: rejected');
      await this.graph.rejectCall({ ...meta, callId: event.callId });
      return { event, outcome: 'rejected_outside_hours' };
    }

    const params = this.acceptParams(event, rule, inbound);
    const participant = params.participant;
    const routing: InboundCallRouting = {
      callId: event.callId,
      phoneNumberId: rule.phoneNumberId,
      roomName: participant.roomName,
      participantIdentity: participant.identity,
      caller: event.from,
      waitsForAgent: inbound.accept === 'when_agent_ready',
    };
    log.info({ room: participant.roomName, accept: inbound.accept }, 'routing incoming call');
    this.emit('inboundCall', routing);

    if (inbound.accept === 'when_agent_ready') {
      const gate = new AbortController();
      this.gated.set(event.callId, gate);
      try {
        await this.readiness.prepare(
          participant.roomName,
          participant.agents.map((a) => ({ agentName: a.agentName, metadata: a.metadata })),
        );
        await this.readiness.waitUntilReady(
          participant.roomName,
          inbound.agentReadyTimeoutMs,
          AbortSignal.any([gate.signal, this.abort.signal]),
        );
      } catch (err) {
        if (gate.signal.aborted || this.abort.signal.aborted) {
          log.info('caller hung up while the room was getting ready');
          return { event, outcome: 'hung_up' };
        }
        const reason = err instanceof Error ? err.message : String(err);
        log.warn({ room: participant.roomName, reason }, 'room not ready in time: call rejected');
        // No call was made for it and nothing was sent to Meta: declining is right.
        await this.graph.rejectCall({ ...meta, callId: event.callId }).catch((e: unknown) => {
          log.warn({ err: e }, 'rejecting the call at Meta failed');
        });
        return {
          event,
          outcome: 'rejected_room_not_ready',
          error: new RoomNotReadyError(participant.roomName, { cause: err }),
        };
      } finally {
        this.gated.delete(event.callId);
      }
      // Agents are in the room already; the accept must not dispatch them a second time.
      participant.agents = [];
    }

    let roomName: string;
    try {
      ({ roomName } = await this.calls.accept(params, this.context(log)));
    } catch (err) {
      if (err instanceof CapacityError || err instanceof DrainingError) {
        // No call was made and nothing sent to Meta: without a reject the caller would ring
        // until Meta gives up.
        log.warn({ reason: err.name }, 'no instance can take the call: incoming call rejected');
        await this.graph.rejectCall({ ...meta, callId: event.callId }).catch(() => undefined);
      }
      throw err;
    }
    if (this.tombstones.has(event.callId)) {
      // Terminate raced the accept: make sure nothing stays up.
      await this.calls.userHangup({ callId: event.callId }, this.context(log));
      return { event, outcome: 'hung_up' };
    }
    log.info({ room: roomName }, 'incoming call accepted');
    return { event, outcome: 'accepted', roomName };
  }

  private acceptParams(
    event: CallConnectEvent,
    rule: PhoneNumberRule,
    inbound: InboundRule,
  ): AcceptParams {
    const caller = callerOf(event);
    const values: CallTemplateValues = {
      caller: caller?.phoneNumber,
      callerUserId: caller?.userId ?? caller?.parentUserId,
      callerUsername: caller?.username,
      callerName: event.contact?.name,
      callId: event.callId,
      phoneNumberId: rule.phoneNumberId,
      businessNumber: event.displayPhoneNumber,
      bizOpaqueCallbackData: event.bizOpaqueCallbackData,
      deeplinkPayload: event.deeplinkPayload,
      ctaPayload: event.ctaPayload,
    };
    const render = (t: string) => renderCallTemplate(t, values);
    const attributes: Record<string, string> = {};
    for (const [k, v] of Object.entries(inbound.participant.attributes)) attributes[k] = render(v);
    const identity = inbound.participant.identity ? render(inbound.participant.identity) : '';
    return {
      meta: {
        phoneNumberId: rule.phoneNumberId,
        accessToken: rule.accessToken ?? '',
        apiVersion: rule.apiVersion,
      },
      callId: event.callId,
      offerSdp: event.session.sdp,
      participant: {
        roomName: render(inbound.room).trim() || generateWhatsAppRoomName(),
        identity: identity.trim() || defaultAcceptIdentity(event.callId),
        name: render(inbound.participant.name),
        metadata: inbound.participant.metadata ? render(inbound.participant.metadata) : '',
        attributes,
        agents: inbound.agents.map((a) =>
          agentDispatch(a.name, a.metadata ? render(a.metadata) : ''),
        ),
      },
      caller,
      ringingTimeoutMs: this.config.calls.ringingTimeoutSeconds * 1000,
      waitUntilAnswered: false,
    };
  }

  // ---- business-initiated calls, hang-ups, statuses ---------------------------------------------

  private async onBusinessCallConnect(event: CallConnectEvent): Promise<ProcessedWebhookEvent> {
    const log = this.logger.child({ callId: event.callId });
    const ctx = this.context(log, WEBHOOK_EVENT_TIMEOUT_MS);
    if (this.tombstones.has(event.callId)) {
      // Meta terminated the call before this connect arrived: the answer must not be applied.
      // The terminate may have come before the dial published the call; tell it again now.
      const held = await this.calls.userHangup({ callId: event.callId }, ctx);
      log.info('connect after the call was terminated; ignored');
      return { event, outcome: held ? 'terminated_before_connect' : 'not_ours' };
    }
    try {
      await this.calls.connect(
        { callId: event.callId, answerSdp: event.session.sdp, waitUntilAnswered: false },
        ctx,
      );
    } catch (err) {
      if (err instanceof CallNotFoundError) {
        log.info(
          'connect for a business-initiated call not dialled through this connector; ignored',
        );
        return { event, outcome: 'not_ours' };
      }
      if (err instanceof CallEndedError) {
        log.info('connect after the call ended; ignored');
        return { event, outcome: 'terminated_before_connect' };
      }
      throw err;
    }
    log.info("Meta's answer applied to the dialled call");
    return { event, outcome: 'connected' };
  }

  private async onTerminate(event: CallTerminateEvent): Promise<ProcessedWebhookEvent> {
    this.tombstones.set(event.callId, Date.now() + TERMINATE_TOMBSTONE_MS);
    this.gated.get(event.callId)?.abort(new Error('call terminated'));
    const log = this.logger.child({ callId: event.callId });
    const errorCodes = event.errors.flatMap((e) => (e.code === undefined ? [] : [e.code]));
    const held = await this.calls.userHangup(
      { callId: event.callId, status: event.status, errorCodes },
      this.context(log, WEBHOOK_EVENT_TIMEOUT_MS),
    );
    if (held) {
      log.info(
        { status: event.status, durationSeconds: event.durationSeconds, errorCodes },
        'call terminated at Meta',
      );
    } else {
      log.debug('terminate for a call this connector does not hold');
    }
    return { event, outcome: 'hung_up' };
  }

  private async onStatus(event: CallStatusEvent): Promise<ProcessedWebhookEvent> {
    const log = this.logger.child({ callId: event.callId });
    const held = await this.calls.callStatus(
      { callId: event.callId, status: event.status },
      this.context(log, WEBHOOK_EVENT_TIMEOUT_MS),
    );
    if (held) log.debug({ status: event.status }, 'call status applied');
    return { event, outcome: held ? 'status_applied' : 'not_ours' };
  }

  private onPermissionReply(event: CallPermissionReplyEvent): ProcessedWebhookEvent {
    const recorded = this.permissions.record(event);
    this.logger.info(
      {
        phoneNumberId: event.phoneNumberId,
        from: event.from,
        response: event.response,
        permanent: event.isPermanent,
        source: event.responseSource,
      },
      'call permission reply recorded',
    );
    return { event, outcome: recorded ? 'permission_recorded' : 'not_a_call_event' };
  }
}

/**
 * The caller as Meta named them (number, BSUID, username), keeping only well-formed names: a
 * malformed field must not fail the call, it is just left out of the room attributes.
 */
function callerOf(event: CallConnectEvent): WhatsAppUser | undefined {
  const { phoneNumber, userId, parentUserId, username } = event.user;
  const caller: WhatsAppUser = {};
  if (phoneNumber && whatsAppUserIdKind(phoneNumber) === 'phone_number') {
    caller.phoneNumber = phoneNumberDigits(phoneNumber);
  }
  if (userId && whatsAppUserIdKind(userId) === 'bsuid') caller.userId = userId;
  if (parentUserId && whatsAppUserIdKind(parentUserId) === 'parent_bsuid') {
    caller.parentUserId = parentUserId;
  }
  if (caller.phoneNumber === undefined && caller.userId === undefined && !caller.parentUserId) {
    return undefined;
  }
  if (username) caller.username = username;
  return caller;
}

function headerValue(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}
