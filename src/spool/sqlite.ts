// The SQLite binding: better-sqlite3, through this one module (every database is opened with its
// Database). better-sqlite3 12 runs on Node 20, 22 and 24, with one exception: Node 24.19.0 to
// 24.21.x added cleanup hooks to node::ObjectWrap (which better-sqlite3's statements derive from)
// without the bookkeeping that 24.22.0 added, so a statement garbage-collected at the wrong moment
// aborts the process ("Assertion failed: (env) != nullptr" in RemoveEnvironmentCleanupHook).
// better-sqlite3 13 avoids ObjectWrap but needs Node-API 10, which Node 20 lacks. smarthost therefore
// uses 12 and refuses to start on those three Node releases (runtimeProblem) rather than abort at
// a random moment later.
import { createRequire } from 'node:module';
import type BetterSqlite3 from 'better-sqlite3';

const require = createRequire(import.meta.url);

export const Database = require('better-sqlite3') as typeof BetterSqlite3;

export type SqliteDatabase = BetterSqlite3.Database;

/** Why this Node.js cannot run smarthost's SQLite binding, or null. */
export function runtimeProblem(version: string = process.versions.node): string | null {
  const [major = 0, minor = 0] = version.split('.').map(Number);
  if (major === 24 && minor >= 19 && minor <= 21) {
    return `Node.js ${version} aborts better-sqlite3 at random (a bug of Node.js 24.19 to 24.21): use Node.js 24.22 or later`;
  }
  return null;
}
