// The relay listener's admission policy (listen.relay, relay.clients): Postfix's mynetworks with names.
// A connection is matched by its client address against every relay client's networks; the client
// whose network holds the address most specifically wins (the first listed on a tie). A matched
// session may send without AUTH as that client: its identity is "relay:NAME" (the quota key, the
// spool's user column and the `user` of log lines), its allowed senders are the client's `allow`,
// and everything after MAIL FROM is the submission path unchanged (header From: rule, quotas,
// limits, DKIM, the spool). A session that authenticates (after STARTTLS) sends as its user
// instead. An address outside every client's networks gets 554 5.7.1 in place of the greeting and
// is disconnected, counted (smarthost_connections_refused_total{reason="not_listed"}) and logged.
// The table is replaced on reload; sessions keep the client they were matched to. O(networks)
// per connection.
import type { SMTPServerOptions, SMTPServerSession } from 'smtp-server';
import type { Config } from '../config/schema.js';
import { matchLength, parseClientAddress, parseNetwork, type Network } from '../config/networks.js';
import { SmtpError } from '../smtp/errors.js';
import { Replies } from '../smtp/replies.js';
import { assignSender, type SubmissionDeps } from './session.js';

export interface RelayClient {
  readonly name: string;
  readonly networks: readonly Network[];
  readonly allow: readonly string[];
}

/** The prefix of a relay client's identity; user names cannot contain ":", so the two never clash. */
export const RELAY_IDENTITY_PREFIX = 'relay:';

export class RelayClients {
  private clients: readonly RelayClient[] = [];

  constructor(config: Config['relay']) {
    this.configure(config);
  }

  /** A new table (a reload); sessions already matched keep their client. */
  configure(config: Config['relay']): void {
    this.clients = config.clients.map((client) => ({
      name: client.name,
      allow: client.allow,
      networks: client.networks.map((text) => {
        const network = parseNetwork(text);
        if (typeof network === 'string') throw new Error(`relay network ${text}: ${network}`); // the schema checked it
        return network;
      }),
    }));
  }

  /** The client `address` belongs to, or null. */
  match(address: string): RelayClient | null {
    const parsed = parseClientAddress(address);
    if (!parsed) return null;
    let found: RelayClient | null = null;
    let best = -1;
    for (const client of this.clients) {
      const length = matchLength(client.networks, parsed);
      if (length > best) [found, best] = [client, length];
    }
    return found;
  }
}

type ConnectHandler = NonNullable<SMTPServerOptions['onConnect']>;

/** The relay listener's onConnect: match the client, then the usual admission (`next`). */
export function relayAdmission(deps: SubmissionDeps, clients: RelayClients, next: ConnectHandler): ConnectHandler {
  return (session: SMTPServerSession, callback) => {
    const address = session.remoteAddress;
    const client = clients.match(address);
    if (!client) {
      deps.metrics.connections.inc({ listener: 'relay' });
      deps.metrics.connectionsRefused.inc({ reason: 'not_listed' });
      deps.logger.warn(
        { client: address, session: session.id },
        `connection refused: client=${address} is not in any relay client's networks`,
      );
      return callback(new SmtpError('SMARTHOST_E_CLIENT_NOT_LISTED', Replies.clientNotListed(address)));
    }
    assignSender(session, { name: `${RELAY_IDENTITY_PREFIX}${client.name}`, allowed: client.allow });
    deps.logger.debug({ client: address, session: session.id, relayClient: client.name }, 'relay client connected');
    next(session, callback);
  };
}
