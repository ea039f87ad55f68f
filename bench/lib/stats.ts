/** Percentiles and burst matching. */
import type { ReceivedBurst } from './burst-signal.js';

export interface Percentiles {
  count: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

/** Nearest-rank percentiles (NaN when empty). */
export function percentiles(values: readonly number[]): Percentiles {
  const v = [...values].sort((a, b) => a - b);
  const at = (p: number) =>
    v.length === 0 ? NaN : v[Math.min(v.length - 1, Math.ceil((p / 100) * v.length) - 1)]!;
  return {
    count: v.length,
    p50: at(50),
    p95: at(95),
    p99: at(99),
    max: v.length ? v[v.length - 1]! : NaN,
  };
}

export interface DirectionResult {
  /** One-way delays of matched bursts, ms. */
  latencies: number[];
  /** Tone frames expected (bursts sent in the window × frames per burst). */
  framesExpected: number;
  /** Of those, frames missing or without the tone at the receiver. */
  framesMissing: number;
  burstsSent: number;
  burstsMatched: number;
}

/**
 * Pairs each received burst with the latest burst sent at or before it (at most `maxMs` earlier).
 * Bursts sent in [fromMs, toMs − tailMs) are expected; an unmatched one counts all its frames missing.
 */
export function matchBursts(
  sent: readonly number[],
  received: readonly ReceivedBurst[],
  opts: { fromMs: number; toMs: number; tailMs: number; maxMs: number; framesPerBurst: number },
): DirectionResult {
  const s = [...sent].sort((a, b) => a - b);
  const best = new Map<number, ReceivedBurst & { latency: number }>();
  for (const r of received) {
    let idx = -1;
    for (let i = s.length - 1; i >= 0; i--) {
      if (s[i]! <= r.atMs) {
        idx = i;
        break;
      }
    }
    if (idx < 0) continue;
    const latency = r.atMs - s[idx]!;
    if (latency > opts.maxMs) continue;
    const prev = best.get(idx);
    if (!prev || latency < prev.latency) best.set(idx, { ...r, latency });
  }
  const out: DirectionResult = {
    latencies: [],
    framesExpected: 0,
    framesMissing: 0,
    burstsSent: 0,
    burstsMatched: 0,
  };
  s.forEach((t, i) => {
    if (t < opts.fromMs || t >= opts.toMs - opts.tailMs) return;
    out.burstsSent++;
    out.framesExpected += opts.framesPerBurst;
    const m = best.get(i);
    if (!m) {
      out.framesMissing += opts.framesPerBurst;
      return;
    }
    out.burstsMatched++;
    out.latencies.push(m.latency);
    out.framesMissing += Math.max(0, opts.framesPerBurst - m.goodFrames);
  });
  return out;
}

export function mergeDirections(list: readonly DirectionResult[]): DirectionResult {
  return list.reduce<DirectionResult>(
    (a, b) => ({
      latencies: a.latencies.concat(b.latencies),
      framesExpected: a.framesExpected + b.framesExpected,
      framesMissing: a.framesMissing + b.framesMissing,
      burstsSent: a.burstsSent + b.burstsSent,
      burstsMatched: a.burstsMatched + b.burstsMatched,
    }),
    { latencies: [], framesExpected: 0, framesMissing: 0, burstsSent: 0, burstsMatched: 0 },
  );
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Run `fn` over `items` with at most `limit` in flight. */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const out: R[] = new Array<R>(items.length);
  let next = 0;
  const run = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, run));
  return out;
}
