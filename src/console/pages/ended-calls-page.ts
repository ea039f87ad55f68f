import type { CallSummary } from '../../calls/whatsapp-call.js';
import { consolePage, type PageFrame } from '../console-layout.js';
import { describeEndReason } from '../end-reasons.js';
import { formatAgo, formatClock, formatDuration, shortId } from '../format.js';
import { html, type Html } from '../html.js';

export interface EndedCallsView {
  calls: CallSummary[];
  now: number;
  /** How many ended calls are kept. */
  kept: number;
}

function reason(call: CallSummary): Html {
  const code = call.endReason ?? 'unknown';
  const text = describeEndReason(code);
  return html`<span class="reason" data-reason="${code}"
    ><code>${code}</code>${text ? html` — ${text}` : ''}</span
  >`;
}

export function endedCallsPage(frame: PageFrame, view: EndedCallsView): Html {
  const rows = view.calls.map((c) => {
    const ended = c.endedAt ?? view.now;
    return html`<tr data-call-id="${c.callId}">
      <td>${formatClock(ended)}<br /><span class="muted">${formatAgo(ended, view.now)}</span></td>
      <td>
        <span class="mono" title="${c.callId}">${shortId(c.callId)}</span><br /><span class="muted"
          >${c.direction === 'inbound' ? '← inbound' : '→ outbound'}</span
        >
      </td>
      <td class="room-cell">
        <span class="room">${c.roomName}</span><br /><span class="muted"
          >${c.participantIdentity}</span
        >
      </td>
      <td>${c.answeredAt ? formatDuration(c.durationSeconds) : 'not answered'}</td>
      <td>${reason(c)}</td>
    </tr>`;
  });
  return consolePage(
    frame,
    html`<h1>Ended calls</h1>
      <p class="lead">
        The last ${view.kept} calls that ended on this instance since it started, newest first.
        Times are UTC.
      </p>
      ${
        view.calls.length === 0
          ? html`<p class="empty">No call has ended since the connector started.</p>`
          : html`<table class="ended">
              <thead>
                <tr>
                  <th scope="col">Ended</th>
                  <th scope="col">Call</th>
                  <th scope="col">Room · participant</th>
                  <th scope="col">Duration</th>
                  <th scope="col">End reason</th>
                </tr>
              </thead>
              <tbody>
                ${rows}
              </tbody>
            </table>`
      }`,
  );
}
