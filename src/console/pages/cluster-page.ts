import type { ConsoleInstance } from '../console-sources.js';
import { consolePage, type PageFrame } from '../console-layout.js';
import { formatAgo, formatDateTime } from '../format.js';
import { html, type Html } from '../html.js';

export interface ClusterView {
  selfId: string;
  /** Whether instances share state through Redis. */
  shared: boolean;
  /** Live instances, or why they cannot be listed (Redis unreachable). */
  instances: ConsoleInstance[] | { unavailable: string };
  now: number;
}

function instanceRow(i: ConsoleInstance, view: ClusterView): Html {
  const self = i.id === view.selfId;
  return html`<tr${self ? html` aria-current="true" class="row-self"` : ''}>
    <td class="mono">${i.id}${self ? html` <span class="tag">this instance</span>` : ''}</td>
    <td class="mono">${i.url}</td>
    <td>${i.activeCalls} / ${i.maxCalls}</td>
    <td>${formatDateTime(i.startedAt)}</td>
    <td>${formatAgo(i.updatedAt, view.now)}</td>
  </tr>`;
}

export function clusterPage(frame: PageFrame, view: ClusterView): Html {
  const lead = view.shared
    ? html`Instances sharing calls and queues through Redis, by their heartbeats (silent for three
      periods = gone).`
    : html`Without <code>REDIS_URL</code> this instance works alone: this is the only one.`;
  const table =
    'unavailable' in view.instances
      ? html`<p class="notice notice-error" role="alert">${view.instances.unavailable}</p>`
      : html`<table>
          <thead>
            <tr>
              <th scope="col">Instance</th>
              <th scope="col">Internal URL</th>
              <th scope="col">Calls / limit</th>
              <th scope="col">Started</th>
              <th scope="col">Last heartbeat</th>
            </tr>
          </thead>
          <tbody>
            ${view.instances.map((i) => instanceRow(i, view))}
          </tbody>
        </table>`;
  return consolePage(
    frame,
    html`<h1>Instances</h1>
      <p class="lead">${lead}</p>
      ${table}`,
  );
}
