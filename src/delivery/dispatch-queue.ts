// The worker's ready queue: jobs waiting for a connection slot, per recipient domain. take() hands
// out the next job that fits both limits, `delivery.concurrency` (jobs running at once, each one
// connection) and `delivery.perDomainConcurrency` (running jobs per recipient domain), serving the
// domains round-robin so that one busy domain does not starve the others (like Postfix's qmgr).
// It also counts what waits (recipients and message bytes held in memory) so the worker can bound it.

export interface QueuedJob {
  readonly domain: string;
  readonly recipientCount: number;
  /** Bytes of message body this job keeps in memory while it waits. */
  readonly heldBytes: number;
}

export interface Limits {
  readonly concurrency: number;
  readonly perDomain: number;
}

export class DispatchQueue<J extends QueuedJob> {
  private readonly waiting = new Map<string, J[]>();
  private readonly runningByDomain = new Map<string, number>();
  running = 0;
  waitingRecipients = 0;
  waitingBytes = 0;

  constructor(private readonly limits: Limits) {}

  push(job: J): void {
    const list = this.waiting.get(job.domain);
    if (list) list.push(job);
    else this.waiting.set(job.domain, [job]);
    this.waitingRecipients += job.recipientCount;
    this.waitingBytes += job.heldBytes;
  }

  /** The next job the limits allow, now counted as running; undefined when none may start. */
  take(): J | undefined {
    if (this.running >= this.limits.concurrency) return undefined;
    for (const [domain, list] of this.waiting) {
      if ((this.runningByDomain.get(domain) ?? 0) >= this.limits.perDomain) continue;
      const job = list.shift();
      this.waiting.delete(domain);
      if (list.length > 0) this.waiting.set(domain, list); // to the back of the round
      if (!job) continue;
      this.waitingRecipients -= job.recipientCount;
      this.waitingBytes -= job.heldBytes;
      this.running++;
      this.runningByDomain.set(domain, (this.runningByDomain.get(domain) ?? 0) + 1);
      return job;
    }
    return undefined;
  }

  finish(job: J): void {
    this.running--;
    const left = (this.runningByDomain.get(job.domain) ?? 1) - 1;
    if (left > 0) this.runningByDomain.set(job.domain, left);
    else this.runningByDomain.delete(job.domain);
  }

  /** Remove and return every waiting job. */
  drain(): J[] {
    const all = [...this.waiting.values()].flat();
    this.waiting.clear();
    this.waitingRecipients = 0;
    this.waitingBytes = 0;
    return all;
  }

  get idle(): boolean {
    return this.running === 0 && this.waiting.size === 0;
  }
}
