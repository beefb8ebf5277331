// What happens after an attempt: each recipient's outcome is judged (results.ts) and logged, then
// recorded in batches: everything finished within RECORD_BATCH_MS (or the first RECORD_BATCH_MAX
// results) goes into one spool transaction. A transaction costs about as much as the rows it writes,
// so batching over a few milliseconds rather than one turn of the event loop saves most of that cost
// under load; the recipients stay leased meanwhile, so the short delay is invisible. Recipients that
// failed for good wait for the rest of their round (jobs.ts); then one DSN covers them all, and their
// final state is recorded only once the DSN is committed, so a crash in between repeats the attempt
// (and perhaps the DSN) rather than losing the DSN. If the DSN cannot be spooled they stay deferred
// and are tried again after minBackoff. Null-sender messages never go back to their sender; their
// failures go to the postmaster when one is configured (bouncer.ts).
// Outcomes the spool does not take (a full disk) are kept and written again every second, never
// dropped: dropping them would have the recipients delivered a second time once their lease ran out.
import type { Bouncer } from '../bounce/bouncer.js';
import type { Clock } from '../platform/clock.js';
import type { Logger } from '../platform/logger.js';
import type { Metrics } from '../platform/metrics.js';
import { formatReply, reply } from '../smtp/reply.js';
import type { DeliveryStore, RecipientResult } from '../spool/delivery-store.js';
import type { RetrySchedule } from './backoff.js';
import type { Job, JobMessage, Round } from './jobs.js';
import { judge, logAttempt } from './results.js';
import type { Outcome } from './types.js';

const RECORD_BATCH_MS = 10;
const RECORD_BATCH_MAX = 500;
const RECORD_RETRY_MS = 1000;

export interface RecorderDeps {
  readonly store: DeliveryStore;
  readonly bouncer: Bouncer;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly retry: RetrySchedule;
  readonly random?: () => number;
  readonly metrics?: Metrics;
  /** Called with every batch once it is written (or failed to be). */
  readonly recorded: (results: readonly RecipientResult[]) => void;
  /** Called whenever the recorder may have become idle. */
  readonly settled: () => void;
}

export class OutcomeRecorder {
  private pending: RecipientResult[] = [];
  private flushScheduled = false;
  private timer: NodeJS.Timeout | null = null;
  private bouncesInFlight = 0;
  private abandoned = false;
  private failing = false;

  constructor(private readonly deps: RecorderDeps) {}

  get idle(): boolean {
    return this.pending.length === 0 && !this.flushScheduled && this.bouncesInFlight === 0;
  }

  complete(job: Job, outcomes: readonly Outcome[]): void {
    const now = this.deps.clock.now();
    const { message, round } = job;
    job.recipients.forEach((recipient, i) => {
      const outcome = outcomes[i];
      if (!outcome) return;
      const judged = judge(message, recipient, outcome, now, this.deps.retry, this.deps.random);
      logAttempt(this.deps.logger, message, judged, recipient.attempts + 1);
      this.count(judged.result, message.createdAt);
      if (judged.failed && this.deps.bouncer.noticeTo(message.sender, recipient.address) !== null) {
        round.failures.push({ result: judged.result, failed: judged.failed });
      } else this.record(judged.result);
    });
    round.pending--;
    if (round.pending === 0 && round.failures.length > 0) void this.bounce(message, round);
  }

  /** Attempts by outcome, and the time from acceptance to delivery. */
  private count(result: RecipientResult, createdAt: number): void {
    const metrics = this.deps.metrics;
    if (!metrics) return;
    metrics.deliveryAttempts.inc({ outcome: result.outcome });
    if (result.outcome === 'delivered') metrics.deliveryLatency.observe(Math.max(0, result.at - createdAt) / 1000);
  }

  /** Write what is pending now; later results are dropped (shutdown gave up on them). */
  abandon(): void {
    this.flush();
    this.abandoned = true;
  }

  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.flushScheduled = false;
    const results = this.pending;
    this.pending = [];
    if (results.length > 0 && !this.abandoned) {
      try {
        for (const id of this.deps.store.record(results)) this.deps.logger.info({ queueId: id }, 'removed');
      } catch (err) {
        return this.keepForRetry(results, err);
      }
      if (this.failing) this.deps.logger.info({ count: results.length }, 'recorded the delivery outcomes held back');
      this.failing = false;
      this.deps.recorded(results);
    }
    this.deps.settled();
  }

  /**
   * The spool does not take the outcomes (a full disk, a failing one): keep them, their recipients
   * still leased to this worker so they are not attempted again, and write them again every
   * RECORD_RETRY_MS until it does. Only a restart meanwhile has them attempted again.
   */
  private keepForRetry(results: readonly RecipientResult[], err: unknown): void {
    if (!this.failing) {
      this.deps.logger.error(
        { err, count: results.length },
        'cannot record delivery outcomes; they are kept and written again every second until the spool takes them',
      );
    }
    this.failing = true;
    this.pending = [...results, ...this.pending];
    this.flushScheduled = true;
    this.timer = setTimeout(() => this.flush(), RECORD_RETRY_MS);
  }

  private async bounce(message: JobMessage, round: Round): Promise<void> {
    this.bouncesInFlight++;
    const failed = round.failures.map((f) => f.failed);
    try {
      const source = {
        queueId: message.id,
        sender: message.sender,
        arrivedAt: message.createdAt,
        originalHeader: round.originalHeader ?? Buffer.alloc(0),
      };
      const dsnId = await this.deps.bouncer.bounce(source, failed);
      const to = this.deps.bouncer.noticeTo(message.sender, failed[0]?.address ?? '');
      const who = message.sender === '' ? 'postmaster' : 'sender';
      this.deps.logger.info({ queueId: message.id, dsn: dsnId, to, rcpts: failed.length }, `${who} non-delivery notification`);
      for (const f of round.failures) this.record(f.result);
    } catch (err) {
      this.deps.logger.error({ queueId: message.id, err }, 'cannot queue the delivery status notification; will try again');
      const retryAt = this.deps.clock.now() + this.deps.retry.minBackoff * 1000;
      const why = formatReply(reply(451, '4.3.0', 'cannot queue the delivery status notification'));
      for (const f of round.failures)
        this.record({ ...f.result, state: 'deferred', outcome: 'deferred', nextAttemptAt: retryAt, reply: why });
    } finally {
      this.bouncesInFlight--;
      this.deps.settled();
    }
  }

  private record(result: RecipientResult): void {
    if (this.abandoned) return;
    this.pending.push(result);
    if (this.pending.length >= RECORD_BATCH_MAX && !this.failing) return this.flush();
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    this.timer = setTimeout(() => this.flush(), RECORD_BATCH_MS);
  }
}
