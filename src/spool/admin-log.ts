// The admin log: lines that the queue commands (`smarthost queue hold|release|delete|bounce|retry`)
// leave in the spool for the daemon's log, so that every change an administrator makes shows in the
// log an operator already reads (the journal), with the Unix user who made it. A command writes its
// lines in the same transaction as the change they describe, so no change is without its lines.
// The daemon logs them within a second (src/daemon/admin-log.ts) and deletes them; with no daemon
// running they wait for its next start. A daemon killed between logging and deleting logs them
// again at its next start (at least once, like delivery). The table holds only what no daemon has
// logged yet: empty while a daemon runs, else bounded by the actions taken meanwhile.
import type { SpoolDatabase } from './database.js';

export interface AdminLogLine {
  /** When the command ran (ms). */
  readonly at: number;
  readonly msg: string;
  /** The line's fields (queueId first), as JSON-serialisable values. */
  readonly fields: Readonly<Record<string, unknown>>;
}

/** Who ran a command: the Unix user (and the one behind sudo, when there is one). */
export interface Actor {
  readonly user: string;
  readonly uid: number;
  readonly sudoUser: string | null;
}

/** The fields that name the actor on a log line: by, uid, and sudoUser under sudo. */
export function actorFields(actor: Actor): Record<string, string | number> {
  return { by: actor.user, uid: actor.uid, ...(actor.sudoUser === null ? {} : { sudoUser: actor.sudoUser }) };
}

export interface StoredLine extends AdminLogLine {
  readonly id: number;
}

export class AdminLog {
  private readonly statements;
  private dataVersion = -1;

  constructor(private readonly db: SpoolDatabase) {
    this.statements = {
      insert: db.prepare('INSERT INTO admin_log (at, msg, fields) VALUES (?, ?, ?)'),
      take: db.prepare('SELECT id, at, msg, fields FROM admin_log ORDER BY id LIMIT ?'),
      remove: db.prepare('DELETE FROM admin_log WHERE id <= ?'),
    };
  }

  /** Append lines (inside the caller's transaction, with the change they describe). */
  add(lines: readonly AdminLogLine[]): void {
    for (const line of lines) this.statements.insert.run(line.at, line.msg, JSON.stringify(line.fields));
  }

  /** The oldest lines not yet logged, at most `limit`. */
  take(limit: number): StoredLine[] {
    const rows = this.statements.take.all(limit) as Array<{ id: number; at: number; msg: string; fields: string }>;
    return rows.map((r) => ({ id: r.id, at: r.at, msg: r.msg, fields: JSON.parse(r.fields) as Record<string, unknown> }));
  }

  /** Forget the lines up to and including `id` (they have been logged). */
  removeThrough(id: number): void {
    this.statements.remove.run(id);
  }

  /** Whether another connection committed since the last call (true at the first call). */
  changedElsewhere(): boolean {
    const version = this.db.pragma('data_version', { simple: true }) as number;
    const changed = version !== this.dataVersion;
    this.dataVersion = version;
    return changed;
  }
}
