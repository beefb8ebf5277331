// The daemon (`smarthost serve`): load and check the configuration, lock and check the spool, start the
// pipeline's stages and the operator's side (metrics and health, SIGHUP reload, readiness to
// systemd: src/daemon/), in development the dev sink (devSink: src/daemon/dev-sink.ts) and the
// keys marked create: true, and handle signals. SIGTERM/SIGINT drain: stop accepting, let transactions
// in flight finish, give delivery attempts in flight a bounded time (then abandon them and return
// their claims), close the spool, exit 0.
import { UserStore } from './auth/users.js';
import { generatePassword } from './auth/password.js';
import { readConfigFiles, type ConfigFiles } from './config/files.js';
import { ConfigError, loadConfig } from './config/load.js';
import type { Config } from './config/schema.js';
import { startDevSink, type DevSink } from './daemon/dev-sink.js';
import { startOperations } from './daemon/operations.js';
import { createDelivery } from './delivery/index.js';
import { createMissingKeys } from './dkim/keygen.js';
import { Keyring } from './dkim/keyring.js';
import { DkimSigner } from './dkim/signer.js';
import { systemClock } from './platform/clock.js';
import { commandHint } from './platform/command-hint.js';
import { createLogger, type Logger } from './platform/logger.js';
import { Metrics } from './platform/metrics.js';
import { VERSION } from './platform/version.js';
import { openSpool, type SpoolDatabase } from './spool/database.js';
import { checkAccess, ensureSpoolDirectory, spoolPaths, tightenModes } from './spool/files.js';
import { verifySpool } from './spool/integrity.js';
import { lockSpool, type SpoolLock } from './spool/lock.js';
import { DiskReserve } from './spool/reserve.js';
import { HistorySweeper, startHistorySweep } from './spool/retention.js';
import { DELIVERY_LEASE_MS } from './spool/delivery-store.js';
import { deferAutomaticCheckpoints, startCheckpointer } from './spool/checkpointer.js';
import { Enqueuer } from './spool/enqueue.js';
import { QueueIdGenerator } from './spool/queue-id.js';
import { startSubmission, stopSubmission } from './submission/listeners.js';
import { ensureSelfSignedCertificate } from './tls/self-signed.js';

const SHUTDOWN_GRACE_MS = 30_000;
const DELIVERY_GRACE_MS = 10_000;

export async function runDaemon(configPath: string): Promise<void> {
  const config = loadConfig(configPath);
  const logger = createLogger(config.log.level);
  if (config.tls.selfSigned && ensureSelfSignedCertificate(config.tls.cert, config.tls.key, config.hostname)) {
    logger.warn({ cert: config.tls.cert }, 'created a self-signed TLS certificate; use a real one in production');
  }
  for (const key of createMissingKeys(config.dkim.keys)) {
    logger.warn(
      { domain: key.domain, selector: key.selector, file: key.privateKey },
      'created a DKIM key (create: true); for production use `smarthost dkim keygen` and publish its record',
    );
  }
  const files = readConfigFiles(config);
  if (Array.isArray(files)) throw new ConfigError(configPath, files);

  const spool = openDaemonSpool(config, logger);
  try {
    await startPipeline(config, configPath, files, spool, logger);
  } catch (err) {
    spool.db.close(); // closed before the process exits
    spool.lock.release();
    throw err;
  }
}

interface DaemonSpool {
  readonly db: SpoolDatabase;
  readonly lock: SpoolLock;
}

/**
 * The spool, as only the daemon opens it: the directory made, access checked, the one-daemon lock
 * taken before anything in the spool is touched, loose file modes tightened, the file checked whole
 * (quick_check) and migrated.
 */
function openDaemonSpool(config: Config, logger: Logger): DaemonSpool {
  const paths = spoolPaths(config.spool.path);
  ensureSpoolDirectory(paths);
  checkAccess(paths);
  const lock = lockSpool(paths);
  try {
    for (const changed of tightenModes(paths))
      logger.warn(changed, 'tightened the permissions of a spool file: group and others could read it');
    const started = Date.now();
    const db = openSpool(config.spool.path, { busyTimeout: config.spool.busyTimeout });
    try {
      verifySpool(db, config.spool.path);
    } catch (err) {
      db.close();
      throw err;
    }
    logger.info({ spool: config.spool.path, ms: Date.now() - started }, 'spool checked');
    return { db, lock };
  } catch (err) {
    lock.release();
    throw err;
  }
}

async function startPipeline(config: Config, configPath: string, files: ConfigFiles, spool: DaemonSpool, logger: Logger): Promise<void> {
  const { db } = spool;
  const users = new UserStore(db);
  await createInitialUser(config, configPath, users, logger);
  const enqueuer = new Enqueuer(db, { leaseMs: DELIVERY_LEASE_MS });
  const ids = new QueueIdGenerator();
  const dkim = new DkimSigner(config.dkim, { clock: systemClock, logger }, new Keyring(files.dkimKeys)); // reload() re-reads keys
  const metrics = new Metrics();
  const bookkeeping = openSpool(config.spool.path, { busyTimeout: config.spool.busyTimeout, synchronous: 'NORMAL' });
  for (const connection of [db, bookkeeping]) deferAutomaticCheckpoints(connection);
  const checkpointer = startCheckpointer({
    path: config.spool.path,
    busyTimeout: config.spool.busyTimeout,
    onError: (err) => logger.error({ err }, 'the WAL checkpoint thread failed; checkpoints fall back to the committing connections'),
  });
  const delivery = createDelivery({
    config,
    db: bookkeeping,
    enqueuer,
    ids,
    clock: systemClock,
    logger,
    signer: dkim.signIfKeyExists,
    metrics,
  });
  const reserve = new DiskReserve(spoolPaths(config.spool.path).dir, config.spool.minFree, (space) =>
    space.ok
      ? logger.info(space, 'the spool file system has room again; new mail is accepted')
      : logger.warn(space, 'the spool file system has less free space than spool.minFree; new mail gets 452 4.3.1 until it has more'),
  );
  reserve.space(); // logs at once if the daemon starts below the reserve
  const listeners = await startSubmission(
    { config, users, enqueuer, ids, clock: systemClock, logger, metrics, sign: dkim.sign, reserve },
    files.tls,
  );
  const sink: DevSink | null = config.devSink
    ? await startDevSink({ ...config.devSink, maxMessageSize: config.limits.maxMessageSize }, logger)
    : null;
  delivery.start();
  const history = startHistorySweep(
    new HistorySweeper(bookkeeping, config.spool.keepHistory * 1000),
    () => systemClock.now(),
    (messages) => logger.info({ messages, keepHistory: config.spool.keepHistory }, 'deleted the records of finished messages'),
    (err) => logger.error({ err }, 'cannot delete the records of finished messages; trying again later'),
  );
  const operations = await startOperations({ config, configPath, db, clock: systemClock, logger, metrics, dkim, listeners, reserve });
  logger.info({ hostname: config.hostname, spool: config.spool.path, version: VERSION, pid: process.pid }, 'ready');

  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    void stopSubmission(listeners, SHUTDOWN_GRACE_MS)
      .then(() => delivery.stop(DELIVERY_GRACE_MS))
      .then(() => sink?.close())
      .then(() => operations.stop())
      .then(() => checkpointer.stop())
      .then(() => {
        history.stop();
        bookkeeping.close();
        db.close();
        spool.lock.release();
        logger.info('stopped');
        process.exit(0);
      });
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

/** First run: create `initialUser` with a generated password, printed once. */
async function createInitialUser(config: Config, configPath: string, users: UserStore, logger: Logger): Promise<void> {
  const wanted = config.initialUser;
  if (!wanted || users.count() > 0) return;
  const password = generatePassword();
  await users.add(wanted.name, password, wanted.allow);
  logger.warn({ user: wanted.name, allow: wanted.allow }, 'created the initial user; its password is printed once on stderr');
  process.stderr.write(
    `\nsmarthost: created user "${wanted.name}" (may send as ${wanted.allow.join(', ')})\n` +
      `smarthost: password: ${password}\n` +
      `smarthost: change it with: ${commandHint(`user passwd ${wanted.name}`, configPath)}\n\n`,
  );
}
