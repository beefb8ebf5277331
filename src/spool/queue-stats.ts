// Counting what is in the spool, for the metrics gauges and `smarthost status`: recipients by state,
// the arrival time of the oldest message still in the queue, and attempt outcomes since a given time.
// Each is one indexed query (recipients_state, messages_open, attempts_at); none reads a body.
import type { SpoolDatabase } from './database.js';

export const RECIPIENT_STATES = ['queued', 'deferred', 'held', 'delivered', 'bounced'] as const;
export type RecipientState = (typeof RECIPIENT_STATES)[number];
export const WAITING_STATES = ['queued', 'deferred', 'held'] as const satisfies readonly RecipientState[];

export type StateCounts = Record<RecipientState, number>;

export class QueueStats {
  private readonly statements;

  constructor(db: SpoolDatabase) {
    this.statements = {
      waiting: db.prepare(`SELECT state, count(*) AS n FROM recipients WHERE state IN ('queued', 'deferred', 'held') GROUP BY state`),
      all: db.prepare('SELECT state, count(*) AS n FROM recipients GROUP BY state'),
      oldest: db.prepare('SELECT min(created_at) FROM messages WHERE done_at IS NULL').pluck(),
      outcomes: db.prepare('SELECT outcome, count(*) AS n FROM attempts WHERE at >= ? GROUP BY outcome'),
    };
  }

  /** Recipients by state; `includeFinal` counts delivered and bounced ones too (a longer scan). */
  recipientCounts(includeFinal = false): StateCounts {
    const counts: StateCounts = { queued: 0, deferred: 0, held: 0, delivered: 0, bounced: 0 };
    const rows = (includeFinal ? this.statements.all : this.statements.waiting).all() as Array<{ state: RecipientState; n: number }>;
    for (const row of rows) counts[row.state] = row.n;
    return counts;
  }

  /** Arrival time (ms) of the oldest message with a recipient still waiting, or null. */
  oldestWaiting(): number | null {
    return (this.statements.oldest.get() as number | null | undefined) ?? null;
  }

  /** Attempts by outcome (delivered, deferred, bounced, expired) recorded at or after `since`. */
  outcomesSince(since: number): Record<string, number> {
    const rows = this.statements.outcomes.all(since) as Array<{ outcome: string; n: number }>;
    return Object.fromEntries(rows.map((r) => [r.outcome, r.n]));
  }
}
