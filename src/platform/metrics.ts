// The daemon's metrics, in one prom-client Registry per daemon (no global state): every stage gets
// this object and counts what it does; the metrics listener serves registry.metrics(). Labels are
// bounded sets (listener kind, reason code, outcome, state): never per user, recipient or address.
// The queue gauges are read from the spool when scraped (observeQueue gives them their source).
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export class Metrics {
  readonly registry = new Registry();

  readonly connections = new Counter({
    name: 'smarthost_connections_total',
    help: 'Client connections accepted, by listener',
    labelNames: ['listener'] as const,
    registers: [this.registry],
  });
  readonly connectionsActive = new Gauge({
    name: 'smarthost_connections_active',
    help: 'Client connections open now',
    registers: [this.registry],
  });
  readonly authFailures = new Counter({
    name: 'smarthost_auth_failures_total',
    help: 'Failed SMTP AUTH attempts, by reason',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly messagesAccepted = new Counter({
    name: 'smarthost_messages_accepted_total',
    help: 'Messages spooled (250 sent)',
    registers: [this.registry],
  });
  readonly acceptLatency = new Histogram({
    name: 'smarthost_accept_latency_seconds',
    help: "From the end of a message's data to its 250 (checks, signing, the spool commit)",
    buckets: [0.001, 0.002, 0.003, 0.004, 0.005, 0.0075, 0.01, 0.0125, 0.015, 0.02, 0.025, 0.03, 0.04, 0.05, 0.075, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });
  readonly messagesRefused = new Counter({
    name: 'smarthost_messages_refused_total',
    help: 'Transactions refused, by reason code (SMARTHOST_E_*)',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly deliveryAttempts = new Counter({
    name: 'smarthost_delivery_attempts_total',
    help: 'Recipient delivery attempts, by outcome',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });
  readonly deliveryLatency = new Histogram({
    name: 'smarthost_delivery_latency_seconds',
    help: 'Time from acceptance to successful delivery',
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 14400, 86400],
    registers: [this.registry],
  });
  readonly outboundTls = new Counter({
    name: 'smarthost_outbound_connections_total',
    help: 'Outbound SMTP connections, by TLS use (none, tls, verified)',
    labelNames: ['tls'] as const,
    registers: [this.registry],
  });
  readonly tlsFallbacks = new Counter({
    name: 'smarthost_delivery_tls_fallbacks_total',
    help: 'Outbound TLS failures, by what followed: plaintext (retried without TLS) or refused (domain known to do TLS)',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });

  readonly connectionsRefused = new Counter({
    name: 'smarthost_connections_refused_total',
    help: 'Client connections refused at connect, by reason (limit_total, limit_address, blocked)',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly authBlocks = new Counter({
    name: 'smarthost_auth_blocks_total',
    help: 'Cooling periods started by failed logins, by scope (client address or user name)',
    labelNames: ['scope'] as const,
    registers: [this.registry],
  });
  readonly authThrottled = new Counter({
    name: 'smarthost_auth_throttled_total',
    help: 'Connections and AUTH commands refused during a cooling period, by scope',
    labelNames: ['scope'] as const,
    registers: [this.registry],
  });
  readonly sessionsEnded = new Counter({
    name: 'smarthost_sessions_ended_total',
    help: 'Sessions ended by the server, by reason (command_timeout, data_timeout, junk_commands, too_many_errors)',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });

  readonly queueRecipients = new Gauge({
    name: 'smarthost_queue_recipients',
    help: 'Recipients waiting in the spool, by state (queued, deferred, held)',
    labelNames: ['state'] as const,
    registers: [this.registry],
    collect: () => this.collectQueue(),
  });
  readonly oldestMessageAge = new Gauge({
    name: 'smarthost_queue_oldest_message_age_seconds',
    help: 'Age of the oldest message with a recipient still waiting (0 when none)',
    registers: [this.registry],
    collect: () => this.collectOldest(),
  });

  private queue: QueueSource | null = null;

  /** Where the queue gauges read their values at each scrape. */
  observeQueue(source: QueueSource): void {
    this.queue = source;
  }

  private collectQueue(): void {
    const counts = this.queue?.counts();
    if (!counts) return;
    for (const [state, n] of Object.entries(counts)) this.queueRecipients.set({ state }, n);
  }

  private collectOldest(): void {
    if (!this.queue) return;
    const oldest = this.queue.oldest();
    this.oldestMessageAge.set(oldest === null ? 0 : Math.max(0, (this.queue.now() - oldest) / 1000));
  }

  constructor(options: { defaultMetrics?: boolean } = {}) {
    if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: this.registry, prefix: 'smarthost_' });
  }
}

export interface QueueSource {
  /** Waiting recipients by state. */
  counts(): Readonly<Record<string, number>>;
  /** Arrival time (ms) of the oldest waiting message, or null. */
  oldest(): number | null;
  now(): number;
}
