import type { WebhookReceipt } from '../../gateway/webhook-receipts.js';
import type { DeadLetter, QueueSizes } from '../../store/durable-queue.js';
import { consolePage, type PageFrame } from '../console-layout.js';
import { formatAgo, formatClock, formatDateTime } from '../format.js';
import { html, type Html } from '../html.js';

export interface QueueView {
  name: string;
  sizes: QueueSizes;
  deadLetters: DeadLetter[];
}

export interface WebhooksView {
  /** Receipts, newest first; undefined when this instance has no webhook gateway. */
  receipts: WebhookReceipt[] | undefined;
  /** Forwarding: its target and counts, or why there is none. */
  forwarding:
    { target: string; delivered: number; failed: number; inFlight: number } | { off: string };
  /** The durable queues, or why they cannot be shown. */
  queues: { location: string; queues: QueueView[] } | { unavailable: string };
  now: number;
}

const SIGNATURE_TEXT: Record<WebhookReceipt['signature'], string> = {
  ok: 'ok',
  missing: 'failed: no signature',
  mismatch: 'failed: wrong signature',
  no_secret: 'failed: no app secret configured',
};

function receiptRow(r: WebhookReceipt, now: number): Html {
  const failed = r.signature !== 'ok';
  return html`<tr data-seq="${r.seq}" class="${failed ? 'row-failed' : ''}">
    <td>
      ${formatClock(r.receivedAt)}<br /><span class="muted">${formatAgo(r.receivedAt, now)}</span>
    </td>
    <td>${r.types.length > 0 ? r.types.join(', ') : failed ? '(not read)' : '—'}</td>
    <td class="mono">${r.phoneNumberIds.join(', ') || '—'}</td>
    <td data-signature="${r.signature}">
      <span class="${failed ? 'bad' : 'good'}">${SIGNATURE_TEXT[r.signature]}</span>
    </td>
    <td>${r.httpStatus}</td>
    <td>${r.processingMs === undefined ? 'processing…' : `${r.processingMs} ms`}</td>
    <td>${r.outcomes.join(', ') || '—'}</td>
    <td>${r.forward}${r.forwardAttempts > 1 ? ` (${r.forwardAttempts} attempts)` : ''}</td>
  </tr>`;
}

function forwardingSection(view: WebhooksView): Html {
  const f = view.forwarding;
  const body =
    'off' in f
      ? html`<p>${f.off}</p>`
      : html`<p>Every webhook is passed on, re-signed, to <span class="mono">${f.target}</span>.</p>
          <ul class="counts">
            <li><strong data-count="delivered">${f.delivered}</strong> delivered</li>
            <li><strong data-count="failed">${f.failed}</strong> given up on</li>
            <li><strong data-count="in-flight">${f.inFlight}</strong> being attempted</li>
          </ul>`;
  return html`<section class="panel" aria-labelledby="forwarding-title">
    <h2 id="forwarding-title">Forwarding</h2>
    ${body}
  </section>`;
}

function queuesSection(view: WebhooksView): Html {
  const q = view.queues;
  if ('unavailable' in q) {
    return html`<section class="panel" aria-labelledby="queues-title">
      <h2 id="queues-title">Durable queues and dead letters</h2>
      <p>${q.unavailable}</p>
    </section>`;
  }
  const sizes = q.queues.map(
    (x) =>
      html`<tr>
        <th scope="row">${x.name}</th>
        <td>${x.sizes.ready}</td>
        <td>${x.sizes.inFlight}</td>
        <td>${x.sizes.delayed}</td>
        <td>${x.sizes.dead}</td>
      </tr>`,
  );
  const dead = q.queues.flatMap((x) =>
    x.deadLetters.map(
      (d) =>
        html`<tr>
          <td>${formatDateTime(d.failedAt)}</td>
          <td>${x.name}</td>
          <td>${d.attempts}</td>
          <td>${d.payload.length} bytes</td>
          <td>${d.reason}</td>
        </tr>`,
    ),
  );
  return html`<section class="panel" aria-labelledby="queues-title">
    <h2 id="queues-title">Durable queues and dead letters</h2>
    <p class="muted">
      State store: <span class="mono">${q.location}</span>. CLI:
      <code>whatsapp-connector queues --dead</code>
    </p>
    <table class="compact">
      <thead>
        <tr>
          <th scope="col">Queue</th>
          <th scope="col">Ready</th>
          <th scope="col">In flight</th>
          <th scope="col">Delayed</th>
          <th scope="col">Dead</th>
        </tr>
      </thead>
      <tbody>
        ${sizes}
      </tbody>
    </table>
    ${
      dead.length === 0
        ? html`<p>No dead letters.</p>`
        : html`<table class="compact">
            <caption>
              Dead letters, newest first
            </caption>
            <thead>
              <tr>
                <th scope="col">Given up</th>
                <th scope="col">Queue</th>
                <th scope="col">Attempts</th>
                <th scope="col">Size</th>
                <th scope="col">Last error</th>
              </tr>
            </thead>
            <tbody>
              ${dead}
            </tbody>
          </table>`
    }
  </section>`;
}

export function webhooksPage(frame: PageFrame, view: WebhooksView): Html {
  const receipts =
    view.receipts === undefined
      ? html`<p class="empty">
          This instance has no webhook gateway (a custom backend is in use).
        </p>`
      : view.receipts.length === 0
        ? html`<p class="empty">No webhook received since the connector started.</p>`
        : html`<table class="webhooks">
            <thead>
              <tr>
                <th scope="col">Received</th>
                <th scope="col">Events</th>
                <th scope="col">Number id</th>
                <th scope="col">Signature</th>
                <th scope="col">HTTP</th>
                <th scope="col">Processing</th>
                <th scope="col">Outcome</th>
                <th scope="col">Forward</th>
              </tr>
            </thead>
            <tbody>
              ${view.receipts.map((r) => receiptRow(r, view.now))}
            </tbody>
          </table>`;
  return consolePage(
    frame,
    html`<h1>Webhooks</h1>
      <div class="columns">${forwardingSection(view)}${queuesSection(view)}</div>
      <h2>Received</h2>
      <p class="lead">
        The latest webhooks Meta delivered to this instance, newest first (times UTC). CLI:
        <code>whatsapp-connector webhooks</code>
      </p>
      ${receipts}`,
  );
}
