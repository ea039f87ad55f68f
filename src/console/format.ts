import { createHash } from 'node:crypto';

/** How the console writes numbers and times. */

/** "45s", "2m 05s", "1h 03m". */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h ${String(m % 60).padStart(2, '0')}m`;
}

/** "0.0 %", "—" when unknown. */
export function formatPercent(value: number | undefined): string {
  return value === undefined ? '—' : `${value.toFixed(1)} %`;
}

/** "12.3 ms", "—" when unknown. */
export function formatMs(value: number | undefined): string {
  return value === undefined ? '—' : `${value.toFixed(1)} ms`;
}

/** "−18 dBFS", "silent" for digital silence, "—" when not measured. */
export function formatLevel(dbfs: number | undefined): string {
  if (dbfs === undefined) return '—';
  if (!Number.isFinite(dbfs)) return 'silent';
  return `${Math.round(dbfs)} dBFS`.replace('-', '−');
}

/** "14:03:27" in UTC, the time zone of the logs. */
export function formatClock(epochMs: number): string {
  return new Date(epochMs).toISOString().slice(11, 19);
}

/** "2026-11-30 14:03:27 UTC". */
export function formatDateTime(epochMs: number): string {
  return `${new Date(epochMs).toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}

/** "12 s ago", "3 min ago". */
export function formatAgo(epochMs: number, now: number): string {
  const s = Math.max(0, Math.round((now - epochMs) / 1000));
  if (s < 90) return `${s} s ago`;
  const m = Math.round(s / 60);
  if (m < 90) return `${m} min ago`;
  return `${Math.round(m / 60)} h ago`;
}

/**
 * A long call id as a short tag for tables and messages: its prefix and a digest, e.g.
 * `wacid·3fa92c1b`. Meta's call ids share long runs (the business number, protobuf framing), so
 * neither their start nor their end tells two calls apart; the full id stays in the title.
 */
export function shortId(id: string): string {
  if (id.length <= 16) return id;
  const dot = id.indexOf('.');
  const prefix = dot > 0 && dot <= 8 ? id.slice(0, dot) : 'call';
  return `${prefix}·${createHash('sha256').update(id).digest('hex').slice(0, 8)}`;
}
