// Benchmark records and the printed summary: medians per target over the repeats, and the
// smarthost/Postfix ratio of each figure when both ran.

export interface RunRecord {
  readonly at: string;
  readonly target: 'smarthost' | 'postfix';
  readonly repeat: number;
  readonly connections: number;
  readonly messages: number;
  readonly size: number;
  readonly recipients: number;
  readonly dkim: string;
  readonly backlog: number;
  readonly sink: string;
  readonly accepted: number;
  readonly failed: number;
  readonly firstError?: string;
  readonly delivered: number;
  readonly acceptedPerSec: number;
  readonly latencyP50: number;
  readonly latencyP95: number;
  readonly latencyP99: number;
  readonly transactionP50: number;
  readonly transactionP99: number;
  readonly e2ePerSec: number;
  readonly cpuUsPerMessage: number;
  readonly cpuUserUsPerMessage: number;
  readonly cpuSystemUsPerMessage: number;
  readonly loadGeneratorCpuUsPerMessage: number;
  readonly loadGeneratorEventLoopDelayP99Ms: number;
  readonly peakRssMiB: number | null;
  readonly runtime?: Record<string, number>;
  readonly node: string;
  readonly commit: string;
}

const FIGURES = [
  ['acceptedPerSec', 'accepted msg/s', 0],
  ['e2ePerSec', 'end-to-end msg/s', 0],
  ['latencyP50', 'accept latency p50 ms (end of DATA to 250)', 1],
  ['latencyP95', 'accept latency p95 ms', 1],
  ['latencyP99', 'accept latency p99 ms', 1],
  ['daemonAcceptP50', 'accept latency p50 ms, in the daemon', 1],
  ['daemonAcceptP99', 'accept latency p99 ms, in the daemon', 1],
  ['transactionP50', 'transaction p50 ms (MAIL FROM to 250)', 1],
  ['transactionP99', 'transaction p99 ms', 1],
  ['loadGeneratorEventLoopDelayP99Ms', 'load generator event-loop delay p99 ms', 1],
  ['cpuUsPerMessage', 'CPU µs/msg', 0],
  ['peakRssMiB', 'peak RSS MiB', 0],
] as const;

type FigureKey = (typeof FIGURES)[number][0];

function figure(r: RunRecord, key: FigureKey): number | null | undefined {
  if (key === 'daemonAcceptP50') return r.runtime?.['daemonAcceptP50Ms'];
  if (key === 'daemonAcceptP99') return r.runtime?.['daemonAcceptP99Ms'];
  return r[key];
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}

export function printTable(records: readonly RunRecord[], params: Record<string, unknown>): void {
  const targets = [...new Set(records.map((r) => r.target))];
  const medians = new Map(
    targets.map((t) => [
      t,
      new Map(
        FIGURES.map(([key]) => {
          const values = records
            .filter((r) => r.target === t)
            .map((r) => figure(r, key))
            .filter((v): v is number => typeof v === 'number' && !Number.isNaN(v));
          return [key, values.length > 0 ? median(values) : NaN];
        }),
      ),
    ]),
  );
  const header = ['figure (median)', ...targets, ...(targets.length === 2 ? ['smarthost/postfix'] : [])];
  const rows = FIGURES.map(([key, label, digits]) => {
    const cells = targets.map((t) => fmt(medians.get(t)?.get(key), digits));
    if (targets.length === 2) {
      const a = medians.get('smarthost')?.get(key) ?? NaN;
      const b = medians.get('postfix')?.get(key) ?? NaN;
      cells.push(Number.isFinite(a / b) ? `${(a / b).toFixed(2)}x` : '-');
    }
    return [label, ...cells];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ');
  process.stdout.write(`\n${JSON.stringify(params)}\n${line(header)}\n${line(widths.map((w) => '-'.repeat(w)))}\n`);
  for (const row of rows) process.stdout.write(`${line(row)}\n`);
  if (targets.includes('postfix'))
    process.stdout.write('Postfix runs without AUTH and without DKIM (it has no SASL backend here); smarthost with both.\n');
}

function fmt(value: number | undefined, digits: number): string {
  return value === undefined || !Number.isFinite(value) ? '-' : value.toFixed(digits);
}
