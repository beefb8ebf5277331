// Whether a spool is whole, and copies of it. A spool that is not whole is refused (SpoolError
// SMARTHOST_E_SPOOL_DAMAGED) rather than started as if it were new and empty:
//  - an existing spool file of 0 bytes: a new spool is never empty once it has its name (files.ts), so
//    it was truncated, with its write-ahead log beside it or not;
//  - an existing file without smarthost's schema (user_version 0), or with a table or index missing
//    from what its schema version must have (compared with a fresh in-memory database migrated as far);
//  - a file SQLite finds malformed, or that fails PRAGMA quick_check (every page and b-tree is
//    well formed, row counts of tables and indexes agree; not the index contents integrity_check also
//    compares). quick_check reads the whole file: about 1.1 s for a 250 MB spool of 1,000,000
//    recipients (docs/performance.md), so the daemon runs it whole at every start, before it binds.
// Also the report behind `smarthost check-spool` (the same checks and what the spool holds) and the
// online backup (VACUUM INTO: one read transaction, a consistent and compacted copy, while the daemon
// goes on writing; the copy is created 0600 and fsynced).
import { closeSync, fsyncSync, openSync, rmSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { errorCode } from '../platform/error-code.js';
import { SpoolError } from './errors.js';
import { createPrivateFile, type SpoolPaths } from './files.js';
import { migrations } from './migrations.js';
import { QueueStats, type StateCounts } from './queue-stats.js';
import { Database, type SqliteDatabase } from './sqlite.js';

const RESTORE_HINT =
  'restore the spool from a backup (docs/operations.md, "Backups"), or move the files aside to start with an empty spool';
/** quick_check stops after this many problems. */
const MAX_PROBLEMS = 20;

function damaged(message: string, cause?: unknown): SpoolError {
  return new SpoolError('SMARTHOST_E_SPOOL_DAMAGED', message, cause === undefined ? undefined : { cause });
}

/** SQLite's "malformed" and "not a database" errors as SMARTHOST_E_SPOOL_DAMAGED naming the file. */
export function damagedError(err: unknown, path: string): unknown {
  const code = errorCode(err);
  if (!code.startsWith('SQLITE_CORRUPT') && code !== 'SQLITE_NOTADB') return err;
  return damaged(`the spool ${path} is damaged (${(err as Error).message}); ${RESTORE_HINT}`, err);
}

/** Refuse an existing spool file of 0 bytes. */
export function refuseEmptySpool(paths: SpoolPaths): void {
  if (statSync(paths.db).size !== 0) return;
  const wal = statSync(paths.wal, { throwIfNoEntry: false });
  const beside = wal ? ` while its write-ahead log ${paths.wal} holds ${wal.size} bytes` : '';
  throw damaged(`the spool ${paths.db} is empty (0 bytes)${beside}: it was truncated; ${RESTORE_HINT}`);
}

/** Refuse an existing file that holds no smarthost schema. */
export function refuseMissingSchema(db: SqliteDatabase, paths: SpoolPaths): void {
  if (schemaVersion(db) !== 0) return;
  throw damaged(`${paths.db} holds no smarthost spool (its schema is missing); ${RESTORE_HINT}`);
}

function schemaVersion(db: SqliteDatabase): number {
  return db.pragma('user_version', { simple: true }) as number;
}

/** Tables and indexes the schema version must have that the spool lacks. */
function missingSchema(db: SqliteDatabase): string[] {
  const reference = new Database(':memory:');
  try {
    const version = Math.min(schemaVersion(db), migrations.length);
    for (const sql of migrations.slice(0, version)) reference.exec(sql);
    const names = (d: SqliteDatabase): string[] =>
      d.prepare("SELECT type || ' ' || name FROM sqlite_schema WHERE name NOT LIKE 'sqlite_%'").pluck().all() as string[];
    const present = new Set(names(db));
    return names(reference).filter((name) => !present.has(name));
  } finally {
    reference.close();
  }
}

/** PRAGMA quick_check's findings; empty when the file is well formed. */
function quickCheck(db: SqliteDatabase): string[] {
  const rows = db.pragma(`quick_check(${MAX_PROBLEMS})`, { simple: false }) as Array<{ quick_check: string }>;
  const problems = rows.map((r) => r.quick_check);
  return problems.length === 1 && problems[0] === 'ok' ? [] : problems;
}

/** What is wrong with an open spool: missing schema objects and quick_check's findings. */
export function findProblems(db: SqliteDatabase, path: string): string[] {
  try {
    if (schemaVersion(db) === 0) return ['no smarthost schema'];
    return [...missingSchema(db).map((name) => `missing ${name}`), ...quickCheck(db)];
  } catch (err) {
    const error = damagedError(err, path);
    if (error instanceof SpoolError) return [(err as Error).message];
    throw err;
  }
}

/** The daemon's check at start: throws SMARTHOST_E_SPOOL_DAMAGED listing the problems. */
export function verifySpool(db: SqliteDatabase, path: string): void {
  const problems = findProblems(db, path);
  if (problems.length === 0) return;
  throw damaged(`the spool ${path} failed its integrity check: ${problems.slice(0, 5).join('; ')}; ${RESTORE_HINT}`);
}

export interface SpoolReport {
  readonly problems: readonly string[];
  readonly schemaVersion: number;
  readonly pageSize: number;
  readonly pages: number;
  readonly freePages: number;
  readonly messages: { readonly total: number; readonly open: number; readonly bodies: number };
  readonly recipients: StateCounts;
  readonly attempts: number;
  readonly users: number;
}

/** The checks and what the spool holds (`smarthost check-spool`); counts are omitted when damaged. */
export function inspectSpool(db: SqliteDatabase, path: string): SpoolReport {
  const problems = findProblems(db, path);
  const pragma = (name: string): number => db.pragma(name, { simple: true }) as number;
  const count = (sql: string): number => (problems.length > 0 ? 0 : (db.prepare(sql).pluck().get() as number));
  return {
    problems,
    schemaVersion: pragma('user_version'),
    pageSize: pragma('page_size'),
    pages: pragma('page_count'),
    freePages: pragma('freelist_count'),
    messages: {
      total: count('SELECT count(*) FROM messages'),
      open: count('SELECT count(*) FROM messages WHERE done_at IS NULL'),
      bodies: count('SELECT count(*) FROM bodies'),
    },
    recipients:
      problems.length > 0 ? { queued: 0, deferred: 0, held: 0, delivered: 0, bounced: 0 } : new QueueStats(db).recipientCounts(true),
    attempts: count('SELECT count(*) FROM attempts'),
    users: count('SELECT count(*) FROM users'),
  };
}

/** Write a consistent copy of the spool to `dest` (which must not exist), 0600, fsynced. */
export function backupSpool(db: SqliteDatabase, dest: string): void {
  if (!createPrivateFile(dest)) throw new SpoolError('SMARTHOST_E_SPOOL_ACCESS', `${dest} exists; the backup is written to a new file`);
  try {
    db.prepare('VACUUM INTO ?').run(dest);
  } catch (err) {
    rmSync(dest, { force: true });
    throw err;
  }
  for (const [path, flags] of [
    [dest, 'r+'],
    [dirname(dest), 'r'],
  ] as const) {
    const fd = openSync(path, flags);
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  }
}
