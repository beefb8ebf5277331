// The submission service's protections against abuse, built once from the configuration and shared
// by every listener: connection limits, the AUTH brute-force throttle, per-user hourly quotas, and
// the per-session deadlines. All in memory, O(1) per connection, command and message.
import type { Config } from '../config/schema.js';
import type { Clock } from '../platform/clock.js';
import { AuthThrottle } from './auth-throttle.js';
import { ConnectionLimits } from './connection-limits.js';
import type { SessionGuardSettings } from './session-guard.js';
import { UserQuotas } from './user-quota.js';

export interface SubmissionGuards {
  readonly connections: ConnectionLimits;
  readonly auth: AuthThrottle;
  readonly quotas: UserQuotas;
  readonly session: SessionGuardSettings;
}

export function createGuards(config: Config, clock: Clock): SubmissionGuards {
  const { limits } = config;
  return {
    connections: new ConnectionLimits(limits),
    auth: new AuthThrottle(config.authFailures, clock),
    quotas: new UserQuotas(limits, clock),
    session: {
      commandTimeoutMs: limits.commandTimeout * 1000,
      dataTimeoutMs: limits.dataTimeout * 1000,
      minDataRate: limits.minDataRate,
      junkCommandLimit: limits.junkCommandLimit,
    },
  };
}
