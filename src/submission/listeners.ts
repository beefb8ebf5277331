// Starting and stopping every submission listener the configuration names, with the shared
// smtp-server options (TLS, limits, AUTH) and the transaction handlers (on relay listeners AUTH is
// optional and admission matches relay clients first), and applying a reloaded certificate, limits
// and relay client table to listeners that are running.
import type { SMTPServerOptions } from 'smtp-server';
import type { TlsFiles } from '../config/files.js';
import type { Config } from '../config/schema.js';
import { Replies } from '../smtp/replies.js';
import { replyText } from '../smtp/reply.js';
import { SubmissionGuards } from './guards.js';
import { startListener, type BoundListener, type ConnectionHook, type ListenerKind } from './server.js';
import { RelayClients, relayAdmission } from './relay-clients.js';
import { guardSession } from './session-guard.js';
import { messageStream } from './smtp-server-adapter.js';
import { createHandlers, type SubmissionDeps } from './session.js';

export function serverOptions(config: Config, tls: TlsFiles): SMTPServerOptions {
  return {
    name: config.hostname,
    banner: 'smarthost',
    key: tls.key,
    cert: tls.cert,
    minVersion: 'TLSv1.2',
    size: config.limits.maxMessageSize,
    rejectOversized: true,
    maxRecipients: config.limits.maxRecipients,
    maxClients: config.limits.maxClients,
    socketTimeout: config.limits.socketTimeout * 1000,
    authMethods: ['PLAIN', 'LOGIN'],
    authRequiredMessage: replyText(Replies.authRequired),
    disableReverseLookup: true,
    hideENHANCEDSTATUSCODES: false,
    hideDSN: false,
    hideREQUIRETLS: true,
    logger: false,
  };
}

export async function startSubmission(deps: SubmissionDeps, tls: TlsFiles): Promise<BoundListener[]> {
  const options = serverOptions(deps.config, tls);
  const guarded = { ...deps, guards: new SubmissionGuards(deps.config, deps.clock) };
  const guard: ConnectionHook = (connection, socket) =>
    guardSession(connection, socket, guarded.guards.session, (reason) => {
      deps.metrics.sessionsEnded.inc({ reason });
      deps.logger.info(
        { client: connection.remoteAddress, session: connection.id, reason },
        `session ended: ${reason.replaceAll('_', ' ')}`,
      );
    });
  const { submission, submissions, relay } = deps.config.listen;
  const relayClients = new RelayClients(deps.config.relay);
  const started: BoundListener[] = [];
  const start = async (kind: ListenerKind, endpoint: string): Promise<void> => {
    const handlers = createHandlers(guarded, kind);
    if (kind === 'relay') handlers.onConnect = relayAdmission(deps, relayClients, handlers.onConnect);
    const listener = await startListener(kind, endpoint, { ...options, ...handlers, authOptional: kind === 'relay' }, deps.logger, guard);
    started.push({ ...listener, guards: guarded.guards, ...(kind === 'relay' ? { relayClients } : {}) });
  };
  try {
    for (const endpoint of submission) await start('submission', endpoint);
    for (const endpoint of submissions) await start('submissions', endpoint);
    for (const endpoint of relay) await start('relay', endpoint);
  } catch (err) {
    await stopSubmission(started, 0);
    throw err;
  }
  return started;
}

/** The options a reload changes on running listeners. */
const RELOADED_OPTIONS = ['size', 'maxRecipients', 'maxClients', 'socketTimeout'] as const;

/**
 * Apply a reloaded configuration: the certificate and key (checked by the caller) for every TLS
 * handshake from now on, on both STARTTLS and implicit TLS, and the limits. Sessions already
 * encrypted keep their TLS session; open sessions see the new limits at their next command. The
 * abuse guards (`limits`, `authFailures`), shared by all listeners, and the relay client table
 * (`relay`) take their new values too.
 */
export function reconfigureSubmission(listeners: readonly BoundListener[], config: Config, tls: TlsFiles): void {
  const options = serverOptions(config, tls);
  for (const { server } of listeners) {
    for (const key of RELOADED_OPTIONS) Object.assign(server.options, { [key]: options[key] });
    server.updateSecureContext({ key: tls.key, cert: tls.cert });
  }
  listeners[0]?.guards?.reconfigure(config);
  listeners.find((l) => l.relayClients)?.relayClients?.configure(config.relay);
}

/** How often a draining listener looks for sessions whose transaction has just finished. */
const DRAIN_SWEEP_MS = 100;

/**
 * Stop accepting connections, let transactions in flight finish (a DATA being received or spooled
 * gets its reply), close idle sessions with 421 at once and the others as soon as their DATA got its
 * reply, and force-close anything left after `graceMs` (a message cut off there is never spooled:
 * only a complete DATA is). Resolves when every connection is gone.
 */
export async function stopSubmission(listeners: readonly BoundListener[], graceMs: number): Promise<void> {
  await Promise.all(
    listeners.map(({ server }) => {
      server.options.closeTimeout = Math.max(graceMs, 1);
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      const told = new WeakSet<object>();
      const sweep = (): void => {
        for (const connection of server.connections) {
          if (told.has(connection) || messageStream(connection)) continue;
          told.add(connection);
          connection.send(Replies.shuttingDown.code, replyText(Replies.shuttingDown));
          connection.close();
        }
      };
      sweep();
      const timer = setInterval(sweep, DRAIN_SWEEP_MS);
      return closed.finally(() => clearInterval(timer));
    }),
  );
}
