/** CPU time, memory and open descriptors of processes, read from Linux /proc. */
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';

let ticksPerSecond: number | undefined;
function clockTicks(): number {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

interface StatLine {
  pid: number;
  ppid: number;
  /** utime + stime, seconds. */
  cpuSeconds: number;
}

function readStat(pid: number): StatLine | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // comm may contain spaces and parentheses: fields resume after the last ')'.
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const ppid = Number(rest[1]);
  const utime = Number(rest[11]);
  const stime = Number(rest[12]);
  return { pid, ppid, cpuSeconds: (utime + stime) / clockTicks() };
}

/** `pid` and all its descendants. */
export function processTree(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const s = readStat(Number(entry));
    if (!s) continue;
    const list = children.get(s.ppid) ?? [];
    list.push(s.pid);
    children.set(s.ppid, list);
  }
  const out: number[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    const p = queue.shift()!;
    out.push(p);
    queue.push(...(children.get(p) ?? []));
  }
  return out;
}

function rssBytes(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

function fdCount(pid: number): number {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return 0;
  }
}

export interface TreeSample {
  atMs: number;
  pids: number[];
  cpuSeconds: number;
  rssBytes: number;
  fds: number;
}

/** CPU (user+system, all threads; children that already exited are not counted), RSS and open descriptors of a process tree. */
export function sampleTree(pid: number): TreeSample {
  const pids = processTree(pid);
  let cpu = 0;
  let rss = 0;
  let fds = 0;
  for (const p of pids) {
    cpu += readStat(p)?.cpuSeconds ?? 0;
    rss += rssBytes(p);
    fds += fdCount(p);
  }
  return { atMs: Date.now(), pids, cpuSeconds: cpu, rssBytes: rss, fds };
}

/** Total CPU seconds consumed by the whole machine (all CPUs, from /proc/stat). */
export function machineCpuSeconds(): { busy: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  const idle = (v[3] ?? 0) + (v[4] ?? 0);
  const total = v.reduce((a, b) => a + b, 0);
  return { busy: (total - idle) / clockTicks(), total: total / clockTicks() };
}

/**
 * CPU seconds per named group of process trees over an interval. Groups are re-read at each
 * call (room workers come and go); a process first seen after `reset()` counts from its start.
 */
export class CpuMeter {
  private startCpu = new Map<number, number>();
  private startAt = Date.now();
  private machineStart = machineCpuSeconds();

  /** Each group: root pids, and whether their descendants count too. */
  constructor(private readonly groups: Record<string, { roots: () => number[]; tree: boolean }>) {
    this.reset();
  }

  private perPid(): Map<string, Map<number, TreeSample>> {
    const out = new Map<string, Map<number, TreeSample>>();
    for (const [name, group] of Object.entries(this.groups)) {
      const m = new Map<number, TreeSample>();
      for (const root of group.roots()) {
        for (const pid of group.tree ? processTree(root) : [root]) m.set(pid, sampleTree1(pid));
      }
      out.set(name, m);
    }
    return out;
  }

  reset(): void {
    this.startCpu = new Map();
    for (const m of this.perPid().values())
      for (const [pid, s] of m) this.startCpu.set(pid, s.cpuSeconds);
    this.startAt = Date.now();
    this.machineStart = machineCpuSeconds();
  }

  /** CPU seconds and RSS per group since `reset()`, the wall time, and the machine's busy share (0..1 of all CPUs). */
  read(): {
    wallSeconds: number;
    cpuSeconds: Record<string, number>;
    rssBytes: Record<string, number>;
    machineBusyShare: number;
  } {
    const cpuSeconds: Record<string, number> = {};
    const rss: Record<string, number> = {};
    for (const [name, m] of this.perPid()) {
      let cpu = 0;
      let mem = 0;
      for (const [pid, s] of m) {
        cpu += Math.max(0, s.cpuSeconds - (this.startCpu.get(pid) ?? 0));
        mem += s.rssBytes;
      }
      cpuSeconds[name] = cpu;
      rss[name] = mem;
    }
    const m = machineCpuSeconds();
    const busy = m.busy - this.machineStart.busy;
    const total = m.total - this.machineStart.total;
    return {
      wallSeconds: (Date.now() - this.startAt) / 1000,
      cpuSeconds,
      rssBytes: rss,
      machineBusyShare: total > 0 ? busy / total : 0,
    };
  }
}

function sampleTree1(pid: number): TreeSample {
  return {
    atMs: Date.now(),
    pids: [pid],
    cpuSeconds: readStat(pid)?.cpuSeconds ?? 0,
    rssBytes: rssBytes(pid),
    fds: fdCount(pid),
  };
}
