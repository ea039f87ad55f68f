import { CONSOLE_PATH, consolePage, type PageFrame } from '../console-layout.js';
import { formatDateTime } from '../format.js';
import { html } from '../html.js';

export interface BenchView {
  /** The newest chart, or undefined when `make bench` has not written one. */
  chart: { file: string; modifiedAt: number } | undefined;
  /** Where charts are looked for. */
  directory: string;
}

export function benchPage(frame: PageFrame, view: BenchView) {
  const body = view.chart
    ? html`<p class="lead">
          The newest chart <code>make bench</code> wrote:
          <span class="mono">${view.chart.file}</span>, ${formatDateTime(view.chart.modifiedAt)}.
        </p>
        <figure class="bench">
          <img
            src="${CONSOLE_PATH}bench/chart.svg"
            alt="Benchmark chart ${view.chart.file}: per-stage figures as make bench measured them"
          />
          <figcaption>
            Numbers and method: <code>bench/README.md</code>; the JSON beside the chart has every
            figure.
          </figcaption>
        </figure>`
    : html`<p class="lead">
          No benchmark chart yet: nothing in <span class="mono">${view.directory}</span>.
        </p>
        <p>
          Run <code>make bench</code> in the repository (it prints a table and writes JSON and an
          SVG chart under <code>bench/results/</code>), then reload this page.
        </p>`;
  return consolePage(
    frame,
    html`<h1>Benchmark</h1>
      ${body}`,
  );
}
