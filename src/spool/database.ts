// Opening the spool database: WAL journal (the CLI reads and writes while the daemon runs),
// synchronous=FULL (a commit is on disk before it returns: the 250 promise), foreign keys on, a busy
// timeout for the rare moment another process holds the write lock, and schema migrations.
// A connection may be opened with synchronous=NORMAL instead: its commits reach the disk with the
// next FULL commit of any connection (the WAL is one append-only file) or the next checkpoint. The
// delivery worker's bookkeeping uses one: losing its last outcomes in a crash only means those
// recipients are attempted again (delivery is at-least-once), and it saves an fsync per batch.
// A missing spool is created private and whole (files.ts: 0600, schema committed before it takes the
// spool's name); an existing one is refused when it is empty or has no schema (integrity.ts), and
// SQLite's errors of access name the file, its owner and its mode.
import { errorCode } from '../platform/error-code.js';
import { SpoolError } from './errors.js';
import { checkAccess, createSpoolOnce, describeOwner, ensureSpoolDirectory, spoolPaths, type SpoolPaths } from './files.js';
import { damagedError, refuseEmptySpool, refuseMissingSchema } from './integrity.js';
import { migrations } from './migrations.js';
import { Database, type SqliteDatabase } from './sqlite.js';

export type SpoolDatabase = SqliteDatabase;

export interface OpenOptions {
  /** Milliseconds to wait for another process's write lock before failing with SQLITE_BUSY. */
  readonly busyTimeout?: number;
  /** FULL (the default): every commit is fsynced before it returns. */
  readonly synchronous?: 'FULL' | 'NORMAL';
}

export function openSpool(path: string, options: OpenOptions = {}): SpoolDatabase {
  const paths = spoolPaths(path);
  ensureSpoolDirectory(paths);
  checkAccess(paths);
  createSpoolOnce(path, (temporary) => open(temporary, options).close());
  refuseEmptySpool(paths);
  return open(path, options, paths);
}

/** Open, configure and migrate; `paths` set: an existing spool, whose schema must be there. */
function open(path: string, options: OpenOptions, existing?: SpoolPaths): SpoolDatabase {
  let db: SpoolDatabase;
  try {
    db = new Database(path, { timeout: options.busyTimeout ?? 5000, fileMustExist: true });
  } catch (err) {
    throw accessError(err, path);
  }
  try {
    db.pragma('journal_mode = WAL');
    db.pragma(`synchronous = ${options.synchronous ?? 'FULL'}`);
    db.pragma('foreign_keys = ON');
    if (existing) refuseMissingSchema(db, existing);
    migrate(db);
    return db;
  } catch (err) {
    db.close();
    throw accessError(damagedError(err, path), path);
  }
}

/** SQLite's "attempt to write a readonly database" and "unable to open", with the file's owner and mode. */
function accessError(err: unknown, path: string): unknown {
  const code = errorCode(err);
  if (!code.startsWith('SQLITE_READONLY') && !code.startsWith('SQLITE_CANTOPEN') && code !== 'SQLITE_PERM') return err;
  return new SpoolError('SMARTHOST_E_SPOOL_ACCESS', `cannot use the spool ${path} (${describeOwner(path)}): ${(err as Error).message}`, {
    cause: err,
  });
}

export function migrate(db: SpoolDatabase): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  if (current > migrations.length) {
    throw new Error(`spool schema version ${current} is newer than this smarthost (${migrations.length})`);
  }
  for (let version = current; version < migrations.length; version++) {
    db.transaction(() => {
      db.exec(migrations[version] ?? '');
      db.pragma(`user_version = ${version + 1}`);
    }).immediate();
  }
}
