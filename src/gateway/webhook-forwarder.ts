import type { Logger } from '../log/index.js';
import { signWebhookBody } from '../whatsapp/webhook-signature.js';

export interface WebhookForwarderOptions {
  /** Required - the business's own webhook URL. */
  url: string;
  /** Required - delivery attempts per webhook (first try included). */
  maxAttempts: number;
  /** Required - per-attempt timeout, ms. */
  timeoutMs: number;
  /** Optional - wait before the first retry, ms; doubles per retry up to 30 s. Default 500. */
  initialBackoffMs?: number;
  logger: Logger;
  /** Optional - fetch implementation (tests). */
  fetch?: typeof globalThis.fetch;
}

/** Result of forwarding one webhook. */
export interface ForwardOutcome {
  delivered: boolean;
  attempts: number;
  /** HTTP status of the last attempt, if there was an answer. */
  status: number | undefined;
}

/**
 * Passes every webhook on to the business's own app — byte for byte, re-signed with the same
 * `X-Hub-Signature-256` scheme and secret Meta used — so adopting the gateway never breaks an
 * existing messaging app. Deliveries run in the background with bounded retries (network errors,
 * timeouts, 408/429 and 5xx retry; other 4xx are final, as Meta treats them).
 */
export class WebhookForwarder {
  private readonly options: WebhookForwarderOptions;
  private readonly fetch: typeof globalThis.fetch;
  private readonly inFlight = new Set<Promise<ForwardOutcome>>();
  private readonly abort = new AbortController();
  private closed = false;

  constructor(options: WebhookForwarderOptions) {
    this.options = options;
    this.fetch = options.fetch ?? globalThis.fetch;
  }

  /** Forward `rawBody` signed with `appSecret` (or unsigned when there is none). */
  forward(rawBody: Buffer, appSecret: string | undefined): Promise<ForwardOutcome> {
    if (this.closed) return Promise.resolve({ delivered: false, attempts: 0, status: undefined });
    const task = this.deliver(rawBody, appSecret);
    this.inFlight.add(task);
    void task.finally(() => this.inFlight.delete(task));
    return task;
  }

  private async deliver(rawBody: Buffer, appSecret: string | undefined): Promise<ForwardOutcome> {
    const { url, maxAttempts, timeoutMs, logger } = this.options;
    const headers: Record<string, string> = { 'Content-Type': 'application/json' };
    if (appSecret) headers['X-Hub-Signature-256'] = signWebhookBody(rawBody, appSecret);
    let backoff = this.options.initialBackoffMs ?? 500;
    let status: number | undefined;
    let attempts = 0;
    for (let attempt = 1; attempt <= maxAttempts; attempt++) {
      if (this.closed) break;
      attempts = attempt;
      let retry = true;
      try {
        const res = await this.fetch(url, {
          method: 'POST',
          headers,
          body: rawBody,
          signal: AbortSignal.any([AbortSignal.timeout(timeoutMs), this.abort.signal]),
        });
        status = res.status;
        await res.arrayBuffer().catch(() => undefined);
        if (res.ok) return { delivered: true, attempts: attempt, status };
        retry = res.status === 408 || res.status === 429 || res.status >= 500;
        logger.warn({ status: res.status, attempt }, 'webhook forward answered an error');
      } catch (err) {
        status = undefined;
        logger.warn({ err: (err as Error).message, attempt }, 'webhook forward failed');
      }
      if (!retry || attempt === maxAttempts) break;
      await sleep(backoff, this.abort.signal);
      backoff = Math.min(backoff * 2, 30_000);
    }
    if (!this.closed) logger.error({ status, attempts }, 'webhook forward gave up');
    return { delivered: false, attempts, status };
  }

  /**
   * One delivery attempt, for the durable forward queue (which owns retries and dead letters):
   * resolves when the business's app took it (2xx).
   * @throws ForwardAttemptError, `retryable` for network errors, timeouts, 408, 429 and 5xx.
   */
  async attemptOnce(rawBody: Buffer, appSecret: string | undefined): Promise<void> {
    const { url, timeoutMs } = this.options;
    const headers: Record<string, string> = { 'Content-Type': 'application/json' };
    if (appSecret) headers['X-Hub-Signature-256'] = signWebhookBody(rawBody, appSecret);
    let res: Response;
    try {
      res = await this.fetch(url, {
        method: 'POST',
        headers,
        body: rawBody,
        signal: AbortSignal.any([AbortSignal.timeout(timeoutMs), this.abort.signal]),
      });
    } catch (err) {
      throw new ForwardAttemptError(`forward failed: ${(err as Error).message}`, true, undefined);
    }
    await res.arrayBuffer().catch(() => undefined);
    if (res.ok) return;
    const retryable = res.status === 408 || res.status === 429 || res.status >= 500;
    throw new ForwardAttemptError(`forward answered HTTP ${res.status}`, retryable, res.status);
  }

  /** Resolves when every forward started so far has finished (delivered or given up). */
  async idle(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }

  /** Stop retrying and cancel deliveries in flight. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.abort.abort();
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        resolve();
      },
      { once: true },
    );
  });
}

/** One forward attempt failed; `retryable: false` sends the webhook to the dead letters at once. */
export class ForwardAttemptError extends Error {
  override readonly name = 'ForwardAttemptError';
  constructor(
    message: string,
    readonly retryable: boolean,
    /** HTTP status of the answer, when there was one. */
    readonly status: number | undefined,
  ) {
    super(message);
  }
}
