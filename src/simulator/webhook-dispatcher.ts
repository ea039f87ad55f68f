/**
 * Delivers webhooks the way Meta does (reference §4.1, §5): POST with `Content-Type:
 * application/json` and `X-Hub-Signature-256` over the exact bytes sent, non-ASCII escaped as
 * lowercase `\uXXXX`; a non-2xx answer, a network error or no answer within the timeout counts as
 * a failure and is retried a bounded number of times. Deliveries of one call go out in order
 * (each waits for the previous one's first attempt) unless a fault reorders them.
 */
import type { Logger } from '../log/index.js';
import { signWebhookBody } from '../whatsapp/webhook-signature.js';
import type { WhatsAppWebhookPayload } from '../whatsapp/webhook-payloads.js';

/** One delivery attempt. */
export interface WebhookAttempt {
  at: number;
  /** HTTP status, when the receiver answered. */
  status?: number;
  /** Network error or timeout, when it did not. */
  error?: string;
}

/** A webhook the simulator produced, with every attempt to deliver it. */
export interface WebhookDelivery {
  seq: number;
  /** Target URL; undefined when none is configured (the webhook is only logged). */
  url: string | undefined;
  /** `calls` or `messages`. */
  field: string;
  /** `connect`, `terminate`, `status:RINGING`, `call_permission_reply`, … */
  event: string;
  callId?: string | undefined;
  payload: WhatsAppWebhookPayload;
  /** The exact bytes posted. */
  body: string;
  signature: string;
  /** True for the second copy sent by the duplicate-webhook fault. */
  duplicate: boolean;
  attempts: WebhookAttempt[];
  delivered: boolean;
}

export interface WebhookDispatcherOptions {
  appSecret: string;
  /** Per-attempt HTTP timeout, ms. Meta uses about 20 s. */
  timeoutMs: number;
  /** Waits before each retry, ms; its length bounds the retries. */
  retryDelaysMs: number[];
  logger: Logger;
}

/** Delivery faults, read at send time. */
export interface WebhookFaults {
  /** Send every webhook twice. */
  duplicateWebhooks: boolean;
  /** Hold every webhook this long before the first attempt, ms. */
  webhookDelayMs: number;
}

/** Serialises as Meta signs: JSON with non-ASCII characters as lowercase `\uXXXX`. */
export function serialiseWebhook(payload: unknown): string {
  return JSON.stringify(payload).replace(
    /[^\0-~]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

export class WebhookDispatcher {
  private readonly deliveries: WebhookDelivery[] = [];
  private readonly chains = new Map<string, Promise<void>>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly controllers = new Set<AbortController>();
  private seq = 0;
  private closed = false;

  constructor(private readonly options: WebhookDispatcherOptions) {}

  /** Every webhook produced so far, in production order. */
  get log(): readonly WebhookDelivery[] {
    return this.deliveries;
  }

  /**
   * Queues a webhook; resolves when its first attempt is over (not when retries end). Never
   * rejects: delivery failures are recorded on the returned entry.
   */
  send(
    url: string | undefined,
    payload: WhatsAppWebhookPayload,
    meta: { field: string; event: string; callId?: string | undefined },
    faults: WebhookFaults,
  ): Promise<WebhookDelivery> {
    const body = serialiseWebhook(payload);
    const make = (duplicate: boolean): WebhookDelivery => ({
      seq: ++this.seq,
      url,
      ...meta,
      payload,
      body,
      signature: signWebhookBody(body, this.options.appSecret),
      duplicate,
      attempts: [],
      delivered: false,
    });
    const delivery = make(false);
    this.deliveries.push(delivery);
    const copies = [delivery];
    if (faults.duplicateWebhooks) {
      const copy = make(true);
      this.deliveries.push(copy);
      copies.push(copy);
    }
    const key = meta.callId ?? `#${delivery.seq}`;
    const previous = this.chains.get(key) ?? Promise.resolve();
    const first = previous
      .then(() => this.sleep(faults.webhookDelayMs))
      .then(async () => {
        for (const d of copies) await this.attempt(d);
      });
    this.chains.set(key, first);
    void first.then(() => {
      if (this.chains.get(key) === first) this.chains.delete(key);
      for (const d of copies) if (!d.delivered) void this.retry(d, 0);
    });
    return first.then(() => delivery);
  }

  private async retry(d: WebhookDelivery, index: number): Promise<void> {
    const wait = this.options.retryDelaysMs[index];
    if (wait === undefined || this.closed || d.url === undefined) return;
    await this.sleep(wait);
    if (this.closed) return;
    await this.attempt(d);
    if (!d.delivered) await this.retry(d, index + 1);
  }

  private async attempt(d: WebhookDelivery): Promise<void> {
    if (this.closed || d.url === undefined) return;
    const attempt: WebhookAttempt = { at: Date.now() };
    d.attempts.push(attempt);
    const controller = new AbortController();
    this.controllers.add(controller);
    const timer = setTimeout(() => controller.abort(), this.options.timeoutMs);
    try {
      const res = await fetch(d.url, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', 'X-Hub-Signature-256': d.signature },
        body: d.body,
        signal: controller.signal,
      });
      attempt.status = res.status;
      await res.arrayBuffer().catch(() => undefined);
      d.delivered = res.status >= 200 && res.status < 300;
    } catch (err) {
      attempt.error = controller.signal.aborted
        ? 'timeout'
        : err instanceof Error
          ? err.message
          : String(err);
    } finally {
      clearTimeout(timer);
      this.controllers.delete(controller);
    }
    if (!d.delivered) {
      this.options.logger.warn(
        {
          event: d.event,
          status: attempt.status,
          error: attempt.error,
          attempt: d.attempts.length,
        },
        'simulator webhook delivery failed',
      );
    }
  }

  private sleep(ms: number): Promise<void> {
    if (ms <= 0 || this.closed) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        resolve();
      }, ms);
      this.timers.add(timer);
    });
  }

  /** Waits until every queued first attempt is over (tests use it to settle). */
  async idle(): Promise<void> {
    while (this.chains.size > 0) await Promise.all([...this.chains.values()]);
  }

  /** Stops retries, pending delays and in-flight requests. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    for (const c of this.controllers) c.abort();
    this.controllers.clear();
  }
}
