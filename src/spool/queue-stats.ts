// Counting what is in the spool, for the metrics gauges, `smarthost status` and `queue summary`:
// recipients by state, the arrival time of the oldest message still in the queue, attempt outcomes
// since a given time, and the queue's shape (waiting recipients by domain and age). Each is one
// indexed query (recipients_state, messages_open, attempts_at); none reads a body.
import type { SpoolDatabase } from './database.js';

export const RECIPIENT_STATES = ['queued', 'deferred', 'held', 'delivered', 'bounced'] as const;
export type RecipientState = (typeof RECIPIENT_STATES)[number];
export const WAITING_STATES = ['queued', 'deferred', 'held'] as const satisfies readonly RecipientState[];

export type StateCounts = Record<RecipientState, number>;

/** qshape's age buckets, in minutes: a recipient counts in the first bucket its age fits, else in the last ("1280+"). */
export const SHAPE_BUCKETS = [5, 10, 20, 40, 80, 160, 320, 640, 1280] as const;

export interface DomainShape {
  readonly domain: string;
  readonly recipients: number;
  /** Recipients per age bucket: SHAPE_BUCKETS, then one for older ones. */
  readonly byAge: readonly number[];
}

/**
 * The queue's shape, as Postfix's qshape shows it: waiting recipients (queued, deferred and held, or
 * one of those states) by destination domain and by the age of their message, largest domains first.
 * One query over recipients_state (the waiting states, with their domain) and the messages' primary
 * key, bucketed and grouped in SQL: a row per domain and bucket, never a row per recipient.
 */
export function queueShape(db: SpoolDatabase, now: number, states: readonly RecipientState[] = WAITING_STATES): DomainShape[] {
  const params: Record<string, number | string> = { now };
  const cases = SHAPE_BUCKETS.map((minutes, i) => {
    params[`b${i}`] = minutes * 60_000;
    return `WHEN @now - m.created_at <= @b${i} THEN ${i}`;
  });
  const wanted = states.map((state, i) => {
    params[`s${i}`] = state;
    return `@s${i}`;
  });
  const rows = db
    .prepare(
      `SELECT r.domain, CASE ${cases.join(' ')} ELSE ${SHAPE_BUCKETS.length} END AS bucket, count(*) AS n
         FROM recipients r INDEXED BY recipients_state JOIN messages m ON m.id = r.message_id
        WHERE r.state IN (${wanted.join(', ')})
        GROUP BY r.domain, bucket`,
    )
    .all(params) as Array<{ domain: string; bucket: number; n: number }>;
  const domains = new Map<string, number[]>();
  for (const row of rows) {
    const counts = domains.get(row.domain) ?? new Array<number>(SHAPE_BUCKETS.length + 1).fill(0);
    counts[row.bucket] = (counts[row.bucket] ?? 0) + row.n;
    domains.set(row.domain, counts);
  }
  return [...domains]
    .map(([domain, byAge]) => ({ domain, recipients: byAge.reduce((a, b) => a + b, 0), byAge }))
    .sort((a, b) => b.recipients - a.recipients || (a.domain < b.domain ? -1 : 1));
}

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
