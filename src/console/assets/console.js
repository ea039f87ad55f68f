/*
 * The console's only script: keeps the live calls table current from the server's event stream
 * (src/console/operator-console.ts, one update a second). The server renders every cell; this
 * replaces the cells that change and adds or removes rows, leaving the action forms (and the
 * keyboard focus on them) alone. Every page works without it.
 */
/* global window, document, EventSource, CSS */
'use strict';

(function liveCalls() {
  const table = document.querySelector('table[data-live]');
  if (!table) return;
  const tbody = table.tBodies[0];
  const summary = document.getElementById('live-summary');
  const empty = document.getElementById('no-calls');
  let source;

  function rowOf(id) {
    return tbody.querySelector(`tr[data-call-id="${CSS.escape(id)}"]`);
  }

  function parseRow(html) {
    const template = document.createElement('template');
    template.innerHTML = html.trim();
    return template.content.firstElementChild;
  }

  function apply(update) {
    const seen = new Set();
    update.rows.forEach((row, index) => {
      seen.add(row.id);
      const tr = rowOf(row.id);
      if (!tr) {
        tbody.insertBefore(parseRow(row.html), tbody.rows[index] || null);
        return;
      }
      for (const [name, html] of Object.entries(row.cells)) {
        const cell = tr.querySelector(`[data-cell="${name}"]`);
        if (cell && cell.dataset.html !== html) {
          cell.innerHTML = html;
          cell.dataset.html = html;
        }
      }
    });
    for (const tr of [...tbody.rows]) {
      if (seen.has(tr.dataset.callId)) continue;
      // Focus on a control of a call that ended goes to the content, not to the page's top.
      if (tr.contains(document.activeElement)) document.getElementById('content').focus();
      tr.remove();
    }
    if (summary.textContent !== update.summary) summary.textContent = update.summary;
    empty.hidden = update.count > 0;
  }

  function start() {
    source = new EventSource(table.dataset.live);
    source.addEventListener('calls', (event) => apply(JSON.parse(event.data)));
    source.addEventListener('signed-out', () => {
      source.close();
      window.location.assign('/console/sign-in');
    });
    source.addEventListener('error', () => {
      // EventSource retries by itself unless the server refused the stream (signed out).
      if (source.readyState === EventSource.CLOSED) {
        summary.textContent = 'Live updates stopped: reload the page.';
      }
    });
  }

  // A stream opened while the page loads would keep it loading for good.
  if (document.readyState === 'complete') start();
  else window.addEventListener('load', start);
})();
