// Admission of a new session (smtp-server's onConnect) and its release (onClose): a client address
// in a cooling period after failed logins, or one over the connection limits, gets 421 4.7.0 at
// once, before the greeting, and is counted and logged.
import type { SMTPServerSession } from 'smtp-server';
import { SmtpError } from '../smtp/errors.js';
import { Replies } from '../smtp/replies.js';
import type { GuardedDeps } from './session.js';

/** The error refusing the session, or null when it is admitted. */
export function admitSession(deps: GuardedDeps, session: SMTPServerSession): SmtpError | null {
  const client = session.remoteAddress;
  if (deps.guards.auth.clientBlockedUntil(client) > 0) {
    deps.metrics.connectionsRefused.inc({ reason: 'blocked' });
    deps.metrics.authThrottled.inc({ scope: 'client' });
    deps.logger.warn({ client, session: session.id }, `connection refused: client=${client} is cooling off after failed logins`);
    return new SmtpError('SMARTHOST_E_AUTH_BLOCKED', Replies.clientBlocked(client));
  }
  const refusal = deps.guards.connections.admit(session.id, client);
  if (!refusal) {
    deps.metrics.connectionsActive.inc();
    return null;
  }
  const reason = refusal === Replies.tooManyConnections ? 'limit_total' : 'limit_address';
  deps.metrics.connectionsRefused.inc({ reason });
  deps.logger.warn({ client, session: session.id, reason }, `connection refused: client=${client} ${reason.replace('_', ' ')}`);
  return new SmtpError('SMARTHOST_E_TOO_MANY_CONNECTIONS', refusal);
}

export function releaseSession(deps: GuardedDeps, session: SMTPServerSession): void {
  if (deps.guards.connections.release(session.id, session.remoteAddress)) deps.metrics.connectionsActive.dec();
}
