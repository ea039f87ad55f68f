import type { CallSummary } from '../../calls/whatsapp-call.js';
import type { DirectionSample, QualitySample } from '../call-quality-history.js';
import { QUALITY_SAMPLES_KEPT } from '../call-quality-history.js';
import { CONSOLE_PATH, consolePage, csrfField, type PageFrame } from '../console-layout.js';
import { formatDuration, formatLevel, formatMs, formatPercent, shortId } from '../format.js';
import { html, type Html } from '../html.js';
import { sparkline } from '../sparkline.js';

/** A live call with its recent quality. */
export interface LiveCallView {
  call: CallSummary;
  /** Oldest first, one per second. */
  samples: readonly QualitySample[];
}

export interface LiveCallsView {
  calls: LiveCallView[];
  /** Business number ids a dial may use. */
  numbers: string[];
  /** Why transfer is unavailable; undefined when it is available. */
  transferUnavailable: string | undefined;
}

/** The cells the live update replaces, by name (`data-cell`); the action cell is kept. */
export type LiveCallCells = Record<'state' | 'duration' | 'received' | 'sent' | 'trend', string>;

/** One row as the event stream sends it: the whole row for new calls, cells for known ones. */
export interface LiveCallRow {
  id: string;
  html: string;
  cells: LiveCallCells;
}

/** What the live calls event stream sends every second. */
export interface LiveCallsUpdate {
  count: number;
  summary: string;
  rows: LiveCallRow[];
}

const TRANSFER_NOTE_ID = 'transfer-note';

function levelBar(dbfs: number | undefined): Html {
  // -60 dBFS (empty) to 0 dBFS (full).
  const fill =
    dbfs !== undefined && Number.isFinite(dbfs) ? Math.max(0, Math.min(1, (dbfs + 60) / 60)) : 0;
  return html`<svg class="level" width="48" height="8" viewBox="0 0 48 8" aria-hidden="true">
    <rect class="level-track" width="48" height="8"></rect>
    <rect class="level-fill" width="${(48 * fill).toFixed(1)}" height="8"></rect>
  </svg>`;
}

function direction(sample: DirectionSample | undefined, prefix: 'received' | 'sent'): Html {
  return html`<dl class="quality">
    <dt>loss</dt>
    <dd data-metric="${prefix}-loss">${formatPercent(sample?.lossPercent)}</dd>
    <dt>jitter</dt>
    <dd data-metric="${prefix}-jitter">${formatMs(sample?.jitterMs)}</dd>
    <dt>level</dt>
    <dd data-metric="${prefix}-level">
      ${levelBar(sample?.levelDbfs)} ${formatLevel(sample?.levelDbfs)}
    </dd>
  </dl>`;
}

function trend(samples: readonly QualitySample[]): Html {
  const chart = (pick: (s: QualitySample) => DirectionSample, who: string) => {
    const loss = samples.map((s) => pick(s).lossPercent);
    const jitter = samples.map((s) => pick(s).jitterMs);
    return sparkline(
      [
        { values: jitter, className: 'spark-jitter', floor: 20 },
        { values: loss, className: 'spark-loss', floor: 5 },
      ],
      {
        width: 120,
        height: 22,
        slots: QUALITY_SAMPLES_KEPT,
        label: `${who}, last ${samples.length} s: loss up to ${formatPercent(max(loss))}, jitter up to ${formatMs(max(jitter))}`,
      },
    );
  };
  return html`<div class="trend">
      <span class="trend-dir" aria-hidden="true">↓</span
      >${chart((s) => s.received, 'from the user')}
    </div>
    <div class="trend">
      <span class="trend-dir" aria-hidden="true">↑</span>${chart((s) => s.sent, 'to the user')}
    </div>`;
}

function max(values: readonly (number | undefined)[]): number | undefined {
  const known = values.filter((v): v is number => v !== undefined);
  return known.length > 0 ? Math.max(...known) : undefined;
}

function durationText(call: CallSummary): string {
  return call.answeredAt ? formatDuration(call.durationSeconds) : 'not answered';
}

function cellsOf(view: LiveCallView): Record<keyof LiveCallCells, Html> {
  const latest = view.samples.at(-1);
  return {
    state: html`<span class="state state-${view.call.state}">${view.call.state}</span>`,
    duration: html`${durationText(view.call)}`,
    received: direction(latest?.received, 'received'),
    sent: direction(latest?.sent, 'sent'),
    trend: trend(view.samples),
  };
}

function actions(call: CallSummary, csrfToken: string, transferUnavailable: string | undefined) {
  const id = encodeURIComponent(call.callId);
  const transfer = transferUnavailable
    ? html`<button type="button" class="secondary" disabled aria-describedby="${TRANSFER_NOTE_ID}">
        Transfer
      </button>`
    : html`<form method="post" action="${CONSOLE_PATH}calls/${id}/transfer" class="inline">
        ${csrfField(csrfToken)}
        <label class="visually-hidden" for="transfer-${id}"
          >Room to transfer call ${shortId(call.callId)} to</label
        >
        <input id="transfer-${id}" name="room" placeholder="room" required size="10" />
        <button type="submit" class="secondary">Transfer</button>
      </form>`;
  return html`<form method="post" action="${CONSOLE_PATH}calls/${id}/hangup" class="inline">
      ${csrfField(csrfToken)}
      <button
        type="submit"
        class="danger"
        aria-label="Hang up call ${shortId(call.callId)} in room ${call.roomName}"
      >
        Hang up
      </button>
    </form>
    ${transfer}`;
}

function row(view: LiveCallView, csrfToken: string, transferUnavailable: string | undefined): Html {
  const c = view.call;
  const cells = cellsOf(view);
  return html`<tr data-call-id="${c.callId}">
    <td>
      <span class="mono" title="${c.callId}">${shortId(c.callId)}</span><br /><span class="muted"
        >${c.direction === 'inbound' ? '← inbound' : '→ outbound'}</span
      >
    </td>
    <td data-cell="state">${cells.state}</td>
    <td class="room-cell">
      <span class="room">${c.roomName}</span><br /><span class="muted"
        >${c.participantIdentity}</span
      >
    </td>
    <td data-cell="duration">${cells.duration}</td>
    <td data-cell="received">${cells.received}</td>
    <td data-cell="sent">${cells.sent}</td>
    <td data-cell="trend">${cells.trend}</td>
    <td class="actions">${actions(c, csrfToken, transferUnavailable)}</td>
  </tr>`;
}

function summary(count: number): string {
  return count === 0 ? 'No live calls.' : count === 1 ? '1 live call.' : `${count} live calls.`;
}

/** The event stream's update: rows with their cells, for the page script to apply. */
export function liveCallsUpdate(view: LiveCallsView, csrfToken: string): LiveCallsUpdate {
  return {
    count: view.calls.length,
    summary: summary(view.calls.length),
    rows: view.calls.map((v) => {
      const cells = cellsOf(v);
      return {
        id: v.call.callId,
        html: row(v, csrfToken, view.transferUnavailable).text,
        cells: {
          state: cells.state.text,
          duration: cells.duration.text,
          received: cells.received.text,
          sent: cells.sent.text,
          trend: cells.trend.text,
        },
      };
    }),
  };
}

function dialForm(numbers: string[], csrfToken: string): Html {
  const from =
    numbers.length > 1
      ? html`<div class="field">
          <label for="dial-from">From business number id</label>
          <select id="dial-from" name="phoneNumberId">
            ${numbers.map((n) => html`<option value="${n}">${n}</option>`)}
          </select>
        </div>`
      : html`<input type="hidden" name="phoneNumberId" value="${numbers[0] ?? ''}" />`;
  return html`<section aria-labelledby="dial-title" class="panel">
    <h2 id="dial-title">Place a call</h2>
    <form method="post" action="${CONSOLE_PATH}dial" class="dial">
      ${csrfField(csrfToken)}
      <div class="field">
        <label for="dial-to">User: phone number or BSUID</label>
        <input
          id="dial-to"
          name="to"
          required
          spellcheck="false"
          autocomplete="off"
          placeholder="4915112345678"
        />
      </div>
      ${from}
      <div class="field">
        <label for="dial-room">Room (empty: generated)</label>
        <input id="dial-room" name="room" spellcheck="false" autocomplete="off" />
      </div>
      <div class="field">
        <label for="dial-agent">Agent to dispatch (optional)</label>
        <input id="dial-agent" name="agent" spellcheck="false" autocomplete="off" />
      </div>
      <div class="field">
        <label for="dial-metadata">Agent metadata (optional)</label>
        <input id="dial-metadata" name="agentMetadata" spellcheck="false" autocomplete="off" />
      </div>
      <button type="submit">Dial</button>
    </form>
    <p class="muted">
      The user's call permission is checked first, as the Connector API does. CLI:
      <code>whatsapp-connector dial &lt;to&gt; --room &lt;room&gt;</code>
    </p>
  </section>`;
}

export function liveCallsPage(frame: PageFrame, view: LiveCallsView): Html {
  const rows = view.calls.map((c) => row(c, frame.csrfToken, view.transferUnavailable));
  return consolePage(
    frame,
    html`<h1>Live calls</h1>
      <p id="live-summary" class="lead" role="status" aria-live="polite">
        ${summary(view.calls.length)}
      </p>
      <table class="calls" data-live="${CONSOLE_PATH}calls/live">
        <caption class="visually-hidden">
          Calls held by this instance, updated every second
        </caption>
        <thead>
          <tr>
            <th scope="col">Call</th>
            <th scope="col">State</th>
            <th scope="col">Room · participant</th>
            <th scope="col">Duration</th>
            <th scope="col">From user ↓</th>
            <th scope="col">To user ↑</th>
            <th scope="col">
              Last minute
              <span class="legend"
                ><span class="key-loss">loss</span> <span class="key-jitter">jitter</span></span
              >
            </th>
            <th scope="col">Actions</th>
          </tr>
        </thead>
        <tbody>
          ${rows}
        </tbody>
      </table>
      <p id="no-calls" class="empty" ${view.calls.length > 0 ? html` hidden` : ''}>
        No live calls. Place one below, or call the business from WhatsApp (or the simulator's
        softphone).
      </p>
      ${view.transferUnavailable ? html`<p id="${TRANSFER_NOTE_ID}" class="muted">Transfer: ${view.transferUnavailable}</p>` : ''}
      <noscript
        ><p class="muted">
          Without JavaScript this page does not update by itself: reload it.
        </p></noscript
      >
      ${dialForm(view.numbers, frame.csrfToken)}`,
  );
}
