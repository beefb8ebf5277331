// What the daemon offers its operator once the pipeline runs: the metrics and health endpoint, the
// queue gauges, the `daemon` row that `smarthost status` reads, the queue commands' lines relayed
// into the log (admin-log.ts), SIGHUP reloads, and the readiness notification to systemd (sent
// last, when every listener is bound and the spool is open).
// stop() undoes it all in reverse and is called before the spool closes.
import type { Config } from '../config/schema.js';
import type { DkimSigner } from '../dkim/signer.js';
import type { Clock } from '../platform/clock.js';
import type { Logger } from '../platform/logger.js';
import type { Metrics } from '../platform/metrics.js';
import { VERSION } from '../platform/version.js';
import type { SpoolDatabase } from '../spool/database.js';
import { createWriteProbe, recordDaemonStart, recordDaemonStop } from '../spool/daemon-state.js';
import { QueueStats, WAITING_STATES } from '../spool/queue-stats.js';
import type { DiskReserve } from '../spool/reserve.js';
import type { BoundListener } from '../submission/server.js';
import { startAdminLogRelay } from './admin-log.js';
import { HealthCheck, startHttp, type BoundHttp } from './http.js';
import { createReadyNotifier } from './notify.js';
import { Reloader } from './reload.js';

export interface OperationsDeps {
  readonly config: Config;
  readonly configPath: string;
  readonly db: SpoolDatabase;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly dkim: DkimSigner;
  readonly listeners: readonly BoundListener[];
  readonly reserve: DiskReserve;
}

export interface Operations {
  stop(): Promise<void>;
}

export async function startOperations(deps: OperationsDeps): Promise<Operations> {
  const { config, db, clock, logger, metrics, listeners } = deps;
  const stats = new QueueStats(db);
  const waiting = (): Record<string, number> => {
    const counts = stats.recipientCounts();
    return Object.fromEntries(WAITING_STATES.map((state) => [state, counts[state]]));
  };
  metrics.observeQueue({ counts: waiting, oldest: () => stats.oldestWaiting(), now: () => clock.now() });

  let http: BoundHttp | null = null;
  if (config.metrics.listen !== false) {
    const health = new HealthCheck({
      listeners: () => listeners,
      probeSpool: createWriteProbe(db, process.pid),
      disk: () => deps.reserve.space(),
      clock,
      logger,
    });
    http = await startHttp(config.metrics.listen, metrics, health, logger);
  }
  const listenerInfo = listeners.map(({ kind, address, port }) => ({ kind, address, port }));
  const metricsAddress = http ? `${http.address.includes(':') ? `[${http.address}]` : http.address}:${http.port}` : null;
  recordDaemonStart(db, { pid: process.pid, version: VERSION, startedAt: clock.now(), listeners: listenerInfo, metrics: metricsAddress });

  const adminLog = startAdminLogRelay(db, logger);

  const reloader = new Reloader(config, { configPath: deps.configPath, logger, dkim: deps.dkim, listeners });
  const onHangup = (): void => {
    logger.info({ signal: 'SIGHUP' }, 'reloading the configuration');
    reloader.reload();
  };
  process.on('SIGHUP', onHangup);
  await createReadyNotifier(logger)(`${listeners.length} listeners; spool ${config.spool.path}`);

  return {
    stop: async () => {
      process.off('SIGHUP', onHangup);
      adminLog.stop();
      await http?.close();
      recordDaemonStop(db, process.pid);
    },
  };
}
