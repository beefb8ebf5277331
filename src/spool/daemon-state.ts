// The `daemon` row: what a running daemon tells the CLI about itself through the spool (pid, version,
// bound listeners, metrics address), written when it is ready and removed when it stops, and the
// spool write probe behind /healthz (a one-row update, committed like any spool write).
import type { SpoolDatabase } from './database.js';

export interface ListenerInfo {
  readonly kind: string;
  readonly address: string;
  readonly port: number;
}

export interface DaemonInfo {
  readonly pid: number;
  readonly version: string;
  readonly startedAt: number;
  readonly listeners: readonly ListenerInfo[];
  /** "host:port" of the metrics and health endpoint, or null when it is off. */
  readonly metrics: string | null;
}

interface DaemonRow {
  pid: number;
  version: string;
  started_at: number;
  listeners: string;
  metrics: string | null;
}

export function recordDaemonStart(db: SpoolDatabase, info: DaemonInfo): void {
  db.prepare(
    `INSERT OR REPLACE INTO daemon (id, pid, version, started_at, listeners, metrics, checked_at)
     VALUES (1, ?, ?, ?, ?, ?, ?)`,
  ).run(info.pid, info.version, info.startedAt, JSON.stringify(info.listeners), info.metrics, info.startedAt);
}

export function recordDaemonStop(db: SpoolDatabase, pid: number): void {
  db.prepare('DELETE FROM daemon WHERE pid = ?').run(pid);
}

export function readDaemonInfo(db: SpoolDatabase): DaemonInfo | null {
  const row = db.prepare('SELECT pid, version, started_at, listeners, metrics FROM daemon WHERE id = 1').get() as DaemonRow | undefined;
  if (!row) return null;
  return {
    pid: row.pid,
    version: row.version,
    startedAt: row.started_at,
    listeners: JSON.parse(row.listeners) as ListenerInfo[],
    metrics: row.metrics,
  };
}

/** A real write (and commit) to the spool; throws what SQLite throws when the spool cannot be written. */
export function createWriteProbe(db: SpoolDatabase, pid: number): (now: number) => void {
  const touch = db.prepare('UPDATE daemon SET checked_at = ? WHERE id = 1 AND pid = ?');
  return (now) => {
    if (touch.run(now, pid).changes !== 1) throw new Error('the daemon row is missing from the spool');
  };
}
