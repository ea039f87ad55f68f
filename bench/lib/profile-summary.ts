/**
 * Top frames of V8 .cpuprofile files (written by `--cpu-prof`): self time per function and per
 * module (package under node_modules, file under src/, or V8/native), so the bench can say
 * where the connector's CPU goes without a flame-graph viewer.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}
interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
}

export interface ProfileSummary {
  file: string;
  totalMs: number;
  /** Non-idle JavaScript/V8 time on the main thread (native threads are not sampled), ms. */
  busyMs: number;
  topFunctions: { frame: string; selfMs: number; share: number }[];
  topModules: { module: string; selfMs: number; share: number }[];
}

function moduleOf(url: string, fn: string): string {
  if (url === '') return fn.startsWith('(') ? fn : '(native/V8)';
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (nm) return nm[1]!;
  const src = /\/(src|bench|testbed)\/(.+)$/.exec(url);
  if (src) return `${src[1]}/${src[2]}`;
  if (url.startsWith('node:')) return 'node core';
  return url;
}

export function summariseProfile(file: string, top = 15): ProfileSummary {
  const p = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const totalHits = p.nodes.reduce((a, n) => a + (n.hitCount ?? 0), 0);
  const totalMs = (p.endTime - p.startTime) / 1000;
  const msPerHit = totalHits > 0 ? totalMs / totalHits : 0;
  const byFn = new Map<string, number>();
  const byMod = new Map<string, number>();
  let idle = 0;
  for (const n of p.nodes) {
    const hits = n.hitCount ?? 0;
    if (!hits) continue;
    const { functionName, url, lineNumber } = n.callFrame;
    if (functionName === '(idle)') {
      idle += hits;
      continue;
    }
    const short = url.replace(/^.*\/(node_modules|src|bench)\//, '$1/');
    const frame = `${functionName || '(anonymous)'} ${short}${url ? `:${lineNumber + 1}` : ''}`;
    byFn.set(frame, (byFn.get(frame) ?? 0) + hits);
    const mod = moduleOf(url, functionName);
    byMod.set(mod, (byMod.get(mod) ?? 0) + hits);
  }
  const busy = totalHits - idle;
  const rank = (m: Map<string, number>) =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([k, hits]) => ({ k, selfMs: hits * msPerHit, share: busy > 0 ? hits / busy : 0 }));
  return {
    file,
    totalMs,
    busyMs: busy * msPerHit,
    topFunctions: rank(byFn).map(({ k, selfMs, share }) => ({ frame: k, selfMs, share })),
    topModules: rank(byMod).map(({ k, selfMs, share }) => ({ module: k, selfMs, share })),
  };
}

export function summariseProfileDir(dir: string, top = 15): ProfileSummary[] {
  let files: string[];
  try {
    // CPU.<date>.<time>.<pid>.<thread>.<seq>.cpuprofile: thread 0 is the main thread (the
    // others are e.g. tsx's module loader thread).
    files = readdirSync(dir).filter((f) => /\.\d+\.0\.\d+\.cpuprofile$/.test(f));
  } catch {
    return [];
  }
  return files.map((f) => summariseProfile(join(dir, f), top));
}

export function renderProfile(s: ProfileSummary): string {
  const lines = [
    `${s.file}: ${(s.totalMs / 1000).toFixed(0)} s wall, main thread busy ${(s.busyMs / 1000).toFixed(1)} s (shares of busy samples)`,
  ];
  lines.push('  by module:');
  for (const m of s.topModules)
    lines.push(`    ${(m.share * 100).toFixed(1).padStart(5)} %  ${m.module}`);
  lines.push('  by function (self):');
  for (const f of s.topFunctions)
    lines.push(`    ${(f.share * 100).toFixed(1).padStart(5)} %  ${f.frame}`);
  return lines.join('\n');
}
