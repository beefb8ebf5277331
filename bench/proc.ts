// Reading a process tree's CPU time and memory from /proc: user+system time of every live process
// in the tree plus the time of children its members have already reaped (cutime/cstime), so short
// lived workers (Postfix's smtpd, cleanup, smtp) are counted too; and the peak RSS of one process.
import { readdirSync, readFileSync } from 'node:fs';

const TICKS_PER_SECOND = 100;

interface Stat {
  readonly pid: number;
  readonly ppid: number;
  readonly userTicks: number;
  readonly systemTicks: number;
  readonly reapedTicks: number;
}

function readStat(pid: number): Stat | null {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    const num = (i: number): number => Number(fields[i - 3]);
    return { pid, ppid: num(4), userTicks: num(14), systemTicks: num(15), reapedTicks: num(16) + num(17) };
  } catch {
    return null;
  }
}

function allStats(): Stat[] {
  return readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .map((name) => readStat(Number(name)))
    .filter((s): s is Stat => s !== null);
}

export interface CpuSeconds {
  readonly total: number;
  /** User and system time of the root process alone. */
  readonly user: number;
  readonly system: number;
}

/** CPU seconds used by the tree rooted at `root` (live members plus what they reaped). */
export function treeCpuSeconds(root: number): CpuSeconds {
  const stats = allStats();
  const children = new Map<number, Stat[]>();
  for (const s of stats) children.set(s.ppid, [...(children.get(s.ppid) ?? []), s]);
  let ticks = 0;
  const rootStat = stats.find((s) => s.pid === root);
  const queue = rootStat ? [rootStat] : [];
  while (queue.length > 0) {
    const s = queue.pop() as Stat;
    ticks += s.userTicks + s.systemTicks + s.reapedTicks;
    queue.push(...(children.get(s.pid) ?? []));
  }
  return {
    total: ticks / TICKS_PER_SECOND,
    user: (rootStat?.userTicks ?? 0) / TICKS_PER_SECOND,
    system: (rootStat?.systemTicks ?? 0) / TICKS_PER_SECOND,
  };
}

/** Peak resident set size of one process, in MiB (VmHWM). */
export function peakRssMiB(pid: number): number {
  try {
    const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}
