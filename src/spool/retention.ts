// Retention of finished messages (`spool.keepHistory`). A message whose every recipient was delivered
// or bounced has done_at set (delivery-store.ts); its body goes at once or after keepDelivered, but its
// message, recipient and attempt rows stay for `queue show` and post-mortems until keepHistory seconds
// after done_at. Then the sweep deletes them (the recipients, attempts and any body go with the
// message: ON DELETE CASCADE). So the rows in the spool are bounded by the mail of one keepHistory
// window plus what is still waiting.
// The sweep never holds the write lock for long: it deletes at most HISTORY_BATCH messages per transaction
// (a few milliseconds), one transaction per turn of the event loop, so submissions and delivery
// commit in between, and stops when a batch comes back short; it starts again every SWEEP_EVERY_MS.
// SQLite puts the pages of deleted rows on its free list and fills them again before it grows the
// file, so once the window is full the file stops growing (bench/retention.ts); it never shrinks.
import type { SpoolDatabase } from './database.js';

/** Messages per delete transaction. */
export const HISTORY_BATCH = 100;
const SWEEP_EVERY_MS = 1000;

export class HistorySweeper {
  private readonly deleteBatch;

  constructor(
    db: SpoolDatabase,
    private readonly keepHistoryMs: number,
    readonly batch = HISTORY_BATCH,
  ) {
    this.deleteBatch = db.prepare(
      `DELETE FROM messages WHERE id IN (
         SELECT id FROM messages INDEXED BY messages_done WHERE done_at <= ? ORDER BY done_at LIMIT ?)`,
    );
  }

  /** Delete up to one batch of messages finished keepHistory ago or longer; returns how many. */
  sweepBatch(now: number): number {
    return this.deleteBatch.run(now - this.keepHistoryMs, this.batch).changes;
  }
}

export interface HistorySweep {
  stop(): void;
}

/**
 * Run the sweep every SWEEP_EVERY_MS, one batch per turn of the event loop until a batch is short.
 * `onSwept` gets the number of messages deleted by each run that deleted any; `onError` a failure
 * (the next run tries again).
 */
export function startHistorySweep(
  sweeper: HistorySweeper,
  now: () => number,
  onSwept: (messages: number) => void,
  onError: (err: unknown) => void,
): HistorySweep {
  let stopped = false;
  let timer: NodeJS.Timeout | null = null;
  const schedule = (): void => {
    if (stopped) return;
    timer = setTimeout(() => run(0), SWEEP_EVERY_MS);
    timer.unref();
  };
  const run = (total: number): void => {
    if (stopped) return;
    let deleted: number;
    try {
      deleted = sweeper.sweepBatch(now());
    } catch (err) {
      onError(err);
      return schedule();
    }
    if (deleted === sweeper.batch) return void setImmediate(() => run(total + deleted));
    if (total + deleted > 0) onSwept(total + deleted);
    schedule();
  };
  schedule();
  return {
    stop: () => {
      stopped = true;
      if (timer) clearTimeout(timer);
    },
  };
}
