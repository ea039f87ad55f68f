/** The bench's outputs: a table of figures against goals, a JSON file and an SVG chart. */
import { execFileSync } from 'node:child_process';
import { cpus, release, totalmem } from 'node:os';
import type { CapacityStep } from '../sections/capacity.js';

export interface Figure {
  section: string;
  name: string;
  value: number | string;
  unit: string;
  goal?: string;
  /** undefined: no goal for this figure. */
  pass?: boolean;
}

export function fmt(v: number | string, unit: string): string {
  if (typeof v === 'string') return v;
  if (!Number.isFinite(v)) return String(v);
  const digits = Math.abs(v) >= 100 ? 0 : Math.abs(v) >= 10 ? 1 : 2;
  return `${v.toFixed(digits)}${unit ? ` ${unit}` : ''}`;
}

/** A plain text table: a header row, a rule, then rows (columns padded to the widest cell). */
export function renderColumns(head: readonly string[], rows: readonly string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: readonly string[]) =>
    r
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

export function renderTable(figures: readonly Figure[]): string {
  const rows = figures.map((f) => [
    f.section,
    f.name,
    fmt(f.value, f.unit),
    f.goal ?? '',
    f.pass === undefined ? '' : f.pass ? 'ok' : 'MISS',
  ]);
  const head = ['section', 'figure', 'measured', 'goal', ''];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) =>
    r
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

function git(args: string[]): string {
  try {
    return execFileSync('git', args, { stdio: ['ignore', 'pipe', 'ignore'] })
      .toString()
      .trim();
  } catch {
    return 'unknown';
  }
}

export function machineInfo(): Record<string, unknown> {
  const c = cpus();
  let livekitServer = 'unknown';
  try {
    livekitServer = execFileSync('.tools/bin/livekit-server', ['--version'], {
      stdio: ['ignore', 'pipe', 'ignore'],
    })
      .toString()
      .trim();
  } catch {
    // not fatal
  }
  return {
    cpuModel: c[0]?.model ?? 'unknown',
    cpuCount: c.length,
    totalMemoryBytes: totalmem(),
    kernel: release(),
    node: process.version,
    livekitServer,
    commit: git(['rev-parse', 'HEAD']),
    dirtyFiles: git(['status', '--porcelain', '--untracked-files=no'])
      .split('\n')
      .filter((l) => l.trim() !== '').length,
  };
}

/**
 * Two stacked panels against concurrent calls: connector CPU (CPU-s per call-minute and share
 * of one core) and one-way latency p50/p99 per direction, with the goal lines.
 */
export function renderChart(
  steps: readonly CapacityStep[],
  title: string,
  latencyBaselineMs = 0,
  /** Goal line of the CPU panel, CPU-s per call-minute (issue 13: 0.9 passthrough, 1.6 mixing). */
  cpuGoal = 0.9,
): string {
  const W = 720;
  const H = 560;
  const left = 70;
  const right = 70;
  const panelH = 200;
  const tops = [55, 310];
  const xs = steps.map((s) => s.calls);
  const xMax = Math.max(1, ...xs);
  const x = (v: number) => left + (v / xMax) * (W - left - right);
  const parts: string[] = [];
  const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="11">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${W / 2}" y="18" text-anchor="middle" font-size="14">Connector CPU and one-way latency against concurrent calls</text>`,
    `<text x="${W / 2}" y="34" text-anchor="middle" font-size="11" fill="#555">${esc(title)}</text>`,
  );
  const panel = (
    top: number,
    label: string,
    yMax: number,
    series: { name: string; color: string; values: number[]; dash?: boolean }[],
    goals: { value: number; label: string }[],
  ) => {
    const y = (v: number) => top + panelH - (Math.min(v, yMax) / yMax) * panelH;
    parts.push(
      `<rect x="${left}" y="${top}" width="${W - left - right}" height="${panelH}" fill="none" stroke="#999"/>`,
      `<text x="${left - 50}" y="${top + panelH / 2}" transform="rotate(-90 ${left - 50} ${top + panelH / 2})" text-anchor="middle">${esc(label)}</text>`,
    );
    for (let i = 0; i <= 4; i++) {
      const v = (yMax * i) / 4;
      parts.push(
        `<text x="${left - 5}" y="${y(v) + 4}" text-anchor="end">${fmt(v, '')}</text>`,
        `<line x1="${left}" x2="${W - right}" y1="${y(v)}" y2="${y(v)}" stroke="#eee"/>`,
      );
    }
    for (const v of xs) {
      parts.push(`<text x="${x(v)}" y="${top + panelH + 14}" text-anchor="middle">${v}</text>`);
    }
    for (const g of goals) {
      parts.push(
        `<line x1="${left}" x2="${W - right}" y1="${y(g.value)}" y2="${y(g.value)}" stroke="#c00" stroke-dasharray="4 3"/>`,
        `<text x="${W - right + 3}" y="${y(g.value) + 4}" fill="#c00">${esc(g.label)}</text>`,
      );
    }
    series.forEach((s, k) => {
      const pts = s.values
        .map((v, i) => (Number.isFinite(v) ? `${x(xs[i]!)},${y(v)}` : ''))
        .filter((p) => p !== '');
      parts.push(
        `<polyline points="${pts.join(' ')}" fill="none" stroke="${s.color}" stroke-width="2"${s.dash ? ' stroke-dasharray="6 3"' : ''}/>`,
        ...pts.map((p) => {
          const [cx, cy] = p.split(',');
          return `<circle cx="${cx}" cy="${cy}" r="3" fill="${s.color}"/>`;
        }),
        `<text x="${left + 8}" y="${top + 14 + k * 14}" fill="${s.color}">${esc(s.name)}</text>`,
      );
    });
  };
  const cpu = steps.map((s) => s.connectorCpuSecondsPerCallMinute);
  const core = steps.map((s) => s.connectorCoreShare);
  const busy = steps.map((s) => s.machineBusyShare * 2);
  panel(
    tops[0]!,
    'CPU-s per call-minute / cores',
    Math.max(cpuGoal * 1.25, ...cpu.filter(Number.isFinite), ...core, ...busy) * 1.1,
    [
      { name: 'CPU-s per call-minute', color: '#1f77b4', values: cpu },
      { name: 'cores used by the connector', color: '#ff7f0e', values: core },
      { name: 'cores busy, whole machine (of 2)', color: '#7f7f7f', values: busy, dash: true },
    ],
    [{ value: cpuGoal, label: `goal ${cpuGoal}` }],
  );
  const lat = (f: (s: CapacityStep) => number) => steps.map(f);
  const all = steps.flatMap((s) => [s.userToRoom.p99, s.roomToUser.p99]).filter(Number.isFinite);
  panel(
    tops[1]!,
    'one-way latency, ms',
    Math.max(200 + latencyBaselineMs, ...all) * 1.1,
    [
      { name: 'user→room p50', color: '#2ca02c', values: lat((s) => s.userToRoom.p50) },
      { name: 'user→room p99', color: '#2ca02c', values: lat((s) => s.userToRoom.p99), dash: true },
      { name: 'room→user p50', color: '#9467bd', values: lat((s) => s.roomToUser.p50) },
      { name: 'room→user p99', color: '#9467bd', values: lat((s) => s.roomToUser.p99), dash: true },
    ],
    [{ value: 150 + latencyBaselineMs, label: 'p99 limit' }],
  );
  parts.push(
    `<text x="${W / 2}" y="${H - 8}" text-anchor="middle">concurrent calls</text>`,
    '</svg>',
  );
  return parts.join('\n');
}
