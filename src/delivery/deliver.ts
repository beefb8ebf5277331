// One delivery attempt for one request (one message, one domain): find the destinations, then try
// them in order. A destination that cannot be reached or refuses the session (connect failure,
// timeout, greeting or EHLO refusal, failed TLS handshake) passes the request on to the next; once a
// server has taken part in a transaction its answers are final for this attempt. A cached connection
// that turns out to be dead before the server answered anything is replaced by a fresh one to the same
// address. When every destination failed, all recipients are deferred with the last failure.
// Envelope: BODY=8BITMIME when the message has 8-bit bytes and the server offers it (otherwise it is
// sent as is), SIZE when offered; non-ASCII addresses need the server's SMTPUTF8, else they bounce
// with 5.6.7 (RFC 6531). No scheduling and no spool here: this could run in a worker thread.
import { has8bit, isNonAscii } from '../smtp/eight-bit.js';
import { reply } from '../smtp/reply.js';
import type { ConnectionPool } from './connection-pool.js';
import type { Destination, DestinationResolver } from './destinations.js';
import { hostName, type DescribedFailure } from './failure.js';
import type { Envelope, SmtpSession } from './session.js';
import { transactionOutcomes } from './transaction.js';
import { outcomeForAll, type DeliveryRequest, type Outcome, type Relay } from './types.js';

type Tried =
  | { readonly done: true; readonly outcomes: Outcome[] }
  | { readonly done: false; readonly failure: DescribedFailure; readonly relay: Relay };

export class SmtpDeliverer {
  constructor(
    private readonly destinations: DestinationResolver,
    private readonly pool: ConnectionPool,
  ) {}

  readonly deliver = async (request: DeliveryRequest): Promise<Outcome[]> => {
    const answer = await this.destinations.resolve(request.domain);
    if (!answer.ok) return outcomeForAll(request, { status: answer.status, reply: answer.reply, remote: false, relay: null, tls: null });
    let last: Extract<Tried, { done: false }> | null = null;
    for (const destination of answer.destinations) {
      const tried = await this.tryDestination(request, destination);
      if (tried.done) return tried.outcomes;
      last = tried;
    }
    const failure = last?.failure ?? { reply: reply(451, '4.4.1', 'no destination to try'), remote: false };
    return outcomeForAll(request, { status: 'deferred', ...failure, relay: last?.relay ?? null, tls: null });
  };

  private async tryDestination(request: DeliveryRequest, destination: Destination): Promise<Tried> {
    for (const fresh of [false, true]) {
      const acquired = await this.pool.acquire(destination, fresh);
      if (!acquired.ok) return { done: false, failure: acquired.failure, relay: destination };
      const { session, reused } = acquired;
      if (needsSmtputf8(request) && !session.supports('SMTPUTF8')) {
        this.pool.release(destination, session, true);
        return { done: true, outcomes: smtputf8Refused(request, session) };
      }
      const result = await session.send(envelopeOf(request), request.body);
      const silent = !result.ok && !result.error.response && result.accepted.length === 0 && result.rejected.size === 0;
      if (reused && silent) {
        session.close();
        continue;
      }
      this.pool.release(destination, session, result.ok);
      return { done: true, outcomes: transactionOutcomes(request.recipients, result, session.relay, session.tls) };
    }
    return { done: false, failure: { reply: reply(451, '4.4.2', 'connection lost twice'), remote: false }, relay: destination };
  }
}

function needsSmtputf8(request: DeliveryRequest): boolean {
  return isNonAscii(request.sender) || request.recipients.some(isNonAscii);
}

function smtputf8Refused(request: DeliveryRequest, session: SmtpSession): Outcome[] {
  const refusal = reply(550, '5.6.7', `SMTPUTF8 is required, but was not offered by host ${hostName(session.relay)}`);
  return outcomeForAll(request, { status: 'bounced', reply: refusal, remote: false, relay: session.relay, tls: session.tls });
}

function envelopeOf(request: DeliveryRequest): Envelope {
  return { from: request.sender, to: request.recipients, size: request.body.length, use8BitMime: has8bit(request.body) };
}
