// Storage faults for tests: test/fixtures/fault-injection/fail-writes.c, an LD_PRELOAD library that
// makes the daemon's writes fail with the errno named in $SMARTHOST_FAULT_FILE while that file exists.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

/** Compile the library into dir; returns its path (for LD_PRELOAD). */
export function buildFaultLibrary(dir: string): string {
  const source = join(import.meta.dirname, '..', 'fixtures', 'fault-injection', 'fail-writes.c');
  const library = join(dir, 'fail-writes.so');
  execFileSync('cc', ['-shared', '-fPIC', '-O2', '-o', library, source, '-ldl']);
  return library;
}
