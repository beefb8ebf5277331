// Opening the spool database: WAL journal (the CLI reads and writes while the daemon runs),
// synchronous=FULL (a commit is on disk before it returns: the 250 promise), foreign keys on, a busy
// timeout for the rare moment another process holds the write lock, and schema migrations.
// A connection may be opened with synchronous=NORMAL instead: its commits reach the disk with the
// next FULL commit of any connection (the WAL is one append-only file) or the next checkpoint. The
// delivery worker's bookkeeping uses one: losing its last outcomes in a crash only means those
// recipients are attempted again (delivery is at-least-once), and it saves an fsync per batch.
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
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
  mkdirSync(dirname(path), { recursive: true, mode: 0o750 });
  const db = new Database(path, { timeout: options.busyTimeout ?? 5000 });
  try {
    db.pragma('journal_mode = WAL');
    db.pragma(`synchronous = ${options.synchronous ?? 'FULL'}`);
    db.pragma('foreign_keys = ON');
    migrate(db);
    return db;
  } catch (err) {
    db.close();
    throw err;
  }
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
