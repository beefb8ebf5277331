// `smarthost status`: the daemon (running or not, pid, version, uptime, bound listeners and metrics
// endpoint, from the `daemon` row it keeps in the spool), recipients by state, the age of the oldest
// waiting message, and the attempt outcomes of the last hour. Exit status 0 when the daemon runs,
// 1 when it does not (the numbers are printed either way). `smarthost healthcheck`: the daemon's
// /healthz as a command, for container HEALTHCHECKs.
import type { Command } from 'commander';
import { VERSION } from '../platform/version.js';
import { readDaemonInfo, type DaemonInfo } from '../spool/daemon-state.js';
import { QueueStats, type StateCounts } from '../spool/queue-stats.js';
import { CliError, EXIT, run, spoolFrom, withConfig, type ConfigOption } from './common.js';
import { formatAge, isoTime, printJson } from './format.js';

const HOUR_MS = 3_600_000;
const HEALTH_TIMEOUT_MS = 5000;

interface Status {
  readonly version: string;
  readonly daemon: (DaemonInfo & { readonly running: boolean }) | null;
  readonly recipients: StateCounts;
  readonly oldestWaitingAt: number | null;
  readonly lastHour: { readonly delivered: number; readonly deferred: number; readonly bounced: number };
}

export function registerStatusCommand(program: Command): void {
  withConfig(program.command('status'))
    .description('daemon, listeners and queue at a glance (exit 1 when the daemon is not running)')
    .option('--json', 'print JSON')
    .action((options: ConfigOption & { json?: boolean }) =>
      run(() => {
        const status = readStatus(options);
        if (options.json) printJson(toJson(status, Date.now()));
        else process.stdout.write(describe(status, Date.now()));
        return status.daemon?.running ? EXIT.ok : EXIT.notFound;
      }),
    );

  withConfig(program.command('healthcheck'))
    .description("ask the running daemon's /healthz (for container HEALTHCHECKs); exit 0 when healthy")
    .action((options: ConfigOption) => run(() => healthcheck(options)));
}

/**
 * `smarthost healthcheck`: GET the running daemon's /healthz, at the metrics address it recorded in
 * the spool (what it bound for metrics.listen: a container's HEALTHCHECK follows the configuration).
 * Exit 0 and "ok" when it answers 200; 1 with the reason otherwise (not running, metrics off, 503).
 */
async function healthcheck(options: ConfigOption): Promise<number> {
  const { db } = spoolFrom(options);
  let info: DaemonInfo | null;
  try {
    info = readDaemonInfo(db);
  } finally {
    db.close();
  }
  if (!info || !isAlive(info.pid)) throw new CliError('unhealthy: the daemon is not running');
  if (!info.metrics) throw new CliError('no health endpoint: metrics.listen is false');
  const url = `http://${reachable(info.metrics)}/healthz`;
  let response: Response;
  try {
    response = await fetch(url, { signal: AbortSignal.timeout(HEALTH_TIMEOUT_MS) });
  } catch (err) {
    throw new CliError(`unhealthy: ${url}: ${(err as Error).message}`);
  }
  const body = await response.text();
  if (!response.ok) throw new CliError(`unhealthy: ${url}: ${response.status} ${body.trim()}`);
  process.stdout.write('ok\n');
  return EXIT.ok;
}

/** "0.0.0.0:9587" and "[::]:9587" (every address) are reached on loopback. */
function reachable(address: string): string {
  return address.replace(/^0\.0\.0\.0:/, '127.0.0.1:').replace(/^\[::\]:/, '[::1]:');
}

function readStatus(options: ConfigOption): Status {
  const { db } = spoolFrom(options);
  try {
    const stats = new QueueStats(db);
    const info = readDaemonInfo(db);
    const outcomes = stats.outcomesSince(Date.now() - HOUR_MS);
    return {
      version: VERSION,
      daemon: info ? { ...info, running: isAlive(info.pid) } : null,
      recipients: stats.recipientCounts(true),
      oldestWaitingAt: stats.oldestWaiting(),
      lastHour: {
        delivered: outcomes['delivered'] ?? 0,
        deferred: outcomes['deferred'] ?? 0,
        bounced: (outcomes['bounced'] ?? 0) + (outcomes['expired'] ?? 0),
      },
    };
  } finally {
    db.close();
  }
}

/** Whether a process with this pid exists (EPERM: it does, under another user). */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function toJson(s: Status, now: number): unknown {
  const daemon = s.daemon && {
    running: s.daemon.running,
    pid: s.daemon.pid,
    version: s.daemon.version,
    startedAt: isoTime(s.daemon.startedAt),
    listeners: s.daemon.listeners,
    metrics: s.daemon.metrics,
  };
  const oldestWaitingAge = s.oldestWaitingAt === null ? null : Math.floor((now - s.oldestWaitingAt) / 1000);
  return { version: s.version, daemon, recipients: s.recipients, oldestWaitingAge, lastHour: s.lastHour };
}

function describe(s: Status, now: number): string {
  const d = s.daemon;
  const lines = [`smarthost ${s.version}`];
  if (!d) lines.push('daemon: not running');
  else if (!d.running) lines.push(`daemon: not running (pid ${d.pid} stopped without cleaning up; started ${isoTime(d.startedAt)})`);
  else {
    lines.push(`daemon: running, pid ${d.pid}, version ${d.version}, up ${formatAge(now - d.startedAt)}`);
    const listeners = d.listeners.map((l) => `${l.kind} ${l.address}:${l.port}`);
    lines.push(`listeners: ${[...listeners, ...(d.metrics ? [`metrics ${d.metrics}`] : [])].join(', ')}`);
  }
  const r = s.recipients;
  lines.push(`recipients: ${r.queued} queued, ${r.deferred} deferred, ${r.held} held; ${r.delivered} delivered, ${r.bounced} bounced`);
  lines.push(`oldest waiting message: ${s.oldestWaitingAt === null ? 'none' : formatAge(now - s.oldestWaitingAt)}`);
  const h = s.lastHour;
  lines.push(`last hour: ${h.delivered} delivered, ${h.bounced} bounced, ${h.deferred} deferred attempts`);
  return `${lines.join('\n')}\n`;
}
