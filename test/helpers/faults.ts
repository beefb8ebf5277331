// Storage faults for tests: test/fixtures/fault-injection/fail-writes.c, an LD_PRELOAD library that
// makes the daemon's writes fail with the errno named in $SMARTHOST_FAULT_FILE while that file exists;
// and a small tmpfs to fill up (mounting needs root, as CI runs).
import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, statfsSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Compile the library into dir; returns its path (for LD_PRELOAD). */
export function buildFaultLibrary(dir: string): string {
  const source = join(import.meta.dirname, '..', 'fixtures', 'fault-injection', 'fail-writes.c');
  const library = join(dir, 'fail-writes.so');
  execFileSync('cc', ['-shared', '-fPIC', '-O2', '-o', library, source, '-ldl']);
  return library;
}

/** Mount a tmpfs of `sizeKb` KiB on a new directory; null when that is not possible (not root). */
export function mountTmpfs(sizeKb: number): string | null {
  const dir = mkdtempSync(join(tmpdir(), 'smarthost-tmpfs-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeKb}k,mode=0700`, 'tmpfs', dir], { stdio: 'ignore' });
    return dir;
  } catch {
    rmSync(dir, { recursive: true, force: true });
    return null;
  }
}

export function unmountTmpfs(dir: string): void {
  execFileSync('umount', ['-l', dir], { stdio: 'ignore' });
  rmSync(dir, { recursive: true, force: true });
}

/** Bytes free on the file system of `dir`. */
export function freeBytes(dir: string): number {
  const { bavail, bsize } = statfsSync(dir);
  return bavail * bsize;
}

/**
 * Write a file in `dir` until the file system has no more than `leave` bytes free (all of it: until
 * ENOSPC); returns its path.
 */
export function fill(dir: string, leave = 0, name = 'filler'): string {
  const file = join(dir, name);
  const fd = openSync(file, 'a');
  const chunk = Buffer.alloc(16 * 1024, 1);
  try {
    for (let left = freeBytes(dir) - leave; left > 0; left -= chunk.length) writeSync(fd, chunk, 0, Math.min(chunk.length, left));
    if (leave === 0) for (;;) writeSync(fd, chunk);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
  } finally {
    closeSync(fd);
  }
  return file;
}
