// The delivery worker: keeps the ready queue full, starts jobs within the concurrency limits and hands
// their outcomes to the recorder. It never polls the spool in a loop:
//  - A freshly committed message arrives through the Enqueuer's hand-off (offer) with its recipients
//    already leased to this worker, and is attempted at once with the body still in memory. Past
//    READY_BYTES of bodies waiting, a message waits without its body (read from the spool when its
//    turn comes); past READY_RECIPIENTS waiting, its leases are given back and it is claimed from the
//    spool later, like a retry. A burst of submissions thus costs no extra spool writes.
//  - Retries and restarts come from the spool: claimDue() leases a bounded batch (CLAIM_BATCH) when
//    something is due. Then the worker asks for the next due time and sleeps until then (a timer, at
//    most SAFETY_WAKE_MS, which also catches anything unforeseen).
//  - Changes made by another process (the CLI: retry, release, enqueue) are noticed within a second
//    through SQLite's data_version, which costs no query on the tables.
// Outcomes go to the OutcomeRecorder (recorder.ts: batched writes, one DSN per round). Each attempt
// carries what the TLS memory knows of its domain, and a delivery over TLS is remembered there.
// stop(): no new jobs; running ones get `graceMs` to finish, then their connections are closed and
// their results ignored; every lease is returned.
import type { Bouncer } from '../bounce/bouncer.js';
import type { Clock } from '../platform/clock.js';
import type { Logger } from '../platform/logger.js';
import type { Metrics } from '../platform/metrics.js';
import { reply } from '../smtp/reply.js';
import { splitMessage } from '../smtp/headers.js';
import type { DeliveryStore, RecipientResult } from '../spool/delivery-store.js';
import type { NewMessage } from '../spool/enqueue.js';
import { domainOf } from '../smtp/address.js';
import { NO_MESSAGE_DSN, NO_RECIPIENT_DSN, wantsNotice, type EnvelopeDsn, type RecipientDsn } from '../smtp/dsn-parameters.js';
import type { RetrySchedule } from './backoff.js';
import { DispatchQueue } from './dispatch-queue.js';
import { jobsFor, keyOf, type Job } from './jobs.js';
import { OutcomeRecorder } from './recorder.js';
import type { TlsMemory } from './tls-memory.js';
import { outcomeForAll, settle, type Deliver, type Outcome } from './types.js';

const CLAIM_BATCH = 200;
const READY_RECIPIENTS = 20_000;
const READY_BYTES = 32 * 1024 * 1024;
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
  readonly metrics?: Metrics;
  /** Which domains are known to do TLS (delivery.tls.rememberFor); none: every attempt is opportunistic. */
  readonly tlsMemory?: TlsMemory;
}

export class DeliveryWorker {
  private readonly queue: DispatchQueue<Job>;
  private readonly owned = new Set<string>();
  private readonly recorder: OutcomeRecorder;
  private dueAt: number | null = 0;
  private lastSweep = 0;
  private timer: NodeJS.Timeout | null = null;
  private watcher: NodeJS.Timeout | null = null;
  private pumpScheduled = false;
  private started = false;
  private stopping = false;
  private idleWaiters: Array<() => void> = [];

  constructor(
    private readonly deps: WorkerDeps,
    options: WorkerOptions,
  ) {
    this.queue = new DispatchQueue({ concurrency: options.concurrency, perDomain: options.perDomainConcurrency });
    this.recorder = new OutcomeRecorder({
      ...deps,
      retry: options.retry,
      recorded: (results) => this.recorded(results),
      settled: () => this.checkIdle(),
    });
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
      const keys = m.recipients.map((address) => ({ messageId: m.id, address }));
      if (this.queue.waitingRecipients + m.recipients.length > READY_RECIPIENTS) {
        this.giveBack(keys);
        this.dueAt = Math.min(this.dueAt ?? m.createdAt, m.createdAt);
        continue;
      }
      const keepBody = this.queue.waitingBytes + m.body.length <= READY_BYTES;
      const message = { id: m.id, sender: m.sender, createdAt: m.createdAt, dsn: m.dsn?.message, ...(keepBody ? { body: m.body } : {}) };
      const recipients = m.recipients.map((address) => ({
        address,
        domain: domainOf(address),
        attempts: 0,
        dsn: m.dsn?.recipients.get(address),
      }));
      this.enqueueJobs(jobsFor(message, recipients));
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
    this.recorder.abandon();
    if (!finished) this.deps.logger.warn({ running: this.queue.running }, 'abandoning delivery attempts still running at shutdown');
    this.deps.closeConnections();
    try {
      this.deps.store.returnLeases(this.deps.clock.now());
    } catch (err) {
      this.deps.logger.error({ err }, 'cannot return delivery leases; they are returned at the next start');
    }
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
    try {
      if (now - this.lastSweep >= SWEEP_EVERY_MS) {
        this.lastSweep = now;
        this.deps.store.sweepBodies(now);
      }
      if (this.dueAt !== null && this.dueAt <= now && this.queue.waitingRecipients < READY_RECIPIENTS) this.claim(now);
    } catch (err) {
      this.deps.logger.error({ err }, 'cannot read the spool for due deliveries; trying again in a second');
      this.dueAt = now + 1000;
    }
    for (let job = this.queue.take(); job; job = this.queue.take()) void this.run(job);
    this.arm(now);
  }

  /** Hand-off overflow: return the leases so the recipients are claimed from the spool later. */
  private giveBack(keys: ReadonlyArray<{ readonly messageId: string; readonly address: string }>): void {
    try {
      this.deps.store.release(keys, this.deps.clock.now());
    } catch (err) {
      this.deps.logger.error(
        { err, queueId: keys[0]?.messageId },
        'cannot return delivery leases; the message waits for its lease to run out',
      );
    }
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
      if (first) {
        const message = { id: first.messageId, sender: first.sender, createdAt: first.createdAt, dsn: first.messageDsn };
        this.enqueueJobs(jobsFor(message, list));
      }
    }
    this.dueAt = rows.length >= limit ? now : this.deps.store.nextDue();
  }

  private arm(now: number): void {
    if (this.timer) clearTimeout(this.timer);
    const due = this.dueAt;
    const delay = due === null || due <= now ? SAFETY_WAKE_MS : Math.min(due - now, SAFETY_WAKE_MS);
    this.timer = setTimeout(() => this.wake(), delay);
    this.timer.unref();
  }

  private watch(): void {
    try {
      if (this.deps.store.changedElsewhere()) this.wake();
    } catch (err) {
      this.deps.logger.error({ err }, 'cannot read the spool version');
    }
  }

  private async run(job: Job): Promise<void> {
    const outcomes = await this.attempt(job);
    this.queue.finish(job);
    this.recorder.complete(job, outcomes);
    this.schedulePump();
  }

  private async attempt(job: Job): Promise<Outcome[]> {
    const { message } = job;
    const recipients = job.recipients.map((r) => r.address);
    const request = { queueId: message.id, sender: message.sender, domain: job.domain, recipients, dsn: dsnOf(job) };
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
    const outcomes = await settle(this.deps.deliver, { ...request, body, tlsSeenAt: this.tlsSeenAt(job.domain) });
    const undelivered = outcomes.some((o) => o.status !== 'delivered');
    const reportable = undelivered || job.recipients.some((r) => r.dsn && wantsNotice(r.dsn, 'SUCCESS'));
    if (!job.round.originalHeader && reportable) job.round.originalHeader = Buffer.from(splitMessage(body).header);
    if (undelivered && message.dsn?.ret === 'FULL') job.round.original = body;
    if (outcomes.some((o) => o.status === 'delivered' && o.tls !== null)) this.tookTls(job.domain);
    return outcomes;
  }

  private tlsSeenAt(domain: string): number | null {
    try {
      return this.deps.tlsMemory?.seenAt(domain, this.deps.clock.now()) ?? null;
    } catch (err) {
      this.deps.logger.error({ err, domain }, 'cannot read the TLS memory; delivering with opportunistic TLS');
      return null;
    }
  }

  private tookTls(domain: string): void {
    try {
      this.deps.tlsMemory?.delivered(domain, this.deps.clock.now());
    } catch (err) {
      this.deps.logger.error({ err, domain }, 'cannot record a delivery over TLS in the TLS memory');
    }
  }

  private recorded(results: readonly RecipientResult[]): void {
    for (const r of results) {
      this.owned.delete(keyOf(r.messageId, r.address));
      if (r.state === 'deferred') this.dueAt = Math.min(this.dueAt ?? r.nextAttemptAt, r.nextAttemptAt);
    }
    this.schedulePump();
  }

  private isIdle(): boolean {
    return !this.pumpScheduled && this.queue.idle && this.recorder.idle;
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

/** The DSN parameters of a job's message and recipients, when the client gave any. */
function dsnOf(job: Job): EnvelopeDsn | undefined {
  const given = job.recipients.filter((r) => r.dsn !== undefined && r.dsn !== NO_RECIPIENT_DSN);
  const message = job.message.dsn ?? NO_MESSAGE_DSN;
  if (given.length === 0 && message === NO_MESSAGE_DSN) return undefined;
  return { message, recipients: new Map(given.map((r) => [r.address, r.dsn as RecipientDsn])) };
}
