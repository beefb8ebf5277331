// SIGHUP: re-read the configuration file and apply what can change without a restart to the running
// daemon, without dropping a connection: the TLS certificate and key (renewals), the DKIM keys,
// log.level, the submission limits (`limits`), the brute-force settings (`authFailures`) and the
// relay clients (`relay`). It is all or nothing: the new file is parsed and validated, the
// certificate and key read and checked as a pair, and every DKIM key read and parsed before anything
// changes; on any problem the problems are logged, naming the keys, and the running configuration
// stays.
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

/** What a reload applies (a section, or one key of it); every other change needs a restart. */
const RELOADED = new Set(['tls', 'dkim', 'log', 'limits', 'authFailures', 'relay']);

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
  /** `started`: the configuration the daemon started with (what needs a restart is measured against it). */
  constructor(
    private readonly started: Config,
    private readonly targets: ReloadTargets,
  ) {}

  reload(): ReloadResult {
    const { logger } = this.targets;
    const result = this.apply();
    if (!result.ok) {
      logger.error(
        { file: this.targets.configPath, problems: result.problems },
        'reload refused; the running configuration stays in force',
      );
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
    const restartNeeded = changedKeys(this.started, next).filter((key) => !RELOADED.has(key) && !RELOADED.has(key.split('.')[0] ?? ''));
    this.targets.logger.info({ cert: next.tls.cert, logLevel: next.log.level, limits: next.limits }, 'configuration reloaded');
    this.targets.logger.level = next.log.level; // last, so the line above is written whatever the new level
    return { ok: true, restartNeeded };
  }
}

/** The keys that differ, as "section.key" (or "section" for a value that is not an object). */
function changedKeys(before: Config, after: Config): string[] {
  const changed: string[] = [];
  const a = before as Record<string, unknown>;
  const b = after as Record<string, unknown>;
  for (const section of new Set([...Object.keys(a), ...Object.keys(b)])) {
    const [x, y] = [a[section], b[section]];
    if (isObject(x) && isObject(y)) {
      for (const key of new Set([...Object.keys(x), ...Object.keys(y)])) {
        if (JSON.stringify(x[key]) !== JSON.stringify(y[key])) changed.push(`${section}.${key}`);
      }
    } else if (JSON.stringify(x) !== JSON.stringify(y)) {
      changed.push(section);
    }
  }
  return changed;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
