// SIGHUP: re-read the configuration file and apply what can change without a restart to the running
// daemon, without dropping a connection: the TLS certificate and key (renewals), the DKIM keys,
// log.level and limits. It is all or nothing: the new file is parsed and validated, the certificate
// and key read and checked as a pair, and every DKIM key read and parsed before anything changes;
// on any problem the problems are logged, naming the keys, and the running configuration stays.
// Changed keys that take effect only at a restart (listeners, spool, delivery, …) are named in a
// warning; their old values stay in force until then.
import { readTlsFiles } from '../config/files.js';
import { ConfigError, loadConfig } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { DkimKeyError } from '../dkim/key-file.js';
import type { DkimSigner } from '../dkim/signer.js';
import type { Logger } from '../platform/logger.js';
import { reconfigureSubmission } from '../submission/listeners.js';
import type { BoundListener } from '../submission/server.js';

/** The top-level sections a reload applies; every other one needs a restart. */
const RELOADED = new Set(['tls', 'dkim', 'log', 'limits']);

export interface ReloadTargets {
  readonly configPath: string;
  readonly logger: Logger;
  readonly dkim: DkimSigner;
  readonly listeners: readonly BoundListener[];
}

export type ReloadResult =
  | { readonly ok: true; readonly restartNeeded: readonly string[] }
  | { readonly ok: false; readonly problems: readonly string[] };

export class Reloader {
  constructor(
    private current: Config,
    private readonly targets: ReloadTargets,
  ) {}

  get config(): Config {
    return this.current;
  }

  reload(): ReloadResult {
    const { logger } = this.targets;
    const result = this.apply();
    if (!result.ok) {
      logger.error({ file: this.targets.configPath, problems: result.problems }, 'reload refused; the running configuration stays in force');
    } else if (result.restartNeeded.length > 0) {
      logger.warn({ keys: result.restartNeeded }, 'configuration changes that take effect only at the next restart');
    }
    return result;
  }

  private apply(): ReloadResult {
    let next: Config;
    try {
      next = loadConfig(this.targets.configPath);
    } catch (err) {
      if (err instanceof ConfigError) return { ok: false, problems: err.problems };
      throw err;
    }
    const tls = readTlsFiles(next);
    if (Array.isArray(tls)) return { ok: false, problems: tls };
    try {
      this.targets.dkim.reload(next.dkim);
    } catch (err) {
      if (err instanceof DkimKeyError) return { ok: false, problems: err.problems };
      throw err;
    }
    reconfigureSubmission(this.targets.listeners, next, tls);
    const restartNeeded = changedSections(this.current, next).filter((key) => !RELOADED.has(key));
    this.current = next;
    this.targets.logger.info({ cert: next.tls.cert, logLevel: next.log.level, limits: next.limits }, 'configuration reloaded');
    this.targets.logger.level = next.log.level; // last, so the line above is written whatever the new level
    return { ok: true, restartNeeded };
  }
}

function changedSections(before: Config, after: Config): string[] {
  const keys = new Set([...Object.keys(before), ...Object.keys(after)]);
  const section = (config: Config, key: string): string => JSON.stringify((config as Record<string, unknown>)[key]) ?? '';
  return [...keys].filter((key) => section(before, key) !== section(after, key));
}
