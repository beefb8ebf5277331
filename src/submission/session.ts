// The submission transaction, as smtp-server handlers: admission (admission.ts), AUTH
// (authenticate.ts), MAIL FROM (the allowed senders of the user, or of the relay client or local user
// a session without AUTH was assigned when it connected: assignSender; or the null sender), RCPT TO
// (syntax only: every authenticated user may relay to any domain given by name, not by IP address;
// <postmaster> goes to the configured postmaster), the parameters of both (parameters.ts: 555 for
// unsupported ones, the DSN parameters kept), the user's hourly quota at both, the spool's free-space
// reserve at MAIL (with SIZE) and DATA, and DATA: read within the size limit, normalise line endings,
// check header From: (required with the null sender), take the quota, add trace headers, sign,
// spool, and only then reply 250 with the queue ID.
import { isIP } from 'node:net';
import { performance } from 'node:perf_hooks';
import type {
  SMTPServerAddress,
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
import { canonicalAddress, lowerDomain, parseAddress } from '../smtp/address.js';
import type { EnvelopeDsn, RecipientDsn } from '../smtp/dsn-parameters.js';
import { SmtpError } from '../smtp/errors.js';
import { parseHeaderFields, splitMessage } from '../smtp/headers.js';
import { Replies } from '../smtp/replies.js';
import { formatReply, replyText } from '../smtp/reply.js';
import type { Enqueuer } from '../spool/enqueue.js';
import type { QueueIdGenerator } from '../spool/queue-id.js';
import type { DiskReserve } from '../spool/reserve.js';
import { admitSession, releaseSession } from './admission.js';
import { authenticate } from './authenticate.js';
import { addSubmissionHeaders, escapedHeloName, type ParsedMessage } from './compose.js';
import type { SubmissionGuards } from './guards.js';
import { checkHeaderFrom } from './header-from.js';
import { checkMailParameters, checkRcptParameters, dsnOf } from './parameters.js';
import { readData } from './read-data.js';
import { isSenderAllowed } from './sender-policy.js';
import type { QuotaVerdict } from './user-quota.js';

export interface SubmissionDeps {
  readonly config: Config;
  readonly users: UserStore;
  readonly enqueuer: Enqueuer;
  readonly ids: QueueIdGenerator;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly sign?: MessageSigner;
  /** The spool's free-space reserve (spool.minFree); none: no check. */
  readonly reserve?: DiskReserve;
}

export type GuardedDeps = SubmissionDeps & { readonly guards: SubmissionGuards };

type Handlers = Required<Pick<SMTPServerOptions, 'onConnect' | 'onClose' | 'onAuth' | 'onMailFrom' | 'onRcptTo' | 'onData'>>;
type Done = (err?: Error | null) => void;

/** Who sessions that send without AUTH send as (a relay client, a local user), set when they connect. */
const assignedSenders = new WeakMap<SMTPServerSession, User>();

/** Let a session that has not authenticated send as `sender` (its allowed senders and quota). */
export function assignSender(session: SMTPServerSession, sender: User): void {
  assignedSenders.set(session, sender);
}

/**
 * Who the session sends as: the authenticated user (smtp-server types it as any, so check it
 * here), else the sender assigned when it connected, else null.
 */
export function sessionUser(session: SMTPServerSession): User | null {
  const user: unknown = session.user;
  if (typeof user !== 'object' || user === null) return assignedSenders.get(session) ?? null;
  const { name, allowed } = user as Partial<User>;
  return typeof name === 'string' && Array.isArray(allowed) ? { name, allowed } : null;
}

export function createHandlers(deps: GuardedDeps, listener: string): Handlers {
  const { metrics } = deps;
  /** Count a refusal by its code before smtp-server sends it. */
  const counted =
    (callback: Done): Done =>
    (err) => {
      if (err instanceof SmtpError) metrics.messagesRefused.inc({ reason: err.code });
      callback(err);
    };
  return {
    onConnect: (session, callback) => {
      metrics.connections.inc({ listener });
      callback(admitSession(deps, session));
    },
    onClose: (session) => releaseSession(deps, session),
    onAuth: (auth, session, callback) =>
      void authenticate(deps, auth, session).then(
        (user) => callback(null, { user } satisfies SMTPServerAuthenticationResponse),
        (err: SmtpError) => {
          metrics.authFailures.inc({ reason: AUTH_FAILURE_REASONS[err.code] ?? 'credentials' });
          callback(err);
        },
      ),
    onMailFrom: (address, session, callback) =>
      mailFrom(deps, address, session, counted(logged(deps, 'sender', address, session, callback))),
    onRcptTo: (address, session, callback) =>
      rcptTo(deps, address, session, counted(logged(deps, 'recipient', address, session, callback))),
    onData: (stream, session, callback) =>
      void acceptData(deps, stream, session).then(
        ({ queueId, dataEnd }) => {
          metrics.messagesAccepted.inc();
          callback(null, replyText(Replies.queued(queueId)));
          metrics.acceptLatency.observe((performance.now() - dataEnd) / 1000);
        },
        (err: unknown) => counted(callback)(asSmtpError(deps.logger, err, session)),
      ),
  };
}

/**
 * Log a refused MAIL FROM ("sender refused", with `from`) or RCPT TO ("recipient refused", with `to`)
 * with its SMARTHOST_E_* code and the reply, as DATA refusals are logged ("message refused").
 */
function logged(
  deps: GuardedDeps,
  what: 'sender' | 'recipient',
  address: SMTPServerAddress,
  session: SMTPServerSession,
  callback: Done,
): Done {
  return (err) => {
    if (err instanceof SmtpError) {
      const fields = {
        code: err.code,
        reply: formatReply(err.reply),
        client: session.remoteAddress,
        user: sessionUser(session)?.name,
        [what === 'sender' ? 'from' : 'to']: address.address,
      };
      deps.logger.warn(fields, `${what} refused`);
    }
    callback(err);
  };
}

const AUTH_FAILURE_REASONS: Partial<Record<string, string>> = {
  SMARTHOST_E_AUTHZID: 'authzid',
  SMARTHOST_E_AUTH_BLOCKED: 'blocked',
};

function mailFrom(deps: GuardedDeps, address: SMTPServerAddress, session: SMTPServerSession, callback: Done): void {
  const user = sessionUser(session);
  if (!user) return callback(new SmtpError('SMARTHOST_E_AUTH_REQUIRED', Replies.authRequired));
  const parameters = checkMailParameters(address);
  if (parameters) return callback(parameters);
  if (address.address !== '' && !isSenderAllowed(user.allowed, address.address)) {
    return callback(new SmtpError('SMARTHOST_E_SENDER_NOT_OWNED', Replies.senderNotOwned(address.address, user.name)));
  }
  const size = address.args ? Number(address.args.SIZE ?? 0) : 0;
  callback(reserveError(deps, size) ?? quotaError(deps.guards.quotas.check(user.name, 0), user.name));
}

/** Below the spool's free-space reserve new mail waits: 452 4.3.1 (the room left is for delivery). */
function reserveError(deps: GuardedDeps, bytes: number): SmtpError | null {
  if (!deps.reserve || deps.reserve.allows(bytes)) return null;
  return new SmtpError('SMARTHOST_E_SPOOL_FULL', Replies.insufficientStorage);
}

function rcptTo(deps: GuardedDeps, address: SMTPServerAddress, session: SMTPServerSession, callback: Done): void {
  const parameters = checkRcptParameters(address);
  if (parameters) return callback(parameters);
  const parsed = parseAddress(recipientAddress(deps.config, address.address));
  if (!parsed || isIP(parsed.domain) !== 0) {
    return callback(new SmtpError('SMARTHOST_E_SYNTAX', Replies.badRecipient));
  }
  const user = sessionUser(session);
  callback(user && quotaError(deps.guards.quotas.check(user.name, session.envelope.rcptTo.length + 1), user.name));
}

/**
 * Where a recipient goes: `postmaster` without a domain, or at the relay's own hostname, goes to
 * the configured `postmaster` address (RFC 5321 §4.5.1); without one it stays as given (and the
 * domainless form is refused as a bad address).
 */
export function recipientAddress(config: Config, address: string): string {
  if (!config.postmaster) return address;
  const at = address.lastIndexOf('@');
  const local = at < 0 ? address : address.slice(0, at);
  const domain = at < 0 ? null : lowerDomain(address.slice(at + 1));
  const isPostmaster = local.toLowerCase() === 'postmaster' && (domain === null || domain === lowerDomain(config.hostname));
  return isPostmaster ? config.postmaster : address;
}

function quotaError(verdict: QuotaVerdict, user: string): SmtpError | null {
  if (verdict.ok) return null;
  const reply =
    verdict.kind === 'messages' ? Replies.messageRateExceeded(user, verdict.perHour) : Replies.recipientRateExceeded(user, verdict.perHour);
  return new SmtpError('SMARTHOST_E_RATE_LIMIT', reply);
}

/** The queue ID, and when the end of the data arrived (performance.now()), for the accept latency. */
async function acceptData(
  deps: GuardedDeps,
  stream: SMTPServerDataStream,
  session: SMTPServerSession,
): Promise<{ queueId: string; dataEnd: number }> {
  const raw = await readData(stream);
  const dataEnd = performance.now();
  const user = sessionUser(session);
  const mailFrom = session.envelope.mailFrom;
  if (raw === null) throw new SmtpError('SMARTHOST_E_TOO_BIG', Replies.messageTooBig);
  if (!user || !mailFrom) throw new SmtpError('SMARTHOST_E_AUTH_REQUIRED', Replies.authRequired);

  const { header, body } = splitMessage(Buffer.concat(raw.chunks, raw.length));
  const fields = parseHeaderFields(header);
  const from = checkHeaderFrom(fields, user.allowed);
  if (!from.ok) throw new SmtpError('SMARTHOST_E_HEADER_FROM', Replies.headerFromNotOwned(from.reason));
  if (from.address === null && mailFrom.address === '') {
    throw new SmtpError('SMARTHOST_E_HEADER_FROM', Replies.headerFromNotOwned('is required with the null sender'));
  }

  const dsn = dsnOf(session);
  const byAddress = new Map<string, RecipientDsn>();
  for (const r of session.envelope.rcptTo) {
    const address = canonicalAddress(recipientAddress(deps.config, r.address));
    if (!byAddress.has(address)) byAddress.set(address, dsn.recipient(r));
  }
  const recipients = [...byAddress.keys()];
  const full = reserveError(deps, raw.length);
  if (full) throw full;
  const quota = quotaError(deps.guards.quotas.take(user.name, recipients.length), user.name);
  if (quota) throw quota;
  try {
    const queueId = await spool(deps, session, {
      user,
      sender: mailFrom.address,
      signAs: from.address ?? mailFrom.address,
      recipients,
      dsn: { message: dsn.message, recipients: byAddress },
      message: { header, body, fields },
    });
    return { queueId, dataEnd };
  } catch (err) {
    deps.guards.quotas.refund(user.name, recipients.length);
    throw err;
  }
}

interface Accepted {
  readonly user: User;
  readonly sender: string;
  readonly signAs: string;
  readonly recipients: readonly string[];
  readonly dsn: EnvelopeDsn;
  readonly message: ParsedMessage;
}

/** Add the trace headers, sign, write to the spool; the queue ID once the message is on disk. */
async function spool(deps: GuardedDeps, session: SMTPServerSession, t: Accepted): Promise<string> {
  const queueId = deps.ids.next();
  const now = deps.clock.now();
  const tls = session.tlsOptions ? { version: session.tlsOptions.version, cipher: session.tlsOptions.name } : null;
  const composed = addSubmissionHeaders(t.message, {
    queueId,
    hostname: deps.config.hostname,
    helo: session.hostNameAppearsAs,
    clientAddress: session.remoteAddress,
    tls,
    user: session.user ? t.user.name : null,
    sender: t.sender,
    recipients: t.recipients,
    date: new Date(now),
  });
  const message = deps.sign ? await deps.sign(composed, t.signAs, queueId) : composed;
  await deps.enqueuer.enqueue({
    id: queueId,
    sender: t.sender,
    username: t.user.name,
    clientAddress: session.remoteAddress,
    recipients: t.recipients,
    body: message,
    createdAt: now,
    kind: 'message',
    smtputf8: session.envelope.smtpUtf8 === true,
    dsn: t.dsn,
  });
  deps.logger.info(
    {
      queueId,
      user: t.user.name,
      from: t.sender,
      rcpts: t.recipients.length,
      size: message.length,
      client: session.remoteAddress,
      helo: escapedHeloName(session.hostNameAppearsAs),
      tls: tls?.version ?? 'none',
    },
    'accepted',
  );
  return queueId;
}

function asSmtpError(logger: Logger, err: unknown, session: SMTPServerSession): SmtpError {
  const smtp = err instanceof SmtpError ? err : new SmtpError('SMARTHOST_E_SPOOL_WRITE', Replies.localError, { cause: err });
  const level = smtp.code === 'SMARTHOST_E_SPOOL_WRITE' || smtp.code === 'SMARTHOST_E_SPOOL_FULL' ? 'error' : 'warn';
  logger[level](
    { code: smtp.code, reply: formatReply(smtp.reply), client: session.remoteAddress, user: sessionUser(session)?.name, err: smtp.cause },
    'message refused',
  );
  return smtp;
}
