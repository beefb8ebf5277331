// The delivery contract (docs/flow.md): `deliver(request) → Outcome[]`, one outcome per recipient of a
// request (one message, one recipient domain, one SMTP transaction at most). An attempt knows nothing
// of scheduling or the spool; the worker turns outcomes into recipient states. Anything thrown, and any
// recipient left without an outcome, counts as deferred, never as delivered (`settle`).
import type { EnvelopeDsn } from '../smtp/dsn-parameters.js';
import { reply, type Reply } from '../smtp/reply.js';

export type OutcomeStatus = 'delivered' | 'deferred' | 'bounced';

/** The server an outcome came from: MX (or route) host name, the address connected to, the port. */
export interface Relay {
  readonly host: string;
  readonly address: string;
  readonly port: number;
}

export interface TlsInfo {
  readonly version: string;
  readonly cipher: string;
  /** The certificate chain and the host name checked out (opportunistic TLS delivers either way). */
  readonly verified: boolean;
}

export interface Outcome {
  readonly recipient: string;
  readonly status: OutcomeStatus;
  readonly reply: Reply;
  /** True when `reply` is the remote server's; false when smarthost wrote it (DNS, connect, policy). */
  readonly remote: boolean;
  /** The SMTP command the reply answered ("RCPT TO", "DATA" …), when there was one. */
  readonly command?: string;
  readonly relay: Relay | null;
  readonly tls: TlsInfo | null;
  /** The server offered DSN and was given the recipient's DSN parameters: it reports on it itself. */
  readonly dsnPassedOn?: boolean;
}

export interface DeliveryRequest {
  readonly queueId: string;
  /** Envelope sender; "" is the null sender (MAIL FROM:<>). */
  readonly sender: string;
  readonly domain: string;
  readonly recipients: readonly string[];
  /** The message as spooled (CRLF, dot-unstuffed). */
  readonly body: Buffer;
  /**
   * When the domain last took mail over TLS, within delivery.tls.rememberFor (tls-memory.ts): then
   * the attempt has no plaintext fallback. Null: not known to do TLS.
   */
  readonly tlsSeenAt: number | null;
  /** The client's DSN parameters, passed on to a next hop that offers DSN. */
  readonly dsn?: EnvelopeDsn;
}

export type Deliver = (request: DeliveryRequest) => Promise<Outcome[]>;

/** The same outcome for every recipient of a request (DNS answers, policy refusals, lost connections). */
export function outcomeForAll(request: Pick<DeliveryRequest, 'recipients'>, fields: Omit<Outcome, 'recipient'>): Outcome[] {
  return request.recipients.map((recipient) => ({ recipient, ...fields }));
}

/** Run `deliver` so that it never throws and answers for every recipient: the rest are deferred. */
export async function settle(deliver: Deliver, request: DeliveryRequest): Promise<Outcome[]> {
  let outcomes: Outcome[];
  try {
    outcomes = await deliver(request);
  } catch (err) {
    const failure = reply(451, '4.3.0', `local error during delivery: ${(err as Error).message ?? String(err)}`);
    return outcomeForAll(request, { status: 'deferred', reply: failure, remote: false, relay: null, tls: null });
  }
  const known = new Map(outcomes.map((o) => [o.recipient, o]));
  const missing = reply(451, '4.3.0', 'local error during delivery: no outcome for this recipient');
  return request.recipients.map(
    (recipient) => known.get(recipient) ?? { recipient, status: 'deferred', reply: missing, remote: false, relay: null, tls: null },
  );
}
