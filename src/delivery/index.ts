// Assembling the delivery stage from the configuration: the spool store (returning the leases of a
// previous run first), the TLS memory (pruned of what no longer counts), the SMTP side (resolver, destinations, connection pool, deliverer: no spool
// and no schedule), the bouncer and the worker, subscribed to the Enqueuer's hand-off. The caller starts the worker once
// submission runs and stops it before closing the spool.
import { Bouncer, bouncerSettings } from '../bounce/bouncer.js';
import type { Config } from '../config/schema.js';
import type { MessageSigner } from '../dkim/types.js';
import type { Clock } from '../platform/clock.js';
import type { Logger } from '../platform/logger.js';
import type { Metrics } from '../platform/metrics.js';
import { createResolver, type Resolver } from '../platform/resolver.js';
import type { SpoolDatabase } from '../spool/database.js';
import { DELIVERY_LEASE_MS, DeliveryStore } from '../spool/delivery-store.js';
import type { Enqueuer } from '../spool/enqueue.js';
import type { QueueIdGenerator } from '../spool/queue-id.js';
import { ConnectionPool } from './connection-pool.js';
import { SmtpDeliverer } from './deliver.js';
import { DestinationResolver } from './destinations.js';
import { TlsMemory } from './tls-memory.js';
import type { TlsInfo } from './types.js';
import { DeliveryWorker } from './worker.js';

export interface DeliveryDeps {
  readonly config: Config;
  /** The worker's own connection to the spool; synchronous=NORMAL is enough (see spool/database.ts). */
  readonly db: SpoolDatabase;
  /** Must have been created with `{ leaseMs: DELIVERY_LEASE_MS }`. */
  readonly enqueuer: Enqueuer;
  readonly ids: QueueIdGenerator;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly resolver?: Resolver;
  /** Signs DSNs for `hostname` (the DKIM stage), when a key exists. */
  readonly signer?: MessageSigner;
  readonly random?: () => number;
  /** Counts attempts by outcome, delivery latency and outbound TLS use. */
  readonly metrics?: Metrics;
}

export function createDelivery(deps: DeliveryDeps): DeliveryWorker {
  const { config, logger } = deps;
  const d = config.delivery;
  const store = new DeliveryStore(deps.db, { leaseMs: DELIVERY_LEASE_MS, keepDeliveredMs: config.spool.keepDelivered * 1000 });
  const returned = store.returnLeases(deps.clock.now());
  if (returned > 0) logger.info({ recipients: returned }, 'returned the delivery claims of a previous run');
  const opened = (tls: TlsInfo | null): void =>
    deps.metrics?.outboundTls.inc({ tls: tls === null ? 'none' : tls.verified ? 'verified' : 'tls' });
  const resolver = deps.resolver ?? createResolver({ servers: config.dns.servers, timeoutMs: config.dns.timeout });
  const destinations = new DestinationResolver(
    resolver,
    { port: d.port, routes: d.routes, allowPrivateDestinations: d.allowPrivateDestinations },
    deps.random,
  );
  const tlsMemory = new TlsMemory(store, d.tls.rememberFor * 1000);
  const forgotten = tlsMemory.prune(deps.clock.now());
  if (forgotten > 0)
    logger.info({ domains: forgotten }, 'TLS memory: forgot domains not delivered to over TLS within delivery.tls.rememberFor');
  const t = d.timeouts;
  const timeouts = { connect: t.connect * 1000, greeting: t.greeting * 1000, command: t.command * 1000, data: t.data * 1000 };
  const pool = new ConnectionPool({ hostname: config.hostname, timeouts, maxOpen: d.concurrency, opened });
  const bouncer = new Bouncer({ enqueuer: deps.enqueuer, ids: deps.ids, clock: deps.clock, ...bouncerSettings(config) }, deps.signer);
  const worker = new DeliveryWorker(
    {
      store,
      deliver: new SmtpDeliverer({ destinations, pool, logger, metrics: deps.metrics }).deliver,
      bouncer,
      clock: deps.clock,
      logger,
      closeConnections: () => pool.closeAll(),
      random: deps.random,
      metrics: deps.metrics,
      tlsMemory,
    },
    { concurrency: d.concurrency, perDomainConcurrency: d.perDomainConcurrency, retry: d.retry },
  );
  deps.enqueuer.onCommitted((messages) => worker.offer(messages));
  return worker;
}
