import type { ConsolePermission, ConsolePermissionVerdict } from '../console-sources.js';
import { CONSOLE_PATH, consolePage, csrfField, type PageFrame } from '../console-layout.js';
import { formatDateTime } from '../format.js';
import { html, type Html } from '../html.js';

export interface PermissionsView {
  /** Replies seen in webhooks; undefined when this instance has no webhook gateway. */
  replies: ConsolePermission[] | undefined;
  /** Whether the check form can ask Meta. */
  canCheck: boolean;
  /** The answer to the last check, shown once. */
  verdict: ConsolePermissionVerdict | undefined;
  numbers: string[];
}

function replyRow(p: ConsolePermission): Html {
  const kind = p.response === 'reject' ? 'declined' : p.isPermanent ? 'permanent' : 'temporary';
  return html`<tr>
    <td class="mono">${p.waId}</td>
    <td class="mono">${p.phoneNumberId}</td>
    <td><span class="${p.response === 'accept' ? 'good' : 'bad'}">${kind}</span></td>
    <td>${p.expiresAt ? formatDateTime(p.expiresAt * 1000) : '—'}</td>
    <td>${p.source ?? '—'}</td>
    <td>${formatDateTime(p.repliedAt * 1000)}</td>
  </tr>`;
}

function verdictBox(v: ConsolePermissionVerdict): Html {
  return html`<div class="panel verdict" role="status">
    <h3>Meta says about <span class="mono">${v.to}</span></h3>
    <dl class="pairs">
      <dt>permission</dt>
      <dd data-verdict="status">${v.status}</dd>
      <dt>can call now</dt>
      <dd data-verdict="can-call">${v.canCall ? 'yes' : 'no'}</dd>
      <dt>may be asked</dt>
      <dd>${v.canRequest === undefined ? 'not reported' : v.canRequest ? 'yes' : 'no'}</dd>
      <dt>expires</dt>
      <dd>${v.expiresAt ? formatDateTime(v.expiresAt * 1000) : '—'}</dd>
    </dl>
  </div>`;
}

export function permissionsPage(frame: PageFrame, view: PermissionsView): Html {
  const from =
    view.numbers.length > 1
      ? html`<div class="field">
          <label for="check-from">Business number id</label
          ><select id="check-from" name="phoneNumberId">
            ${view.numbers.map((n) => html`<option value="${n}">${n}</option>`)}
          </select>
        </div>`
      : html`<input type="hidden" name="phoneNumberId" value="${view.numbers[0] ?? ''}" />`;
  const check = view.canCheck
    ? html`<section class="panel" aria-labelledby="check-title">
        <h2 id="check-title">Check a user</h2>
        <form method="post" action="${CONSOLE_PATH}permissions/check" class="dial">
          ${csrfField(frame.csrfToken)}
          <div class="field">
            <label for="check-to">User's phone number</label
            ><input id="check-to" name="to" required spellcheck="false" autocomplete="off" />
          </div>
          ${from}
          <button type="submit">Ask Meta</button>
        </form>
        ${view.verdict ? verdictBox(view.verdict) : ''}
        <p class="muted">
          CLI: <code>whatsapp-connector permissions check &lt;to&gt;</code>,
          <code>permissions request &lt;to&gt;</code>
        </p>
      </section>`
    : html``;
  const replies =
    view.replies === undefined
      ? html`<p class="empty">
          This instance has no webhook gateway, so it sees no permission replies.
        </p>`
      : view.replies.length === 0
        ? html`<p class="empty">
            No call permission reply has arrived since the connector started.
          </p>`
        : html`<table>
            <thead>
              <tr>
                <th scope="col">User</th>
                <th scope="col">Business number id</th>
                <th scope="col">Permission</th>
                <th scope="col">Expires</th>
                <th scope="col">Source</th>
                <th scope="col">Replied</th>
              </tr>
            </thead>
            <tbody>
              ${view.replies.map(replyRow)}
            </tbody>
          </table>`;
  return consolePage(
    frame,
    html`<h1>Call permissions</h1>
      <p class="lead">
        Users' replies to call permission requests, as their webhooks arrived (newest reply per
        user). Meta decides whether a call may be placed: dials are checked with Meta first. CLI:
        <code>whatsapp-connector permissions list</code>
      </p>
      ${replies} ${check}`,
  );
}
