// The spool's files on disk and who may touch them. The spool is `spool.db` and the files SQLite keeps
// beside it (`-wal`, `-shm`), plus the daemon's lock (`.lock`, lock.ts). They hold password hashes and
// mail, so they are private to the user the daemon runs as, whatever the umask:
//  - a missing spool directory is created 0700;
//  - a new spool is built under a temporary name, created 0600, and linked into place once its schema
//    is committed, so an existing spool file always has a schema: an empty one was truncated (see
//    integrity.ts). SQLite gives the -wal and -shm files the mode and owner of the database file, so
//    they are 0600 too;
//  - the daemon tightens existing files that group or others may read (tightenModes) and logs it.
// Problems of access are reported with the file, its owner and mode and the user we run as
// (SpoolError SMARTHOST_E_SPOOL_ACCESS), instead of SQLite's "attempt to write a readonly database".
// runAsSpoolOwner() is for the CLI started as root: it takes the identity of the spool's owner before
// anything is opened, so root never creates a spool file the daemon cannot write.
import {
  accessSync,
  chmodSync,
  closeSync,
  constants,
  existsSync,
  fchmodSync,
  linkSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
} from 'node:fs';
import { dirname } from 'node:path';
import { SpoolError } from './errors.js';

const PRIVATE_FILE = 0o600;
const PRIVATE_DIR = 0o700;

export interface SpoolPaths {
  readonly db: string;
  readonly wal: string;
  readonly shm: string;
  readonly lock: string;
  readonly dir: string;
}

export function spoolPaths(db: string): SpoolPaths {
  return { db, wal: `${db}-wal`, shm: `${db}-shm`, lock: `${db}.lock`, dir: dirname(db) };
}

/** The files of the spool that exist now (the database, its WAL and shared memory, the lock). */
function existingFiles(paths: SpoolPaths): string[] {
  return [paths.db, paths.wal, paths.shm, paths.lock].filter((f) => existsSync(f));
}

/** Create the spool directory 0700 when it is missing (its parents too, with the same mode). */
export function ensureSpoolDirectory(paths: SpoolPaths): void {
  const created = mkdirSync(paths.dir, { recursive: true, mode: PRIVATE_DIR });
  if (created !== undefined) chmodSync(paths.dir, PRIVATE_DIR); // the umask may have removed bits we want
}

/** Create an empty private file (0600 whatever the umask); false when it exists already. */
export function createPrivateFile(path: string): boolean {
  let fd: number;
  try {
    fd = openSync(path, 'wx', PRIVATE_FILE);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
  try {
    fchmodSync(fd, PRIVATE_FILE);
  } finally {
    closeSync(fd);
  }
  return true;
}

/**
 * Build a new spool at `path` if none is there: `build` fills a private file under a temporary name
 * (and must close it), which is then linked into place. Another process doing the same at the same
 * moment wins or loses the link; either way one complete spool ends up at `path`.
 */
export function createSpoolOnce(path: string, build: (temporary: string) => void): void {
  if (existsSync(path)) return;
  const temporary = `${path}.new-${process.pid}`;
  for (const f of [temporary, `${temporary}-wal`, `${temporary}-shm`]) rmSync(f, { force: true });
  createPrivateFile(temporary);
  try {
    build(temporary);
    place(temporary, path);
  } finally {
    for (const f of [temporary, `${temporary}-wal`, `${temporary}-shm`]) rmSync(f, { force: true });
  }
}

/** link(2), which fails when `path` exists; rename(2) where the file system has no hard links. */
function place(temporary: string, path: string): void {
  try {
    linkSync(temporary, path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return;
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'ENOSYS') throw err;
    if (!existsSync(path)) renameSync(temporary, path);
  }
}

export interface Tightened {
  readonly file: string;
  readonly from: string;
  readonly to: string;
}

/** Remove group and other permissions from the spool's files; returns what changed. */
export function tightenModes(paths: SpoolPaths): Tightened[] {
  const changed: Tightened[] = [];
  for (const file of existingFiles(paths)) {
    const mode = statSync(file).mode & 0o777;
    if ((mode & 0o077) === 0) continue;
    chmodSync(file, mode & 0o700);
    changed.push({ file, from: octal(mode), to: octal(mode & 0o700) });
  }
  return changed;
}

/**
 * Check that this process may read and write every spool file that exists and create the missing ones
 * in the directory; throws SMARTHOST_E_SPOOL_ACCESS naming the first file it may not, with its owner
 * and mode.
 */
export function checkAccess(paths: SpoolPaths): void {
  if (!existsSync(paths.dir)) return; // created by ensureSpoolDirectory, or its own error follows
  const missing = [paths.db, paths.wal, paths.shm, paths.lock].some((f) => !existsSync(f));
  const checks: Array<[string, number, string]> = [
    ...existingFiles(paths).map((f): [string, number, string] => [f, constants.R_OK | constants.W_OK, 'read and write']),
    ...(missing ? [[paths.dir, constants.W_OK | constants.X_OK, 'create files in'] as [string, number, string]] : []),
  ];
  for (const [file, mode, what] of checks) {
    try {
      accessSync(file, mode);
    } catch {
      throw new SpoolError('SMARTHOST_E_SPOOL_ACCESS', `cannot ${what} ${file} (${describeOwner(file)}) as ${currentUser()}`);
    }
  }
}

/** "owner smarthost, group smarthost, mode 0600" */
export function describeOwner(file: string): string {
  const st = statSync(file, { throwIfNoEntry: false });
  if (!st) return 'missing';
  return `owner ${userName(st.uid)}, group ${groupName(st.gid)}, mode ${octal(st.mode & 0o777)}`;
}

function currentUser(): string {
  const uid = process.geteuid?.() ?? -1;
  return `user ${userName(uid)}`;
}

/**
 * For the CLI run as root: become the owner of the spool (the database file's owner when it exists and
 * is not root, else the directory's), so every file it creates belongs to that user. A root-owned
 * spool stays root's. Returns the user taken, or null when nothing changed.
 */
export function runAsSpoolOwner(paths: SpoolPaths): string | null {
  if (process.geteuid?.() !== 0) return null;
  if (!existsSync(paths.dir)) {
    throw new SpoolError(
      'SMARTHOST_E_SPOOL_ACCESS',
      `the spool directory ${paths.dir} does not exist; as root, smarthost will not create it: create it for the user the daemon runs as (install -d -o smarthost -g smarthost -m 0700 ${paths.dir}) or run this command as that user`,
    );
  }
  const file = existsSync(paths.db) ? statSync(paths.db) : null;
  const owner = file && file.uid !== 0 ? file : statSync(paths.dir);
  if (owner.uid === 0) return null;
  process.setgroups?.([owner.gid]);
  process.setgid?.(owner.gid);
  process.setuid?.(owner.uid);
  return userName(owner.uid);
}

function octal(mode: number): string {
  return `0${mode.toString(8).padStart(3, '0')}`;
}

/** The name of a user or group from /etc/passwd or /etc/group ("uid 1234" when it has none). */
function nameFrom(file: string, id: number, kind: string): string {
  try {
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      const [name, , number] = line.split(':');
      if (name && Number(number) === id && number !== '') return `${name} (${kind} ${id})`;
    }
  } catch {
    // no such file (a minimal container): the number alone
  }
  return `${kind} ${id}`;
}

export const userName = (uid: number): string => nameFrom('/etc/passwd', uid, 'uid');
const groupName = (gid: number): string => nameFrom('/etc/group', gid, 'gid');
