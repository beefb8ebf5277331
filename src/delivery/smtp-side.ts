// The SMTP side of delivery, built from the configuration: resolver, destinations, connection pool
// and the deliverer. It holds no spool and no schedule (it could run in a worker thread; measured on
// two cores it did not pay: see docs/performance.md).
import type { Config } from '../config/schema.js';
import { createResolver, type Resolver } from '../platform/resolver.js';
import { ConnectionPool } from './connection-pool.js';
import { SmtpDeliverer } from './deliver.js';
import { DestinationResolver } from './destinations.js';
import type { Deliver, TlsInfo } from './types.js';

export interface SmtpSide {
  readonly deliver: Deliver;
  /** Close every delivery connection (shutdown). */
  closeAll(): void;
}

export interface SmtpSideOptions {
  readonly resolver?: Resolver;
  readonly random?: () => number;
  /** Hears of every connection opened, with its TLS (null: plaintext). */
  readonly opened?: (tls: TlsInfo | null) => void;
}

export function buildSmtpSide(config: Config, options: SmtpSideOptions = {}): SmtpSide {
  const d = config.delivery;
  const resolver = options.resolver ?? createResolver({ servers: config.dns.servers, timeoutMs: config.dns.timeout });
  const destinations = new DestinationResolver(resolver, { port: d.port, routes: d.routes, allowPrivateDestinations: d.allowPrivateDestinations }, options.random);
  const t = d.timeouts;
  const timeouts = { connect: t.connect * 1000, greeting: t.greeting * 1000, command: t.command * 1000, data: t.data * 1000 };
  const pool = new ConnectionPool({ hostname: config.hostname, timeouts, maxOpen: d.concurrency, ...(options.opened ? { opened: options.opened } : {}) });
  const deliverer = new SmtpDeliverer(destinations, pool);
  return { deliver: deliverer.deliver, closeAll: () => pool.closeAll() };
}
