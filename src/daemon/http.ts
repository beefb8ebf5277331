// The operator's HTTP endpoint on `metrics.listen` (loopback by default): GET /metrics serves the
// Prometheus text of the daemon's registry; GET /healthz answers 200 only when the spool takes a
// write, its file system has more than the free-space reserve (spool.minFree) and every submission
// listener is bound, 503 otherwise, with the checks as JSON either way: status "unavailable" when
// the spool or a listener fails, "degraded" when only the reserve is crossed (new mail gets 452 4.3.1
// while delivery goes on). The spool probe is a real committed write, run at most once a second
// however often it is asked; the free space is read at each request (one statfs call).
// Nothing else is served, and no request body is read.
import http from 'node:http';
import type net from 'node:net';
import type { Clock } from '../platform/clock.js';
import type { Logger } from '../platform/logger.js';
import type { Metrics } from '../platform/metrics.js';
import type { DiskSpace } from '../spool/reserve.js';
import type { BoundListener } from '../submission/server.js';
import { parseEndpoint } from '../config/schema.js';

const PROBE_EVERY_MS = 1000;

export interface HealthDeps {
  readonly listeners: () => readonly BoundListener[];
  /** Throws when the spool cannot be written. */
  readonly probeSpool: (now: number) => void;
  /** The spool's free space against its reserve. */
  readonly disk?: () => DiskSpace;
  readonly clock: Clock;
  readonly logger: Logger;
}

export interface Health {
  readonly ok: boolean;
  readonly status: 'ok' | 'degraded' | 'unavailable';
  readonly spool: string;
  readonly disk: DiskSpace | null;
  readonly listeners: ReadonlyArray<{ kind: string; address: string; port: number; listening: boolean }>;
}

export class HealthCheck {
  private last: { at: number; spool: string } | null = null;

  constructor(private readonly deps: HealthDeps) {}

  check(): Health {
    const spool = this.spoolState();
    const listeners = this.deps
      .listeners()
      .map((l) => ({ kind: l.kind, address: l.address, port: l.port, listening: l.server.server.listening }));
    const up = spool === 'ok' && listeners.length > 0 && listeners.every((l) => l.listening);
    const disk = this.diskState();
    const status = !up ? 'unavailable' : disk && !disk.ok ? 'degraded' : 'ok';
    return { ok: status === 'ok', status, spool, disk, listeners };
  }

  private diskState(): DiskSpace | null {
    try {
      return this.deps.disk?.() ?? null;
    } catch (err) {
      this.deps.logger.error({ err }, 'health check: cannot read the free space of the spool file system');
      return null;
    }
  }

  private spoolState(): string {
    const now = this.deps.clock.now();
    if (this.last && now - this.last.at < PROBE_EVERY_MS) return this.last.spool;
    let spool = 'ok';
    try {
      this.deps.probeSpool(now);
    } catch (err) {
      spool = `not writable: ${(err as Error).message}`;
      this.deps.logger.error({ err }, 'health check: the spool cannot be written');
    }
    this.last = { at: now, spool };
    return spool;
  }
}

export interface BoundHttp {
  readonly address: string;
  readonly port: number;
  close(): Promise<void>;
}

export async function startHttp(endpoint: string, metrics: Metrics, health: HealthCheck, logger: Logger): Promise<BoundHttp> {
  const server = http.createServer((req, res) => void respond(req, res, metrics, health, logger));
  const { host, port } = parseEndpoint(endpoint);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const bound = server.address() as net.AddressInfo;
  logger.info({ listener: 'metrics', address: bound.address, port: bound.port }, 'listening');
  return {
    address: bound.address,
    port: bound.port,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

async function respond(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  metrics: Metrics,
  health: HealthCheck,
  logger: Logger,
): Promise<void> {
  const path = (req.url ?? '/').split('?')[0];
  if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'text/plain', 'method not allowed\n');
  try {
    if (path === '/metrics') return send(res, 200, metrics.registry.contentType, await metrics.registry.metrics());
    if (path === '/healthz') {
      const result = health.check();
      return send(res, result.ok ? 200 : 503, 'application/json', `${JSON.stringify(result)}\n`);
    }
    return send(res, 404, 'text/plain', 'not found\n');
  } catch (err) {
    logger.error({ err, path }, 'metrics endpoint failed');
    return send(res, 500, 'text/plain', 'internal error\n');
  }
}

function send(res: http.ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
  res.end(body);
}
