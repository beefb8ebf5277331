// Reading the queue for `smarthost queue list` and `queue show` (and a message's DSN parameters,
// for `queue bounce`). A listing is one query: messages
// joined with their recipients, in arrival order, filtered in SQL, so 100,000 messages cost one
// pass over two indexes (messages_open for the messages still waiting, recipients' primary key for
// their recipients) and never a query per row. Without a state filter it lists the messages that
// still wait for a recipient (queued, deferred or held); with one, every message that has a
// recipient in that state, finished ones included. Every recipient of a listed message is shown.
import { lowerDomain } from '../smtp/address.js';
import { NO_MESSAGE_DSN, notifyFromText, retFromText, type EnvelopeDsn } from '../smtp/dsn-parameters.js';
import type { SpoolDatabase } from './database.js';
import type { RecipientState } from './queue-stats.js';

export interface ListFilter {
  readonly state?: RecipientState;
  /** Messages with a recipient in this domain (in the listed state, or a waiting one). */
  readonly domain?: string;
  /** An envelope sender ("a@example.com", any case) or a sender domain ("@example.com"). */
  readonly sender?: string;
  /** Messages that arrived at or before this time (ms). */
  readonly arrivedBefore?: number;
  /** Messages submitted by this user. */
  readonly user?: string;
}

export interface ListedRecipient {
  readonly address: string;
  readonly state: RecipientState;
  readonly attempts: number;
  readonly nextAttemptAt: number;
  readonly lastReply: string | null;
}

export interface ListedMessage {
  readonly id: string;
  readonly sender: string;
  readonly size: number;
  readonly createdAt: number;
  readonly user: string | null;
  readonly recipients: ListedRecipient[];
}

interface ListRow {
  id: string;
  sender: string;
  size: number;
  created_at: number;
  username: string | null;
  address: string;
  state: RecipientState;
  attempts: number;
  next_attempt_at: number;
  last_reply: string | null;
}

/** The WHERE clause and parameters for a filter; only fixed SQL text, every value a parameter. */
function whereClause(filter: ListFilter): { sql: string; params: Record<string, string | number> } {
  const parts: string[] = [];
  const params: Record<string, string | number> = {};
  const states = filter.state ? `(@state)` : `('queued', 'deferred', 'held')`;
  if (filter.state) {
    params['state'] = filter.state;
    parts.push(`m.id IN (SELECT message_id FROM recipients WHERE state = @state)`);
  } else {
    parts.push('m.done_at IS NULL');
  }
  if (filter.domain) {
    params['domain'] = lowerDomain(filter.domain);
    parts.push(`m.id IN (SELECT message_id FROM recipients WHERE state IN ${states} AND domain = @domain)`);
  }
  if (filter.sender?.startsWith('@')) {
    params['senderDomain'] = filter.sender.toLowerCase();
    parts.push(`substr(lower(m.sender), -length(@senderDomain)) = @senderDomain`);
  } else if (filter.sender !== undefined) {
    params['sender'] = filter.sender.toLowerCase();
    parts.push('lower(m.sender) = @sender');
  }
  if (filter.arrivedBefore !== undefined) {
    params['before'] = filter.arrivedBefore;
    parts.push('m.created_at <= @before');
  }
  if (filter.user !== undefined) {
    params['user'] = filter.user;
    parts.push('m.username = @user');
  }
  return { sql: parts.join(' AND '), params };
}

/** The listed messages, oldest first, each with all its recipients. */
export function* listMessages(db: SpoolDatabase, filter: ListFilter): Generator<ListedMessage> {
  const { sql, params } = whereClause(filter);
  const rows = db
    .prepare(
      `SELECT m.id, m.sender, m.size, m.created_at, m.username,
            r.address, r.state, r.attempts, r.next_attempt_at, r.last_reply
       FROM messages m JOIN recipients r ON r.message_id = m.id
      WHERE ${sql}
      ORDER BY m.created_at, m.id, r.address`,
    )
    .iterate(params) as IterableIterator<ListRow>;
  let current = null as ListedMessage | null;
  for (const row of rows) {
    if (current?.id !== row.id) {
      if (current) yield current;
      current = { id: row.id, sender: row.sender, size: row.size, createdAt: row.created_at, user: row.username, recipients: [] };
    }
    current.recipients.push({
      address: row.address,
      state: row.state,
      attempts: row.attempts,
      nextAttemptAt: row.next_attempt_at,
      lastReply: row.last_reply,
    });
  }
  if (current) yield current;
}

/** The IDs of the messages `listMessages` would list, in the same order (the commands' selectors). */
export function listMessageIds(db: SpoolDatabase, filter: ListFilter): string[] {
  const { sql, params } = whereClause(filter);
  return db.prepare(`SELECT m.id FROM messages m WHERE ${sql} ORDER BY m.created_at, m.id`).pluck().all(params) as string[];
}

export interface QueueSummary {
  readonly messages: number;
  readonly bytes: number;
  readonly recipients: Record<RecipientState, number>;
}

/**
 * The summary line of a listing without the listing: the same filter, two aggregate queries (one over
 * the messages, one over their recipients), nothing per message. For `queue list --summary`. CROSS
 * JOIN keeps the messages as the outer loop: left to itself, the planner walks every recipient in the
 * spool (recipients_state) and looks up its message, seven times slower with a million recipients.
 */
export function summarizeQueue(db: SpoolDatabase, filter: ListFilter): QueueSummary {
  const { sql, params } = whereClause(filter);
  const totals = db.prepare(`SELECT count(*) AS messages, coalesce(sum(m.size), 0) AS bytes FROM messages m WHERE ${sql}`).get(params) as {
    messages: number;
    bytes: number;
  };
  const rows = db
    .prepare(`SELECT r.state, count(*) AS n FROM messages m CROSS JOIN recipients r ON r.message_id = m.id WHERE ${sql} GROUP BY r.state`)
    .all(params) as Array<{ state: RecipientState; n: number }>;
  const recipients: Record<RecipientState, number> = { queued: 0, deferred: 0, held: 0, delivered: 0, bounced: 0 };
  for (const row of rows) recipients[row.state] = row.n;
  return { ...totals, recipients };
}

export interface AttemptRecord {
  readonly at: number;
  readonly outcome: string;
  readonly mxHost: string | null;
  readonly mxAddress: string | null;
  readonly tls: string | null;
  readonly reply: string | null;
}

export interface ShownRecipient extends ListedRecipient {
  readonly lastMx: string | null;
  readonly history: AttemptRecord[];
}

export interface ShownMessage {
  readonly id: string;
  readonly kind: string;
  readonly sender: string;
  readonly user: string | null;
  readonly clientAddress: string | null;
  readonly size: number;
  readonly createdAt: number;
  readonly doneAt: number | null;
  readonly recipients: ShownRecipient[];
  /** The stored message (null once its body was removed after delivery). */
  readonly body: Buffer | null;
}

/** One message with every recipient's attempt history, or null. */
export function showMessage(db: SpoolDatabase, id: string): ShownMessage | null {
  const m = db
    .prepare(
      `SELECT id, kind, sender, username AS user, client_address AS clientAddress, size, created_at AS createdAt, done_at AS doneAt
       FROM messages WHERE id = ?`,
    )
    .get(id) as Omit<ShownMessage, 'recipients' | 'body'> | undefined;
  if (!m) return null;
  const recipients = db
    .prepare(
      `SELECT address, state, attempts, next_attempt_at AS nextAttemptAt, last_reply AS lastReply, last_mx AS lastMx
       FROM recipients WHERE message_id = ? ORDER BY address`,
    )
    .all(id) as Array<Omit<ShownRecipient, 'history'>>;
  const attempts = db
    .prepare(
      `SELECT address, at, outcome, mx_host AS mxHost, mx_address AS mxAddress, tls, reply
       FROM attempts WHERE message_id = ? ORDER BY id`,
    )
    .all(id) as Array<AttemptRecord & { address: string }>;
  const body = db.prepare('SELECT data FROM bodies WHERE message_id = ?').pluck().get(id) as Buffer | undefined;
  return {
    ...m,
    recipients: recipients.map((r) => ({
      ...r,
      history: attempts.filter((a) => a.address === r.address).map(({ address: _a, ...rest }) => rest),
    })),
    body: body ?? null,
  };
}

/** The DSN parameters a message was submitted with (RET, ENVID; each recipient's NOTIFY and ORCPT). */
export function dsnParametersOf(db: SpoolDatabase, id: string): EnvelopeDsn {
  const m = db.prepare('SELECT dsn_ret AS ret, dsn_envid AS envid FROM messages WHERE id = ?').get(id) as
    | { ret: string | null; envid: string | null }
    | undefined;
  const rows = db
    .prepare('SELECT address, dsn_notify AS notify, dsn_orcpt AS orcpt FROM recipients WHERE message_id = ?')
    .all(id) as Array<{
    address: string;
    notify: string | null;
    orcpt: string | null;
  }>;
  return {
    message: m ? { ret: retFromText(m.ret), envid: m.envid } : NO_MESSAGE_DSN,
    recipients: new Map(rows.map((r) => [r.address, { notify: notifyFromText(r.notify), orcpt: r.orcpt }])),
  };
}
