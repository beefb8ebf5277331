// One delivery attempt for one request (one message, one domain): find the destinations, then try
// them in order until every recipient has a final answer or the attempt runs out of servers
// (Postfix's smtp_connect.c). reply-policy.ts says what each answer means.
//
// The final-server rule: a temporary failure at a server that is not the final one keeps the
// recipients it concerns for the next server, at once; only the final server's temporary failure
// defers them. A server that fails during set-up (connect, greeting, EHLO, TLS) passes every
// recipient on and does not count; a server that took part in a transaction counts as a session,
// and the final server is the last address, or the one whose session reaches MX_SESSION_LIMIT
// (Postfix's smtp_mx_session_limit). Recipients still pending when the servers run out are deferred
// with their last reason. Recipients settled by a server (delivered, bounced) are never sent again.
// A cached connection that turns out to be dead before the server answered anything is replaced by
// a fresh one to the same address.
// TLS: each session's policy is 'may' (STARTTLS when offered), or 'encrypt' when the domain is known
// to do TLS (request.tlsSeenAt, the TLS memory). A TLS failure under 'may' is retried at once on the
// same server without TLS (Postfix's smtp_tls_security_level = may does the same); under 'encrypt'
// it is not: that server counts as failed during set-up with 4.7.5 (4.7.4 when STARTTLS was refused
// or not offered), the next server is tried, and the recipients are deferred if none does TLS. Both
// are logged and counted (smarthost_delivery_tls_fallbacks_total).
// Envelope (envelopeOf, the one place it is built): BODY=8BITMIME when the message has 8-bit bytes
// and the server offers it, SIZE when offered; non-ASCII addresses need the server's SMTPUTF8, else
// those recipients bounce with 5.6.7 (RFC 6531); the client's DSN parameters (RET, ENVID, NOTIFY,
// ORCPT) when the server offers DSN, and then its delivered outcomes say so (dsnPassedOn: the
// server reports on them itself). No scheduling and no spool here: this could run in
// a worker thread.
import type { Logger } from '../platform/logger.js';
import type { Metrics } from '../platform/metrics.js';
import { mailParameters, rcptParameters } from '../smtp/dsn-parameters.js';
import { has8bit, isNonAscii } from '../smtp/eight-bit.js';
import { formatReply, reply } from '../smtp/reply.js';
import type { ConnectionPool } from './connection-pool.js';
import type { Destination, DestinationResolver } from './destinations.js';
import { describe, relayName, smtputf8NotOffered, tlsRemembered, transactionVerdicts, type Said, type Verdict } from './reply-policy.js';
import type { Envelope, SmtpSession, TlsPolicy } from './session.js';
import { outcomeForAll, type DeliveryRequest, type Outcome, type Relay, type TlsInfo } from './types.js';

/** Servers an attempt may hold a transaction with (Postfix's smtp_mx_session_limit). */
export const MX_SESSION_LIMIT = 2;

/** What one server made of the recipients it was given. */
type Tried =
  | { readonly session: false; readonly said: Said; readonly relay: Relay }
  | {
      readonly session: true;
      readonly verdicts: readonly Verdict[];
      readonly relay: Relay;
      readonly tls: TlsInfo | null;
      /** The server offered DSN and was given the parameters. */
      readonly dsn?: boolean;
    };

interface Last {
  readonly said: Said;
  readonly relay: Relay | null;
  readonly tls: TlsInfo | null;
}

const NOWHERE: Last = { said: { reply: reply(451, '4.4.1', 'no destination to try'), remote: false }, relay: null, tls: null };

export interface DelivererDeps {
  readonly destinations: DestinationResolver;
  readonly pool: ConnectionPool;
  readonly logger?: Logger;
  readonly metrics?: Metrics;
}

export class SmtpDeliverer {
  constructor(private readonly deps: DelivererDeps) {}

  readonly deliver = async (request: DeliveryRequest): Promise<Outcome[]> => {
    const answer = await this.deps.destinations.resolve(request.domain);
    if (!answer.ok) return outcomeForAll(request, { status: answer.status, reply: answer.reply, remote: false, relay: null, tls: null });
    const outcomes = new Map<string, Outcome>();
    const last = new Map<string, Last>();
    let pending = [...request.recipients];
    let sessions = 0;
    const servers = answer.destinations;
    for (let i = 0; i < servers.length && pending.length > 0 && sessions < MX_SESSION_LIMIT; i++) {
      const server = servers[i] as Destination;
      const final = i === servers.length - 1 || sessions + 1 === MX_SESSION_LIMIT;
      const tried = await this.tryServer(request, pending, server, final);
      if (!tried.session) {
        for (const r of pending) last.set(r, { said: tried.said, relay: tried.relay, tls: null });
        if (i < servers.length - 1) this.skipped(request, tried.relay, pending.length, tried.said);
        continue;
      }
      sessions++;
      const kept: string[] = [];
      pending.forEach((recipient, n) => {
        const verdict = tried.verdicts[n] as Verdict;
        const fields = { reply: verdict.said.reply, remote: verdict.said.remote, command: verdict.said.command, relay: tried.relay };
        if (verdict.status === 'kept') {
          kept.push(recipient);
          last.set(recipient, { said: verdict.said, relay: tried.relay, tls: tried.tls });
        } else outcomes.set(recipient, { recipient, status: verdict.status, ...fields, tls: tried.tls, dsnPassedOn: tried.dsn === true });
      });
      const why = last.get(kept[0] as string);
      if (why && i < servers.length - 1 && !final) this.skipped(request, tried.relay, kept.length, why.said);
      pending = kept;
    }
    for (const recipient of pending) {
      const { said, relay, tls } = last.get(recipient) ?? NOWHERE;
      outcomes.set(recipient, { recipient, status: 'deferred', reply: said.reply, remote: said.remote, command: said.command, relay, tls });
    }
    return request.recipients.map((r) => outcomes.get(r) as Outcome);
  };

  private async tryServer(request: DeliveryRequest, recipients: readonly string[], server: Destination, final: boolean): Promise<Tried> {
    let tls: TlsPolicy = request.tlsSeenAt === null ? 'may' : 'encrypt';
    for (let fresh = false, tries = 0; tries < 3; tries++) {
      const acquired = await this.deps.pool.acquire(server, tls, fresh);
      if (!acquired.ok) {
        const said = describe(acquired.trouble, server);
        if (acquired.trouble.cause !== 'tls' || tls === 'none') return { session: false, said, relay: server };
        if (tls === 'encrypt') return { session: false, said: this.noFallback(request, server, said), relay: server };
        this.fallback(request, server, said);
        tls = 'none';
        fresh = true;
        continue;
      }
      const { session, reused } = acquired;
      if (needsSmtputf8(request, recipients) && !session.supports('SMTPUTF8')) {
        this.deps.pool.release(server, tls, session, true);
        const said = smtputf8NotOffered(session.relay);
        return { session: true, verdicts: recipients.map(() => ({ status: 'bounced', said })), relay: session.relay, tls: session.tls };
      }
      const result = await session.send(envelopeOf(request, recipients, session), request.body);
      const t = result.trouble;
      const silent = t !== null && t.cause === 'lost' && result.mailRefused === null && result.accepted.length + result.refused.size === 0;
      if (reused && silent && !fresh) {
        session.close();
        fresh = true;
        continue;
      }
      this.deps.pool.release(server, tls, session, t === null);
      return {
        session: true,
        verdicts: transactionVerdicts(recipients, result, session.relay, final),
        relay: session.relay,
        tls: session.tls,
        dsn: request.dsn !== undefined && session.supports('DSN'),
      };
    }
    const lost = reply(451, '4.4.2', 'connection lost twice');
    return { session: false, said: { reply: lost, remote: false }, relay: server };
  }

  /** A failed TLS handshake at a domain not known to do TLS: the same server again, in plaintext. */
  private fallback(request: DeliveryRequest, server: Destination, said: Said): void {
    this.deps.metrics?.tlsFallbacks.inc({ result: 'plaintext' });
    this.deps.logger?.warn(
      { queueId: request.queueId, domain: request.domain, relay: relayName(server), reply: formatReply(said.reply) },
      'TLS failed; retrying the same server without TLS',
    );
  }

  /** A TLS failure at a domain known to do TLS: no plaintext, the next server or a deferral (4.7.5). */
  private noFallback(request: DeliveryRequest, server: Destination, said: Said): Said {
    const seenAt = request.tlsSeenAt ?? 0;
    const refusal = tlsRemembered(said, request.domain, seenAt);
    this.deps.metrics?.tlsFallbacks.inc({ result: 'refused' });
    this.deps.logger?.warn(
      {
        queueId: request.queueId,
        domain: request.domain,
        relay: relayName(server),
        tlsSeenAt: new Date(seenAt).toISOString(),
        reply: formatReply(said.reply),
      },
      'TLS failed at a domain known to do TLS; not retrying without TLS',
    );
    return refusal;
  }

  /** Why a server was passed over for the next one (Postfix logs this too). */
  private skipped(request: DeliveryRequest, relay: Relay, rcpts: number, why: Said): void {
    this.deps.logger?.info(
      { queueId: request.queueId, relay: relayName(relay), rcpts, reply: formatReply(why.reply) },
      'temporary failure; trying the next server',
    );
  }
}

function needsSmtputf8(request: DeliveryRequest, recipients: readonly string[]): boolean {
  return isNonAscii(request.sender) || recipients.some(isNonAscii);
}

/** The envelope sent to the next hop: the one place it is built. */
function envelopeOf(request: DeliveryRequest, recipients: readonly string[], session: SmtpSession): Envelope {
  const smtputf8 = needsSmtputf8(request, recipients) && session.supports('SMTPUTF8');
  const envelope = { from: request.sender, to: recipients, size: request.body.length, use8BitMime: has8bit(request.body), smtputf8 };
  if (!request.dsn || !session.supports('DSN')) return envelope;
  const rcpt = new Map<string, string>();
  for (const r of recipients) {
    const given = request.dsn.recipients.get(r);
    if (given) rcpt.set(r, rcptParameters(given));
  }
  return { ...envelope, dsn: { mail: mailParameters(request.dsn.message), rcpt } };
}
