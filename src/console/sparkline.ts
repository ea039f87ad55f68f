import { html, type Html } from './html.js';

/** One line of a sparkline. */
export interface SparklineSeries {
  /** Oldest first; undefined = unknown at that instant (the line breaks there). */
  values: readonly (number | undefined)[];
  /** CSS class of the line (its colour comes from the stylesheet). */
  className: string;
  /**
   * The value the top of the chart stands for at least: a line stays low while its values are
   * small, instead of magnifying noise. The scale grows with larger values.
   */
  floor: number;
}

export interface SparklineOptions {
  /** CSS pixels. */
  width: number;
  height: number;
  /** Slots across the width (the newest value is at the right edge). */
  slots: number;
  /** What the chart shows, for screen readers and as a tooltip. */
  label: string;
}

/** A small inline SVG chart of one or more series, newest value at the right. */
export function sparkline(series: readonly SparklineSeries[], options: SparklineOptions): Html {
  const { width, height, slots, label } = options;
  const step = slots > 1 ? width / (slots - 1) : width;
  const pad = 1.5;
  const lines = series.map((s) => {
    const top = Math.max(s.floor, ...s.values.filter((v): v is number => v !== undefined));
    const segments: [number, number][][] = [[]];
    const n = s.values.length;
    s.values.forEach((v, i) => {
      if (v === undefined) {
        if (segments.at(-1)!.length > 0) segments.push([]);
        return;
      }
      const x = width - (n - 1 - i) * step;
      const y = height - pad - (Math.min(v, top) / top) * (height - 2 * pad);
      segments.at(-1)!.push([x, y]);
    });
    return segments
      .filter((points) => points.length > 0)
      .map((points) => {
        const [first] = points;
        if (points.length === 1 && first) {
          return html`<circle
            class="${s.className}"
            cx="${first[0].toFixed(1)}"
            cy="${first[1].toFixed(1)}"
            r="1.5"
          ></circle>`;
        }
        const coords = points.map(([x, y]) => `${x.toFixed(1)},${y.toFixed(1)}`).join(' ');
        return html`<polyline class="${s.className}" points="${coords}"></polyline>`;
      });
  });
  return html`<svg
    class="sparkline"
    width="${width}"
    height="${height}"
    viewBox="0 0 ${width} ${height}"
    role="img"
    aria-label="${label}"
  >
    <title>${label}</title>
    <line
      class="sparkline-base"
      x1="0"
      y1="${height - pad}"
      x2="${width}"
      y2="${height - pad}"
    ></line>
    ${lines}
  </svg>`;
}
