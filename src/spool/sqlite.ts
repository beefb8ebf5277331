// The SQLite binding. better-sqlite3 12 (node::ObjectWrap) aborts the process on Node 24.19 and
// later when a statement is garbage-collected outside a JavaScript context ("Assertion failed:
// (env) != nullptr" in RemoveEnvironmentCleanupHook); better-sqlite3 13 (Node-API) fixes that but
// needs Node 22 or newer and crashes on Node 20. Both are installed (13 as "better-sqlite3-napi",
// with prebuilt binaries) and the one that works on the running Node is loaded here. Their APIs are
// the same; every module opens databases through this one.
import { createRequire } from 'node:module';
import type BetterSqlite3 from 'better-sqlite3';

const require = createRequire(import.meta.url);
const major = Number(process.versions.node.split('.')[0]);

/** The better-sqlite3 Database constructor for this Node version. */
export const Database = require(major >= 22 ? 'better-sqlite3-napi' : 'better-sqlite3') as typeof BetterSqlite3;

export type SqliteDatabase = BetterSqlite3.Database;
