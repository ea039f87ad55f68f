/**
 * A bounded record of the webhooks the gateway received, newest first, for operators (the
 * console's webhooks page, `whatsapp-connector webhooks`): when, what, for which number, whether
 * the signature held, how long processing took, what came of it, and whether the forward
 * arrived. Only metadata: never a body, a signature or a user's number. In memory, per instance.
 */

/** Result of the signature check of one POST. */
export type WebhookSignatureResult =
  /** Signed with a configured app secret. */
  | 'ok'
  /** No `X-Hub-Signature-256` header (answered 401). */
  | 'missing'
  /** A signature that matches no configured app secret (answered 403). */
  | 'mismatch'
  /** No app secret is configured, so nothing can be checked (answered 403). */
  | 'no_secret';

/** Forwarding of one webhook to `WHATSAPP_FORWARD_URL`. */
export type WebhookForwardState = 'off' | 'pending' | 'delivered' | 'failed';

/** One received webhook POST. */
export interface WebhookReceipt {
  /** Sequence number since start (1, 2, ...). */
  readonly seq: number;
  /** Epoch ms the body was read. */
  readonly receivedAt: number;
  /** Body size, bytes. */
  readonly bytes: number;
  readonly signature: WebhookSignatureResult;
  /** HTTP status answered to Meta. */
  readonly httpStatus: number;
  /** Event kinds in the body (`call_connect`, `call_terminate`, `call_status`, …), in order. */
  readonly types: readonly string[];
  /** Business phone number ids the events were for. */
  readonly phoneNumberIds: readonly string[];
  /** What the gateway did with each event (`accepted`, `hung_up`, `duplicate`, `failed`, …). */
  readonly outcomes: readonly string[];
  /** Time from receipt until every event was processed, ms; undefined while processing. */
  readonly processingMs: number | undefined;
  readonly forward: WebhookForwardState;
  /** Delivery attempts of the forward so far. */
  readonly forwardAttempts: number;
}

type MutableReceipt = { -readonly [K in keyof WebhookReceipt]: WebhookReceipt[K] };

/** Default number of receipts kept. */
export const DEFAULT_RECEIPT_CAPACITY = 500;

/** Updates of one receipt while its webhook is processed and forwarded. */
export interface WebhookReceiptHandle {
  /** The body was parsed: its events' kinds and business numbers. */
  parsed(events: readonly { kind: string; phoneNumberId: string | undefined }[]): void;
  /** Every event was processed, with these outcomes. */
  processed(outcomes: readonly string[]): void;
  /** The forward ended. */
  forwarded(delivered: boolean, attempts: number): void;
}

export class WebhookReceiptLog {
  private readonly ring: (MutableReceipt | undefined)[];
  private next = 0;
  private seq = 0;
  private delivered = 0;
  private failed = 0;
  private pending = 0;

  constructor(
    capacity = DEFAULT_RECEIPT_CAPACITY,
    private readonly now: () => number = Date.now,
  ) {
    this.ring = new Array<MutableReceipt | undefined>(Math.max(1, capacity)).fill(undefined);
  }

  /** A POST refused for its signature. */
  refused(bytes: number, signature: Exclude<WebhookSignatureResult, 'ok'>, status: number): void {
    this.push({
      ...this.base(bytes),
      signature,
      httpStatus: status,
      processingMs: 0,
    });
  }

  /** A signed POST was accepted (answered 200); the handle follows its processing. */
  accepted(bytes: number, forwarding: boolean): WebhookReceiptHandle {
    const receipt = this.push({
      ...this.base(bytes),
      signature: 'ok',
      httpStatus: 200,
      forward: forwarding ? 'pending' : 'off',
    });
    if (forwarding) this.pending++;
    return {
      parsed: (events) => {
        receipt.types = events.map((e) => e.kind);
        receipt.phoneNumberIds = [
          ...new Set(events.flatMap((e) => (e.phoneNumberId ? [e.phoneNumberId] : []))),
        ];
      },
      processed: (outcomes) => {
        receipt.outcomes = [...outcomes];
        receipt.processingMs = this.now() - receipt.receivedAt;
      },
      forwarded: (ok, attempts) => {
        if (receipt.forward !== 'pending') return;
        this.pending--;
        if (ok) this.delivered++;
        else this.failed++;
        receipt.forward = ok ? 'delivered' : 'failed';
        receipt.forwardAttempts = attempts;
      },
    };
  }

  /** The newest `limit` receipts, newest first (copies). */
  recent(limit = DEFAULT_RECEIPT_CAPACITY): WebhookReceipt[] {
    const out: WebhookReceipt[] = [];
    const n = this.ring.length;
    for (let i = 1; i <= n && out.length < limit; i++) {
      const r = this.ring[(this.next - i + n) % n];
      if (!r) break;
      out.push({ ...r, types: [...r.types], phoneNumberIds: [...r.phoneNumberIds] });
    }
    return out;
  }

  /** Forwards since start: delivered, given up on, and still being attempted. */
  forwardCounts(): { delivered: number; failed: number; inFlight: number } {
    return { delivered: this.delivered, failed: this.failed, inFlight: this.pending };
  }

  private base(bytes: number): MutableReceipt {
    return {
      seq: ++this.seq,
      receivedAt: this.now(),
      bytes,
      signature: 'ok',
      httpStatus: 0,
      types: [],
      phoneNumberIds: [],
      outcomes: [],
      processingMs: undefined,
      forward: 'off',
      forwardAttempts: 0,
    };
  }

  private push(receipt: MutableReceipt): MutableReceipt {
    this.ring[this.next] = receipt;
    this.next = (this.next + 1) % this.ring.length;
    return receipt;
  }
}
