// Relaying the admin log (src/spool/admin-log.ts) into the daemon's log: at start, and whenever
// another process has committed to the spool (data_version, looked at once a second), the lines that
// queue commands left are logged, oldest first, with `at` (when the command ran), and deleted. At
// most BATCH lines per turn of the event loop, so the 10,000 lines of a bulk command never hold it up.
import type { Logger } from '../platform/logger.js';
import { AdminLog } from '../spool/admin-log.js';
import type { SpoolDatabase } from '../spool/database.js';

const WATCH_MS = 1000;
const BATCH = 500;

export interface AdminLogRelay {
  stop(): void;
}

export function startAdminLogRelay(db: SpoolDatabase, logger: Logger): AdminLogRelay {
  const log = new AdminLog(db);
  let stopped = false;
  const relay = (): void => {
    if (stopped) return;
    let taken = 0;
    try {
      const lines = log.take(BATCH);
      for (const line of lines) logger.info({ ...line.fields, at: new Date(line.at).toISOString() }, line.msg);
      const last = lines.at(-1);
      if (last) log.removeThrough(last.id);
      taken = lines.length;
    } catch (err) {
      logger.error({ err }, "cannot relay the queue commands' log lines from the spool; trying again in a second");
    }
    if (taken === BATCH) setImmediate(relay);
  };
  const watch = (): void => {
    try {
      if (log.changedElsewhere()) relay();
    } catch (err) {
      logger.error({ err }, 'cannot read the spool version');
    }
  };
  watch();
  const timer = setInterval(watch, WATCH_MS);
  timer.unref();
  return {
    stop: () => {
      stopped = true;
      clearInterval(timer);
    },
  };
}
