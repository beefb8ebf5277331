// What happens after an attempt: each recipient's outcome is judged (results.ts) and logged, then
// recorded in batches: everything finished within RECORD_BATCH_MS (or the first RECORD_BATCH_MAX
// results) goes into one spool transaction. A transaction costs about as much as the rows it writes,
// so batching over a few milliseconds rather than one turn of the event loop saves most of that cost
// under load; the recipients stay leased meanwhile, so the short delay is invisible. Recipients that
// failed for good wait for the rest of their round (jobs.ts); then one DSN covers them all, and their
// final state is recorded only once the DSN is committed, so a crash in between repeats the attempt
// (and perhaps the DSN) rather than losing the DSN. If the DSN cannot be spooled they stay deferred
// and are tried again after minBackoff. The same holds for delay warnings and success reports (one
// DSN per kind and round): a delayed recipient is marked warned only with its warning spooled (else
// the next deferral tries again); a delivered one is recorded delivered either way. Which outcomes
// are reported, and to whom, is the bouncer's rule (bouncer.ts: NOTIFY, the null sender, the
// postmaster).
// Outcomes the spool does not take (a full disk) are kept and written again every second, never
// dropped: dropping them would have the recipients delivered a second time once their lease ran out.
import type { Bouncer } from '../bounce/bouncer.js';
import type { Clock } from '../platform/clock.js';
import type { Logger } from '../platform/logger.js';
import type { Metrics } from '../platform/metrics.js';
import type { ReportAction } from '../bounce/dsn.js';
import { NO_RECIPIENT_DSN } from '../smtp/dsn-parameters.js';
import { formatReply, reply } from '../smtp/reply.js';
import type { DeliveryStore, RecipientResult } from '../spool/delivery-store.js';
import type { RetrySchedule } from './backoff.js';
import type { Job, JobMessage, Round } from './jobs.js';
import { judge, logAttempt } from './results.js';
import type { Outcome } from './types.js';

const RECORD_BATCH_MS = 10;
const REPORT_ORDER: readonly ReportAction[] = ['failed', 'delayed', 'relayed'];
/** As Postfix logs them. */
const NOTICE_NAMES: Record<ReportAction, string> = {
  failed: 'non-delivery notification',
  delayed: 'delay notification',
  relayed: 'delivery status notification',
};
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
      const reported = this.deps.bouncer.reportsOn({
        sender: message.sender,
        address: recipient.address,
        dsn: recipient.dsn ?? NO_RECIPIENT_DSN,
        action: judged.action,
        arrivedAt: message.createdAt,
        now,
        delayWarned: recipient.delayWarned === true,
        passedOn: outcome.dsnPassedOn === true,
      });
      if (reported) round.reports.push({ result: judged.result, report: judged.report, action: judged.action });
      else this.record(judged.result);
    });
    round.pending--;
    if (round.pending === 0 && round.reports.length > 0) void this.report(message, round);
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

  /** One DSN for each kind of report the round has, one after the other. */
  private async report(message: JobMessage, round: Round): Promise<void> {
    this.bouncesInFlight++;
    try {
      for (const action of REPORT_ORDER) {
        const group = round.reports.filter((r) => r.action === action);
        if (group.length > 0) await this.reportGroup(message, round, action, group);
      }
    } finally {
      round.original = null;
      this.bouncesInFlight--;
      this.deps.settled();
    }
  }

  private async reportGroup(message: JobMessage, round: Round, action: ReportAction, group: Round['reports']): Promise<void> {
    const recipients = group.map((r) => r.report);
    try {
      const source = {
        queueId: message.id,
        sender: message.sender,
        arrivedAt: message.createdAt,
        originalHeader: round.originalHeader ?? Buffer.alloc(0),
        original: round.original,
        dsn: message.dsn,
      };
      const dsnId = await this.deps.bouncer.bounce(source, recipients, action);
      const to = this.deps.bouncer.noticeTo(message.sender, recipients[0]?.address ?? '');
      const who = message.sender === '' ? 'postmaster' : 'sender';
      this.deps.logger.info({ queueId: message.id, dsn: dsnId, to, rcpts: recipients.length }, `${who} ${NOTICE_NAMES[action]}`);
      const warnedAt = action === 'delayed' ? this.deps.clock.now() : null;
      for (const r of group) this.record(warnedAt === null ? r.result : { ...r.result, delayWarnedAt: warnedAt });
    } catch (err) {
      if (action !== 'failed') {
        this.deps.logger.error({ queueId: message.id, err }, `cannot queue the ${NOTICE_NAMES[action]}`);
        for (const r of group) this.record(r.result);
        return;
      }
      this.deps.logger.error({ queueId: message.id, err }, 'cannot queue the delivery status notification; will try again');
      const retryAt = this.deps.clock.now() + this.deps.retry.minBackoff * 1000;
      const why = formatReply(reply(451, '4.3.0', 'cannot queue the delivery status notification'));
      for (const r of group) this.record({ ...r.result, state: 'deferred', outcome: 'deferred', nextAttemptAt: retryAt, reply: why });
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
