// The submission transaction, as smtp-server handlers: AUTH (PLAIN/LOGIN against the user store),
// MAIL FROM (the user's allowed senders), RCPT TO (syntax only: every authenticated user may relay to
// any domain), and DATA: read within the size limit, normalise line endings, check header From:, add
// trace headers, sign, spool, and only then reply 250 with the queue ID.
import type {
  SMTPServerAddress,
  SMTPServerAuthentication,
  SMTPServerAuthenticationResponse,
  SMTPServerDataStream,
  SMTPServerOptions,
  SMTPServerSession,
} from 'smtp-server';
import type { User, UserStore } from '../auth/users.js';
import type { Config } from '../config/schema.js';
import type { MessageSigner } from '../dkim/types.js';
import type { Clock } from '../platform/clock.js';
import type { Logger } from '../platform/logger.js';
import type { Metrics } from '../platform/metrics.js';
import { canonicalAddress, parseAddress } from '../smtp/address.js';
import { SmtpError } from '../smtp/errors.js';
import { parseHeaderFields, splitMessage } from '../smtp/headers.js';
import { toCrlf } from '../smtp/line-endings.js';
import { Replies } from '../smtp/replies.js';
import { replyText } from '../smtp/reply.js';
import type { Enqueuer } from '../spool/enqueue.js';
import type { QueueIdGenerator } from '../spool/queue-id.js';
import { addSubmissionHeaders } from './compose.js';
import { checkHeaderFrom } from './header-from.js';
import { readData } from './read-data.js';
import { isSenderAllowed } from './sender-policy.js';

export interface SubmissionDeps {
  readonly config: Config;
  readonly users: UserStore;
  readonly enqueuer: Enqueuer;
  readonly ids: QueueIdGenerator;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly sign?: MessageSigner;
}

type Handlers = Required<Pick<SMTPServerOptions, 'onConnect' | 'onClose' | 'onAuth' | 'onMailFrom' | 'onRcptTo' | 'onData'>>;
type Done = (err?: Error | null) => void;

/** The authenticated user of a session; smtp-server types it as any, so check it here. */
export function sessionUser(session: SMTPServerSession): User | null {
  const user: unknown = session.user;
  if (typeof user !== 'object' || user === null) return null;
  const { name, allowed } = user as Partial<User>;
  return typeof name === 'string' && Array.isArray(allowed) ? { name, allowed } : null;
}

export function createHandlers(deps: SubmissionDeps, listener: string): Handlers {
  const { metrics } = deps;
  /** Count a refusal by its code before smtp-server sends it. */
  const counted = (callback: Done): Done => (err) => {
    if (err instanceof SmtpError) metrics.messagesRefused.inc({ reason: err.code });
    callback(err);
  };
  return {
    onConnect: (_session, callback) => {
      metrics.connections.inc({ listener });
      metrics.connectionsActive.inc();
      callback();
    },
    onClose: () => metrics.connectionsActive.dec(),
    onAuth: (auth, session, callback) => void authenticate(deps, auth, session).then(
      (user) => callback(null, { user } satisfies SMTPServerAuthenticationResponse),
      (err: SmtpError) => {
        metrics.authFailures.inc({ reason: err.code === 'SMARTHOST_E_AUTHZID' ? 'authzid' : 'credentials' });
        callback(err);
      },
    ),
    onMailFrom: (address, session, callback) => mailFrom(address, session, counted(callback)),
    onRcptTo: (address, _session, callback) => rcptTo(address, counted(callback)),
    onData: (stream, session, callback) => void acceptData(deps, stream, session).then(
      (queueId) => {
        metrics.messagesAccepted.inc();
        callback(null, replyText(Replies.queued(queueId)));
      },
      (err: unknown) => counted(callback)(asSmtpError(deps.logger, err, session)),
    ),
  };
}

async function authenticate(deps: SubmissionDeps, auth: SMTPServerAuthentication, session: SMTPServerSession): Promise<User> {
  const name = auth.username ?? '';
  const log = { user: name, client: session.remoteAddress, method: auth.method, session: session.id };
  if (auth.method === 'PLAIN' && (auth.authcid === '' || (auth.authzid !== '' && auth.authzid !== auth.authcid))) {
    deps.logger.warn({ ...log, authzid: auth.authzid }, 'authentication failed: authorization identity differs from user');
    throw new SmtpError('SMARTHOST_E_AUTHZID', Replies.authzidRefused);
  }
  const user = await deps.users.authenticate(name, auth.password ?? '');
  if (!user) {
    deps.logger.warn(log, `authentication failed for user=${name} client=${session.remoteAddress}`);
    throw new SmtpError('SMARTHOST_E_AUTH_FAILED', Replies.authFailed);
  }
  deps.logger.info(log, 'authenticated');
  return user;
}

function mailFrom(address: SMTPServerAddress, session: SMTPServerSession, callback: Done): void {
  const user = sessionUser(session);
  if (!user) return callback(new SmtpError('SMARTHOST_E_AUTH_REQUIRED', Replies.authRequired));
  if (address.address === '') return callback(new SmtpError('SMARTHOST_E_SENDER_NOT_OWNED', Replies.nullSenderRefused(user.name)));
  if (!isSenderAllowed(user.allowed, address.address)) {
    return callback(new SmtpError('SMARTHOST_E_SENDER_NOT_OWNED', Replies.senderNotOwned(address.address, user.name)));
  }
  callback();
}

function rcptTo(address: SMTPServerAddress, callback: Done): void {
  if (!parseAddress(address.address)) {
    return callback(new SmtpError('SMARTHOST_E_SYNTAX', Replies.badRecipient));
  }
  callback();
}

async function acceptData(deps: SubmissionDeps, stream: SMTPServerDataStream, session: SMTPServerSession): Promise<string> {
  const raw = await readData(stream);
  const user = sessionUser(session);
  const mailFrom = session.envelope.mailFrom;
  if (raw === null) throw new SmtpError('SMARTHOST_E_TOO_BIG', Replies.messageTooBig);
  if (!user || !mailFrom) throw new SmtpError('SMARTHOST_E_AUTH_REQUIRED', Replies.authRequired);

  const { header, body } = splitMessage(toCrlf(raw));
  const fields = parseHeaderFields(header);
  const from = checkHeaderFrom(fields, user.allowed);
  if (!from.ok) throw new SmtpError('SMARTHOST_E_HEADER_FROM', Replies.headerFromNotOwned(from.reason));

  const queueId = deps.ids.next();
  const now = deps.clock.now();
  const recipients = [...new Set(session.envelope.rcptTo.map((r) => canonicalAddress(r.address)))];
  const tls = session.tlsOptions ? { version: session.tlsOptions.version, cipher: session.tlsOptions.name } : null;
  const composed = addSubmissionHeaders(
    { header, body, fields },
    { queueId, hostname: deps.config.hostname, helo: session.hostNameAppearsAs, clientAddress: session.remoteAddress, tls, user: user.name, sender: mailFrom.address, recipients, date: new Date(now) },
  );
  const message = deps.sign ? await deps.sign(composed, from.address ?? mailFrom.address, queueId) : composed;
  await deps.enqueuer.enqueue({
    id: queueId, sender: mailFrom.address, username: user.name, clientAddress: session.remoteAddress,
    recipients, body: message, createdAt: now, kind: 'message', smtputf8: session.envelope.smtpUtf8 === true,
  });
  deps.logger.info(
    { queueId, user: user.name, from: mailFrom.address, rcpts: recipients.length, size: message.length, client: session.remoteAddress, tls: tls?.version ?? 'none' },
    'accepted',
  );
  return queueId;
}

function asSmtpError(logger: Logger, err: unknown, session: SMTPServerSession): SmtpError {
  const smtp = err instanceof SmtpError ? err : new SmtpError('SMARTHOST_E_SPOOL_WRITE', Replies.localError, { cause: err });
  const level = smtp.code === 'SMARTHOST_E_SPOOL_WRITE' || smtp.code === 'SMARTHOST_E_SPOOL_FULL' ? 'error' : 'warn';
  logger[level]({ code: smtp.code, reply: smtp.message, client: session.remoteAddress, user: sessionUser(session)?.name, err: smtp.cause }, 'message refused');
  return smtp;
}
