// `smarthost check-spool` and `smarthost backup-spool`: the spool's integrity (the checks the daemon
// runs at start: a whole file, smarthost's schema, PRAGMA quick_check) with what it holds, and a
// consistent copy of it taken while the daemon runs. check-spool exits 1 when the spool is damaged;
// `--file` checks another spool file (a backup) without changing it.
import { statSync } from 'node:fs';
import type { Command } from 'commander';
import type { SpoolDatabase } from '../spool/database.js';
import { SpoolError } from '../spool/errors.js';
import { backupSpool, inspectSpool, type SpoolReport } from '../spool/integrity.js';
import { Database } from '../spool/sqlite.js';
import { EXIT, configFrom, run, spoolFrom, withConfig, withSpool, type ConfigOption } from './common.js';
import { formatBytes, printJson } from './format.js';

interface CheckOptions extends ConfigOption {
  file?: string;
  json?: boolean;
}

interface Checked {
  readonly path: string;
  readonly bytes: number;
  readonly walBytes: number;
  readonly report: SpoolReport | null;
  readonly problems: readonly string[];
}

export function registerSpoolCommands(program: Command): void {
  withConfig(program.command('check-spool'))
    .description('check the spool (integrity, schema) and count what it holds; exit 1 when it is damaged')
    .option('--file <path>', 'check this spool file (a backup, say) instead of the configured spool; it is only read')
    .option('--json', 'print JSON')
    .action((options: CheckOptions) =>
      run(() => {
        const file = options.file;
        const checked = file
          ? check(file, () => new Database(file, { readonly: true, fileMustExist: true }))
          : check(configFrom(options).config.spool.path, () => spoolFrom(options).db);
        if (options.json) printJson(toJson(checked));
        else process.stdout.write(describe(checked));
        return checked.problems.length === 0 ? EXIT.ok : EXIT.notFound;
      }),
    );

  withConfig(program.command('backup-spool <file>'))
    .description('write a consistent copy of the spool to a new file (safe while the daemon runs)')
    .action((file: string, options: ConfigOption) =>
      run(() =>
        withSpool(options, (db) => {
          backupSpool(db, file);
          process.stdout.write(`spool copied to ${file} (${formatBytes(statSync(file).size)})\n`);
        }),
      ),
    );
}

/** Open and inspect; a spool refused as damaged at opening is reported as a problem. */
function check(path: string, open: () => SpoolDatabase): Checked {
  let db: SpoolDatabase;
  try {
    db = open();
  } catch (err) {
    if (err instanceof SpoolError && err.code === 'SMARTHOST_E_SPOOL_DAMAGED')
      return { path, ...sizes(path), report: null, problems: [err.message] };
    throw err;
  }
  try {
    const report = inspectSpool(db, path);
    return { path, ...sizes(path), report, problems: report.problems };
  } finally {
    db.close();
  }
}

function sizes(path: string): { bytes: number; walBytes: number } {
  const size = (file: string): number => statSync(file, { throwIfNoEntry: false })?.size ?? 0;
  return { bytes: size(path), walBytes: size(`${path}-wal`) };
}

function toJson(c: Checked): unknown {
  return { path: c.path, ok: c.problems.length === 0, problems: c.problems, bytes: c.bytes, walBytes: c.walBytes, ...c.report };
}

function describe(c: Checked): string {
  const lines = [`spool ${c.path}: ${c.problems.length === 0 ? 'ok' : 'DAMAGED'}`];
  for (const problem of c.problems) lines.push(`  problem: ${problem}`);
  const r = c.report;
  if (r) {
    lines.push(
      `file: ${formatBytes(c.bytes)} (${r.pages} pages of ${r.pageSize} bytes, ${r.freePages} free), write-ahead log ${formatBytes(c.walBytes)}`,
      `schema version: ${r.schemaVersion}`,
    );
    if (r.problems.length === 0) {
      const s = r.recipients;
      lines.push(
        `messages: ${r.messages.total} (${r.messages.open} waiting, ${r.messages.total - r.messages.open} finished), ${r.messages.bodies} bodies`,
        `recipients: ${s.queued} queued, ${s.deferred} deferred, ${s.held} held, ${s.delivered} delivered, ${s.bounced} bounced`,
        `attempts: ${r.attempts}`,
        `users: ${r.users}`,
      );
    }
  }
  return `${lines.join('\n')}\n`;
}
