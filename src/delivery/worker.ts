// The delivery worker: keeps the ready queue full, starts jobs within the concurrency limits, turns
// their outcomes into recipient states, DSNs and log lines. It never polls the spool in a loop:
//  - A freshly committed message arrives through the Enqueuer's hand-off (offer) with its recipients
//    already leased to this worker, and is attempted at once with the body still in memory. When the
//    ready queue is full (READY_RECIPIENTS, READY_BYTES) the message's leases are given back instead,
//    and it is claimed from the spool later, like a retry.
//  - Retries and restarts come from the spool: claimDue() leases a bounded batch (CLAIM_BATCH) when
//    something is due. Then the worker asks for the next due time and sleeps until then (a timer, at
//    most SAFETY_WAKE_MS, which also catches anything unforeseen).
//  - Changes made by another process (the CLI: retry, release, enqueue) are noticed within a second
//    through SQLite's data_version, which costs no query on the tables.
// Outcomes are recorded in batches (one transaction for everything finished in the same turn of the
// event loop). Recipients that fail for good wait for the other jobs of their round, then one DSN
// covers them all; their state is written after the DSN is safely spooled, so a crash in between
// repeats the attempt (and perhaps the DSN) rather than losing the DSN.
// stop(): no new jobs; running ones get `graceMs` to finish, then their connections are closed and
// their results ignored; every lease is returned.
import type { Bouncer } from '../bounce/bouncer.js';
import type { Clock } from '../platform/clock.js';
import type { Logger } from '../platform/logger.js';
import { reply, formatReply } from '../smtp/reply.js';
import { splitMessage } from '../smtp/headers.js';
import type { DeliveryStore, RecipientResult } from '../spool/delivery-store.js';
import type { NewMessage } from '../spool/enqueue.js';
import { domainOf } from '../smtp/address.js';
import type { RetrySchedule } from './backoff.js';
import { DispatchQueue } from './dispatch-queue.js';
import { jobsFor, keyOf, type Job, type Round } from './jobs.js';
import { judge, logAttempt } from './results.js';
import { outcomeForAll, settle, type Deliver, type Outcome } from './types.js';

const CLAIM_BATCH = 200;
const READY_RECIPIENTS = 2000;
const READY_BYTES = 64 * 1024 * 1024;
const SAFETY_WAKE_MS = 60_000;
const WATCH_MS = 1000;
const SWEEP_EVERY_MS = 1000;

export interface WorkerOptions {
  readonly concurrency: number;
  readonly perDomainConcurrency: number;
  readonly retry: RetrySchedule;
}

export interface WorkerDeps {
  readonly store: DeliveryStore;
  readonly deliver: Deliver;
  readonly bouncer: Bouncer;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Close every delivery connection (used when stop() abandons running attempts). */
  readonly closeConnections: () => void;
  readonly random?: () => number;
}

export class DeliveryWorker {
  private readonly queue: DispatchQueue<Job>;
  private readonly owned = new Set<string>();
  private pendingResults: RecipientResult[] = [];
  private bouncesInFlight = 0;
  private dueAt: number | null = 0;
  private lastSweep = 0;
  private timer: NodeJS.Timeout | null = null;
  private watcher: NodeJS.Timeout | null = null;
  private pumpScheduled = false;
  private flushScheduled = false;
  private started = false;
  private stopping = false;
  private abandoned = false;
  private idleWaiters: Array<() => void> = [];

  constructor(
    private readonly deps: WorkerDeps,
    private readonly options: WorkerOptions,
  ) {
    this.queue = new DispatchQueue({ concurrency: options.concurrency, perDomain: options.perDomainConcurrency });
  }

  start(): void {
    this.started = true;
    this.watcher = setInterval(() => this.watch(), WATCH_MS);
    this.watcher.unref();
    this.wake();
  }

  /** Look at the spool now (new due work may be there). */
  wake(): void {
    this.dueAt = this.deps.clock.now();
    this.schedulePump();
  }

  /** The hand-off: messages just committed, their recipients leased to this worker. */
  offer(messages: readonly NewMessage[]): void {
    for (const m of messages) {
      if (this.stopping) return;
      const fits = this.queue.waitingRecipients + m.recipients.length <= READY_RECIPIENTS && this.queue.waitingBytes + m.body.length <= READY_BYTES;
      const keys = m.recipients.map((address) => ({ messageId: m.id, address }));
      if (!fits) {
        this.deps.store.release(keys);
        this.dueAt = Math.min(this.dueAt ?? m.createdAt, m.createdAt);
        continue;
      }
      const recipients = m.recipients.map((address) => ({ address, domain: domainOf(address), attempts: 0 }));
      this.enqueueJobs(jobsFor({ id: m.id, sender: m.sender, createdAt: m.createdAt, body: m.body }, recipients));
    }
    this.schedulePump();
  }

  /** Resolves when nothing is waiting, running, being bounced or waiting to be recorded. */
  whenIdle(): Promise<void> {
    if (this.isIdle()) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  async stop(graceMs: number): Promise<void> {
    this.stopping = true;
    this.clearTimers();
    this.queue.drain();
    const finished = await Promise.race([
      this.whenIdle().then(() => true),
      new Promise<boolean>((resolve) => setTimeout(() => resolve(false), graceMs).unref()),
    ]);
    if (!finished) {
      this.flush();
      this.abandoned = true;
      this.deps.logger.warn({ running: this.queue.running }, 'abandoning delivery attempts still running at shutdown');
    }
    this.flush();
    this.deps.closeConnections();
    this.deps.store.returnLeases();
  }

  private enqueueJobs(jobs: readonly Job[]): void {
    for (const job of jobs) {
      for (const r of job.recipients) this.owned.add(keyOf(job.message.id, r.address));
      this.queue.push(job);
    }
  }

  private schedulePump(): void {
    if (this.pumpScheduled) return;
    this.pumpScheduled = true;
    setImmediate(() => {
      this.pumpScheduled = false;
      this.pump();
      this.checkIdle();
    });
  }

  private pump(): void {
    if (!this.started || this.stopping) return;
    const now = this.deps.clock.now();
    if (now - this.lastSweep >= SWEEP_EVERY_MS) {
      this.lastSweep = now;
      this.deps.store.sweepBodies(now);
    }
    if (this.dueAt !== null && this.dueAt <= now && this.queue.waitingRecipients < READY_RECIPIENTS) this.claim(now);
    for (let job = this.queue.take(); job; job = this.queue.take()) void this.run(job);
    this.arm(now);
  }

  private claim(now: number): void {
    const limit = Math.min(CLAIM_BATCH, READY_RECIPIENTS - this.queue.waitingRecipients);
    const rows = this.deps.store.claimDue(now, limit);
    const byMessage = new Map<string, typeof rows>();
    for (const row of rows) {
      if (this.owned.has(keyOf(row.messageId, row.address))) continue;
      const list = byMessage.get(row.messageId) ?? [];
      list.push(row);
      byMessage.set(row.messageId, list);
    }
    for (const list of byMessage.values()) {
      const first = list[0];
      if (first) this.enqueueJobs(jobsFor({ id: first.messageId, sender: first.sender, createdAt: first.createdAt }, list));
    }
    this.dueAt = rows.length >= limit ? now : this.deps.store.nextDue(now);
  }

  private arm(now: number): void {
    if (this.timer) clearTimeout(this.timer);
    const due = this.dueAt;
    const delay = due === null || due <= now ? SAFETY_WAKE_MS : Math.min(due - now, SAFETY_WAKE_MS);
    this.timer = setTimeout(() => this.wake(), delay);
    this.timer.unref();
  }

  private watch(): void {
    if (this.deps.store.changedElsewhere()) this.wake();
  }

  private async run(job: Job): Promise<void> {
    const outcomes = await this.attempt(job);
    this.queue.finish(job);
    if (!this.abandoned) this.complete(job, outcomes);
    this.schedulePump();
  }

  private async attempt(job: Job): Promise<Outcome[]> {
    const { message } = job;
    const recipients = job.recipients.map((r) => r.address);
    const request = { queueId: message.id, sender: message.sender, domain: job.domain, recipients };
    let body: Buffer | null;
    try {
      body = message.body ?? this.deps.store.loadBody(message.id);
    } catch (err) {
      this.deps.logger.error({ queueId: message.id, err }, 'cannot read the message body');
      body = null;
    }
    if (!body) {
      const missing = reply(451, '4.3.0', 'local error: cannot read the message body from the spool');
      return outcomeForAll(request, { status: 'deferred', reply: missing, remote: false, relay: null, tls: null });
    }
    const outcomes = await settle(this.deps.deliver, { ...request, body });
    if (!job.round.originalHeader && outcomes.some((o) => o.status !== 'delivered')) {
      job.round.originalHeader = Buffer.from(splitMessage(body).header);
    }
    return outcomes;
  }

  private complete(job: Job, outcomes: readonly Outcome[]): void {
    const now = this.deps.clock.now();
    const { message, round } = job;
    job.recipients.forEach((recipient, i) => {
      const outcome = outcomes[i];
      if (!outcome) return;
      const judged = judge(message, recipient, outcome, now, this.options.retry, this.deps.random);
      logAttempt(this.deps.logger, message, judged, recipient.attempts + 1);
      if (judged.failed && message.sender !== '') round.failures.push({ result: judged.result, failed: judged.failed });
      else this.record(judged.result);
    });
    round.pending--;
    if (round.pending === 0 && round.failures.length > 0) void this.bounce(message, round);
  }

  private async bounce(message: Job['message'], round: Round): Promise<void> {
    this.bouncesInFlight++;
    const failed = round.failures.map((f) => f.failed);
    try {
      const source = { queueId: message.id, sender: message.sender, arrivedAt: message.createdAt, originalHeader: round.originalHeader ?? Buffer.alloc(0) };
      const dsnId = await this.deps.bouncer.bounce(source, failed);
      this.deps.logger.info({ queueId: message.id, dsn: dsnId, to: message.sender, rcpts: failed.length }, 'sender non-delivery notification');
      for (const f of round.failures) this.record(f.result);
    } catch (err) {
      this.deps.logger.error({ queueId: message.id, err }, 'cannot queue the delivery status notification; will try again');
      const retryAt = this.deps.clock.now() + this.options.retry.minBackoff * 1000;
      const why = formatReply(reply(451, '4.3.0', 'cannot queue the delivery status notification'));
      for (const f of round.failures) this.record({ ...f.result, state: 'deferred', outcome: 'deferred', nextAttemptAt: retryAt, reply: why });
    } finally {
      this.bouncesInFlight--;
      this.checkIdle();
    }
  }

  private record(result: RecipientResult): void {
    if (this.abandoned) return;
    this.pendingResults.push(result);
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => this.flush());
  }

  private flush(): void {
    this.flushScheduled = false;
    const results = this.pendingResults;
    this.pendingResults = [];
    if (results.length === 0 || this.abandoned) return this.checkIdle();
    try {
      const done = this.deps.store.record(results);
      for (const id of done) this.deps.logger.info({ queueId: id }, 'removed');
    } catch (err) {
      this.deps.logger.error({ err, count: results.length }, 'cannot record delivery outcomes; the recipients are retried when their lease runs out');
    }
    for (const r of results) {
      this.owned.delete(keyOf(r.messageId, r.address));
      if (r.state === 'deferred') this.dueAt = Math.min(this.dueAt ?? r.nextAttemptAt, r.nextAttemptAt);
    }
    this.schedulePump();
    this.checkIdle();
  }

  private isIdle(): boolean {
    return !this.pumpScheduled && this.queue.idle && this.bouncesInFlight === 0 && this.pendingResults.length === 0 && !this.flushScheduled;
  }

  private checkIdle(): void {
    if (!this.isIdle()) return;
    for (const resolve of this.idleWaiters.splice(0)) resolve();
  }

  private clearTimers(): void {
    if (this.timer) clearTimeout(this.timer);
    if (this.watcher) clearInterval(this.watcher);
    this.timer = null;
    this.watcher = null;
  }
}
