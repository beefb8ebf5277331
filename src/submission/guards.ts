// The submission service's protections against abuse, built once from the configuration and shared
// by every listener: connection limits, the AUTH brute-force throttle, per-user hourly quotas, and
// the per-session deadlines. All in memory, O(1) per connection, command and message. A reload
// (SIGHUP) applies new `limits` and `authFailures` values in place: counts, blocks and quotas
// already used are kept, and open sessions see the new deadlines from their next request.
import type { Config } from '../config/schema.js';
import type { Clock } from '../platform/clock.js';
import { AuthThrottle } from './auth-throttle.js';
import { ConnectionLimits } from './connection-limits.js';
import type { SessionGuardSettings } from './session-guard.js';
import { UserQuotas } from './user-quota.js';

export class SubmissionGuards {
  readonly connections: ConnectionLimits;
  readonly auth: AuthThrottle;
  readonly quotas: UserQuotas;
  /** One object read by every session at each request, updated in place by reconfigure(). */
  readonly session: SessionGuardSettings;

  constructor(config: Config, clock: Clock) {
    this.connections = new ConnectionLimits(config.limits);
    this.auth = new AuthThrottle(config.authFailures, clock);
    this.quotas = new UserQuotas(config.limits, clock);
    this.session = sessionSettings(config);
  }

  reconfigure(config: Config): void {
    this.connections.configure(config.limits);
    this.auth.configure(config.authFailures);
    this.quotas.configure(config.limits);
    Object.assign(this.session, sessionSettings(config));
  }
}

function sessionSettings({ limits, hostname }: Config): SessionGuardSettings {
  return {
    commandTimeoutMs: limits.commandTimeout * 1000,
    dataTimeoutMs: limits.dataTimeout * 1000,
    minDataRate: limits.minDataRate,
    junkCommandLimit: limits.junkCommandLimit,
    maxErrors: limits.maxErrors,
    hostname,
  };
}
