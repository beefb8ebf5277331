// `npm run bench`: smarthost (and, with --peer postfix, Postfix as an equivalent relay) under the
// same load, side by side in one run, repeated; prints a table of medians and appends every run as
// a JSON line to bench/results/results.jsonl. Everything on loopback, bounded in count and time.
//
//   npm run bench -- [--connections 20] [--messages 5000] [--size 2048] [--recipients 1]
//                    [--dkim ed25519|rsa|none] [--peer postfix] [--repeats 3] [--time-limit 120]
//                    [--backlog N] [--smoke] [--profile DIR]
import { spawn, execFileSync } from 'node:child_process';
import { appendFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { fillBacklog } from './backlog.js';
import type { LoadOptions, LoadResult } from './load.js';
import { peakRssMiB, treeCpuSeconds } from './proc.js';
import { printTable, type RunRecord } from './report.js';
import { Sink } from './sink.js';
import { ROOT, startPostfix, startSmarthost, type Target } from './targets.js';

const { values: args } = parseArgs({
  options: {
    connections: { type: 'string', default: '20' },
    messages: { type: 'string', default: '10000' },
    size: { type: 'string', default: '2048' },
    recipients: { type: 'string', default: '1' },
    dkim: { type: 'string', default: 'ed25519' },
    peer: { type: 'string', default: 'none' },
    repeats: { type: 'string', default: '3' },
    'time-limit': { type: 'string', default: '120' },
    backlog: { type: 'string', default: '0' },
    out: { type: 'string', default: join(ROOT, 'bench', 'results', 'results.jsonl') },
    smoke: { type: 'boolean', default: false },
    profile: { type: 'string' },
    'log-level': { type: 'string', default: 'info' },
  },
});

const smoke = args.smoke === true;
const params = {
  connections: smoke ? 4 : Number(args.connections),
  messages: smoke ? 100 : Number(args.messages),
  size: Number(args.size),
  recipients: Number(args.recipients),
  dkim: args.dkim as 'none' | 'ed25519' | 'rsa',
  repeats: smoke ? 1 : Number(args.repeats),
  timeLimitMs: Number(args['time-limit']) * 1000,
  backlog: Number(args.backlog),
};
const SINK = { host: '127.0.0.2', port: 25250 };
const PORTS = { smarthost: 25870, postfix: 25871, postfixPlain: 25872 };

function runLoadProcess(options: LoadOptions): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'bench', 'load.ts'), '--run', JSON.stringify(options)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out) as LoadResult) : reject(new Error(`load generator exited ${code}`))));
  });
}

const pct = (sorted: readonly number[], p: number): number =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;

async function startTarget(name: 'smarthost' | 'postfix', spoolPath?: string): Promise<Target> {
  const sink = `${SINK.host}:${SINK.port}`;
  return name === 'smarthost'
    ? startSmarthost({
        port: PORTS.smarthost,
        sink,
        dkim: params.dkim,
        ...(spoolPath ? { spoolPath } : {}),
        ...(args.profile ? { profileDir: args.profile } : {}),
        logLevel: args['log-level'],
      })
    : startPostfix({ port: PORTS.postfix, plainPort: PORTS.postfixPlain, sinkHost: SINK.host, sinkPort: SINK.port });
}

async function runOnce(name: 'smarthost' | 'postfix', repeat: number): Promise<RunRecord> {
  const sink = await Sink.start(SINK.host, SINK.port);
  let backlogDir: string | undefined;
  let spoolPath: string | undefined;
  if (name === 'smarthost' && params.backlog > 0) {
    backlogDir = mkdtempSync(join(tmpdir(), 'smarthost-backlog-'));
    spoolPath = join(backlogDir, 'spool.db');
    fillBacklog(spoolPath, params.backlog);
  }
  const target = await startTarget(name, spoolPath);
  try {
    const cpu0 = treeCpuSeconds(target.pid);
    const load = await runLoadProcess({
      port: target.port,
      connections: params.connections,
      messages: params.messages,
      size: params.size,
      recipients: params.recipients,
      from: 'load@bench.example',
      toDomain: 'sink.example',
      timeLimitMs: params.timeLimitMs,
      ...(target.user ? { user: target.user, password: target.password ?? '' } : {}),
    });
    const delivered = await sink.waitFor(load.accepted, params.timeLimitMs);
    const cpu1 = treeCpuSeconds(target.pid);
    const runtime = name === 'smarthost' ? await scrapeRuntime(target.port + 100) : null;
    const acceptSeconds = (load.finishedAt - load.startedAt) / 1000;
    const e2eSeconds = (sink.lastAt - load.startedAt) / 1000;
    return {
      at: new Date().toISOString(),
      target: name,
      repeat,
      ...params,
      sink: sink.kind,
      accepted: load.accepted,
      failed: load.failed,
      ...(load.firstError ? { firstError: load.firstError } : {}),
      delivered,
      acceptedPerSec: load.accepted / acceptSeconds,
      latencyP50: pct(load.latencies, 50),
      latencyP95: pct(load.latencies, 95),
      latencyP99: pct(load.latencies, 99),
      transactionP50: pct(load.transactionLatencies, 50),
      transactionP99: pct(load.transactionLatencies, 99),
      e2ePerSec: delivered >= load.accepted && load.accepted > 0 ? delivered / e2eSeconds : 0,
      cpuUsPerMessage: ((cpu1.total - cpu0.total) * 1e6) / Math.max(1, load.accepted),
      cpuUserUsPerMessage: ((cpu1.user - cpu0.user) * 1e6) / Math.max(1, load.accepted),
      cpuSystemUsPerMessage: ((cpu1.system - cpu0.system) * 1e6) / Math.max(1, load.accepted),
      loadGeneratorCpuUsPerMessage: load.cpuUs / Math.max(1, load.accepted),
      loadGeneratorEventLoopDelayP99Ms: load.eventLoopDelayP99Ms,
      peakRssMiB: name === 'smarthost' ? peakRssMiB(target.pid) : null,
      ...(runtime ? { runtime } : {}),
      node: process.version,
      commit: gitCommit(),
    };
  } finally {
    await target.stop();
    await sink.stop();
    if (backlogDir) rmSync(backlogDir, { recursive: true, force: true });
  }
}

/** Event-loop delay and GC pauses of the daemon, from its own metrics endpoint. */
async function scrapeRuntime(port: number): Promise<Record<string, number>> {
  try {
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    const value = (name: string): number => Number(new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.e+-]+)$`, 'm').exec(text)?.[1] ?? NaN);
    const gc = (kind: string, what: 'sum' | 'count'): number =>
      Number(new RegExp(`^smarthost_nodejs_gc_duration_seconds_${what}\\{kind="${kind}"\\} ([0-9.e+-]+)$`, 'm').exec(text)?.[1] ?? 0);
    const buckets = [...text.matchAll(/^smarthost_accept_latency_seconds_bucket\{le="([^"]+)"\} (\d+)$/gm)].map((m) => ({
      le: Number(m[1]),
      count: Number(m[2]),
    }));
    return {
      daemonAcceptP50Ms: histogramQuantile(buckets, 0.5) * 1000,
      daemonAcceptP95Ms: histogramQuantile(buckets, 0.95) * 1000,
      daemonAcceptP99Ms: histogramQuantile(buckets, 0.99) * 1000,
      eventLoopDelayP99Ms: value('smarthost_nodejs_eventloop_lag_p99_seconds') * 1000,
      eventLoopDelayMaxMs: value('smarthost_nodejs_eventloop_lag_max_seconds') * 1000,
      gcMajorMs: gc('major', 'sum') * 1000,
      gcMajorCount: gc('major', 'count'),
      gcMinorMs: gc('minor', 'sum') * 1000,
      gcMinorCount: gc('minor', 'count'),
    };
  } catch {
    return {};
  }
}

/** A quantile of a cumulative histogram, interpolated linearly within its bucket (as PromQL's). */
function histogramQuantile(buckets: ReadonlyArray<{ le: number; count: number }>, q: number): number {
  const total = buckets.at(-1)?.count ?? 0;
  if (total === 0) return NaN;
  const rank = q * total;
  let lower = 0;
  let below = 0;
  for (const b of buckets) {
    if (b.count >= rank) return Number.isFinite(b.le) ? lower + ((b.le - lower) * (rank - below)) / Math.max(1, b.count - below) : lower;
    lower = b.le;
    below = b.count;
  }
  return lower;
}

function gitCommit(): string {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
}

const targets: Array<'smarthost' | 'postfix'> = args.peer === 'postfix' ? ['smarthost', 'postfix'] : ['smarthost'];
const records: RunRecord[] = [];
mkdirSync(join(args.out, '..'), { recursive: true });
for (let repeat = 1; repeat <= params.repeats; repeat++) {
  const order = repeat % 2 === 0 ? [...targets].reverse() : targets;
  for (const name of order) {
    const record = await runOnce(name, repeat);
    records.push(record);
    appendFileSync(args.out, `${JSON.stringify(record)}\n`);
    process.stderr.write(
      `run ${repeat}/${params.repeats} ${name}: ${record.accepted} accepted, ${record.acceptedPerSec.toFixed(0)}/s, e2e ${record.e2ePerSec.toFixed(0)}/s, ${record.cpuUsPerMessage.toFixed(0)} µs CPU/msg (user ${record.cpuUserUsPerMessage.toFixed(0)}, system ${record.cpuSystemUsPerMessage.toFixed(0)}); load generator ${record.loadGeneratorCpuUsPerMessage.toFixed(0)} µs/msg\n`,
    );
  }
}
printTable(records, params);
