// SMTP AUTH (PLAIN/LOGIN) against the user store, behind the brute-force throttle (auth-throttle.ts).
// A PLAIN authorization identity other than the user name is refused (no impersonation). An
// address or user name in a cooling period is refused with 421 4.7.0 before any password is
// checked. A wrong password gets 535 5.7.8, held back once the address has failed often.
//
// The log lines a log watcher (fail2ban) matches, each a pino JSON line at level warn whose "msg"
// starts with a fixed text followed by client=IP, so a user name (which the client chooses) can
// never stand where the address is expected:
//   "authentication failed: client=IP user=NAME"     every wrong password or unknown user
//   "client blocked: client=IP failures=N …"          an address starts its cooling period
//   "login refused: client=IP …"                      an AUTH refused during a cooling period
//   "connection refused: client=IP is cooling off …"  a connection refused during one (admission.ts)
// and, without an address (a distributed guess is not one client's doing):
//   "user blocked: user=NAME failures=N …"
import { setTimeout as sleep } from 'node:timers/promises';
import type { SMTPServerAuthentication, SMTPServerSession } from 'smtp-server';
import type { User } from '../auth/users.js';
import { SmtpError } from '../smtp/errors.js';
import { Replies } from '../smtp/replies.js';
import type { AuthVerdict } from './auth-throttle.js';
import type { GuardedDeps } from './session.js';

type LogFields = Record<string, unknown>;

export async function authenticate(deps: GuardedDeps, auth: SMTPServerAuthentication, session: SMTPServerSession): Promise<User> {
  const name = auth.username ?? '';
  const client = session.remoteAddress;
  const log: LogFields = { user: printable(name), client, method: auth.method, session: session.id };
  if (auth.method === 'PLAIN' && (auth.authcid === '' || (auth.authzid !== '' && auth.authzid !== auth.authcid))) {
    deps.logger.warn({ ...log, authzid: printable(auth.authzid ?? '') }, 'authentication failed: authorization identity differs from user');
    throw new SmtpError('SMARTHOST_E_AUTHZID', Replies.authzidRefused);
  }
  const verdict = deps.guards.auth.check(client, name);
  if (!verdict.allowed) throw refuseDuringCooldown(deps, verdict, log);
  const user = await deps.users.authenticate(name, auth.password ?? '');
  if (!user) throw await loginFailed(deps, name, log);
  deps.guards.auth.succeeded(client, name);
  deps.logger.info(log, 'authenticated');
  return user;
}

function refuseDuringCooldown(deps: GuardedDeps, verdict: AuthVerdict & { allowed: false }, log: LogFields): SmtpError {
  const client = String(log['client']);
  deps.metrics.authThrottled.inc({ scope: verdict.scope });
  const until = new Date(verdict.until).toISOString();
  deps.logger.warn(
    { ...log, scope: verdict.scope, until },
    `login refused: client=${client} user=${String(log['user'])} ${verdict.scope} cooling off until ${until}`,
  );
  if (verdict.scope === 'user' && deps.guards.auth.refused(client)) clientBlocked(deps, log);
  return new SmtpError('SMARTHOST_E_AUTH_BLOCKED', verdict.scope === 'client' ? Replies.clientBlocked(client) : Replies.userBlocked);
}

async function loginFailed(deps: GuardedDeps, name: string, log: LogFields): Promise<SmtpError> {
  const client = String(log['client']);
  deps.logger.warn(log, `authentication failed: client=${client} user=${String(log['user'])}`);
  const outcome = deps.guards.auth.failed(client, name);
  if (outcome.blocked.includes('client')) clientBlocked(deps, log);
  if (outcome.blocked.includes('user')) {
    deps.metrics.authBlocks.inc({ scope: 'user' });
    const { maxPerUser, cooldown } = deps.guards.auth.limits;
    deps.logger.warn(
      { user: log['user'], failures: maxPerUser, cooldown },
      `user blocked: user=${String(log['user'])} failures=${maxPerUser} cooldown=${cooldown}s`,
    );
  }
  if (outcome.delayMs > 0) await sleep(outcome.delayMs);
  return new SmtpError('SMARTHOST_E_AUTH_FAILED', Replies.authFailed);
}

function clientBlocked(deps: GuardedDeps, log: LogFields): void {
  deps.metrics.authBlocks.inc({ scope: 'client' });
  const { maxPerClient, cooldown } = deps.guards.auth.limits;
  const client = String(log['client']);
  deps.logger.warn(
    { client, failures: maxPerClient, cooldown },
    `client blocked: client=${client} failures=${maxPerClient} cooldown=${cooldown}s`,
  );
}

/** A user name as logged: printable ASCII only (others become "?"), at most 64 characters. */
export function printable(name: string): string {
  return name.slice(0, 64).replace(/[^\x21-\x7e]/g, '?');
}
