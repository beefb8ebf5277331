// One daemon per spool (Postfix's master.lock). Before it touches the spool, the daemon takes an
// exclusive lock on a small SQLite database beside it, `<spool>.lock`: locking_mode=EXCLUSIVE and one
// write (its pid, as the file's user_version), after which SQLite keeps the file's POSIX lock until
// the connection closes. The kernel drops the lock when the process dies, kill -9 included, so there
// is nothing stale to clean up; it works wherever SQLite's own locking works (a local file system, a
// bind mount into a container). The CLI never opens this file, so it goes on using the spool while
// the daemon runs. The file holds nothing else; its rollback journal is kept in memory (no -journal
// file), and a lock file a crash left unreadable is emptied and taken (emptying never moves a lock
// another process holds: that one would have answered SQLITE_BUSY first).
// A second daemon finds the lock taken (SQLITE_BUSY, without waiting) and stops at once, naming the
// holder's pid, which it reads from /proc/locks (the pid the kernel records for the lock; the file
// itself cannot be read while it is locked).
// POSIX locks belong to the process and go when it closes any descriptor of the file, so nothing else
// in the daemon may open the lock file; SQLite's own descriptors are safe (it shares them).
import { readFileSync, statSync, truncateSync } from 'node:fs';
import { errorCode } from '../platform/error-code.js';
import { SpoolError } from './errors.js';
import { createPrivateFile, type SpoolPaths } from './files.js';
import { Database, type SqliteDatabase } from './sqlite.js';

export interface SpoolLock {
  release(): void;
}

/** Take the spool's lock or throw SMARTHOST_E_SPOOL_LOCKED naming the daemon that holds it. */
export function lockSpool(paths: SpoolPaths): SpoolLock {
  createPrivateFile(paths.lock);
  try {
    return { release: closer(take(paths.lock)) };
  } catch (err) {
    const code = errorCode(err);
    if (code === 'SQLITE_BUSY') throw lockedError(paths, err);
    if (code !== 'SQLITE_NOTADB' && !code.startsWith('SQLITE_CORRUPT')) throw err;
    truncateSync(paths.lock, 0);
    try {
      return { release: closer(take(paths.lock)) };
    } catch (again) {
      throw errorCode(again) === 'SQLITE_BUSY' ? lockedError(paths, again) : again;
    }
  }
}

function take(file: string): SqliteDatabase {
  const db = new Database(file, { timeout: 0 });
  try {
    db.pragma('locking_mode = EXCLUSIVE');
    db.pragma('journal_mode = MEMORY');
    db.pragma(`user_version = ${process.pid}`);
    return db;
  } catch (err) {
    db.close();
    throw err;
  }
}

function lockedError(paths: SpoolPaths, cause: unknown): SpoolError {
  const pid = lockHolder(paths.lock);
  const holder = pid === null ? 'another smarthost daemon' : `another smarthost daemon (pid ${pid})`;
  return new SpoolError('SMARTHOST_E_SPOOL_LOCKED', `${holder} is running on the spool ${paths.db} (it holds ${paths.lock})`, { cause });
}

const closer = (db: SqliteDatabase) => (): void => closeQuietly(db);

function closeQuietly(db: SqliteDatabase): void {
  if (db.open) db.close();
}

/**
 * The pid holding a POSIX lock on `file`, from /proc/locks ("1: POSIX ADVISORY WRITE 1234
 * 08:01:5678 1073741824 1073742335": pid, then major:minor:inode), or null when it cannot be told.
 */
export function lockHolder(file: string): number | null {
  let text: string;
  let inode: number;
  try {
    inode = statSync(file).ino;
    text = readFileSync('/proc/locks', 'utf8');
  } catch {
    return null;
  }
  for (const line of text.split('\n')) {
    const fields = line.trim().split(/\s+/);
    if (fields[1] === '->') continue; // a process waiting for the lock, not holding it
    const [pid, device] = [fields[4], fields[5]];
    if (fields[1] === 'POSIX' && device?.split(':')[2] === String(inode) && pid) return Number(pid);
  }
  return null;
}
