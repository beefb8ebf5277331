// `smarthost queue bounce`: give up on a message's waiting recipients (queued, deferred, held) now,
// as if each had failed for good, and tell the sender. One DSN covers them all, by the rules of any
// failure report (bouncer.ts: NOTIFY, RET, ENVID and ORCPT as the client gave them; for a
// null-sender message the postmaster, when one is configured); it is committed first, then the
// recipients are recorded bounced through the delivery store like any final outcome (an
// `attempts` row each; the message is finished and its body handled as spool.keepDelivered says),
// so a crash in between can repeat the DSN but never lose it.
// With the outcome go its lines for the daemon's log (src/spool/admin-log.ts): the admin action with
// the Unix user who ran it, then the same lines as any bounce: one per recipient (status bounced),
// the DSN's, and "removed" once the message is finished. With a domain, only the recipients in that
// domain are bounced.
import type { Clock } from '../platform/clock.js';
import { domainOf, lowerDomain } from '../smtp/address.js';
import { splitMessage } from '../smtp/headers.js';
import { formatReply, reply } from '../smtp/reply.js';
import { AdminLog, actorFields, type Actor, type AdminLogLine } from '../spool/admin-log.js';
import type { SpoolDatabase } from '../spool/database.js';
import type { DeliveryStore, RecipientResult } from '../spool/delivery-store.js';
import { dsnParametersOf, showMessage, type ShownMessage } from '../spool/queue-read.js';
import { WAITING_STATES } from '../spool/queue-stats.js';
import { attemptLogFields } from '../delivery/results.js';
import type { Bouncer } from './bouncer.js';
import { NO_RECIPIENT_DSN } from '../smtp/dsn-parameters.js';
import type { ReportedRecipient } from './dsn.js';

export const RETURNED_BY_ADMINISTRATOR = reply(550, '5.0.0', 'message returned to the sender by the mail administrator');

const WAITING = new Set<string>(WAITING_STATES);

export interface AdministrativeBounceDeps {
  readonly db: SpoolDatabase;
  readonly store: DeliveryStore;
  readonly bouncer: Bouncer;
  readonly clock: Clock;
}

export interface BounceOptions {
  readonly actor: Actor;
  readonly domain?: string;
  /** Report what would be bounced, change nothing. */
  readonly dryRun?: boolean;
}

export type AdministrativeBounce =
  | { readonly found: false }
  | { readonly found: true; readonly sender: string; readonly bounced: readonly string[]; readonly dsn: string | null };

export async function bounceNow(deps: AdministrativeBounceDeps, id: string, options: BounceOptions): Promise<AdministrativeBounce> {
  const message = showMessage(deps.db, id);
  if (!message) return { found: false };
  const domain = options.domain === undefined ? null : lowerDomain(options.domain);
  const waiting = message.recipients.filter((r) => WAITING.has(r.state) && (domain === null || domainOf(r.address) === domain));
  const addresses = waiting.map((r) => r.address);
  if (addresses.length === 0 || options.dryRun) return { found: true, sender: message.sender, bounced: addresses, dsn: null };
  const now = deps.clock.now();
  const given = dsnParametersOf(deps.db, id);
  const failed: ReportedRecipient[] = addresses.map((address) => ({
    address,
    reply: RETURNED_BY_ADMINISTRATOR,
    remote: false,
    relay: null,
    expired: false,
    at: now,
    orcpt: given.recipients.get(address)?.orcpt ?? null,
  }));
  const originalHeader = message.body ? Buffer.from(splitMessage(message.body).header) : Buffer.alloc(0);
  const notified = failed.filter((f) =>
    deps.bouncer.reportsOn({
      sender: message.sender,
      address: f.address,
      dsn: given.recipients.get(f.address) ?? NO_RECIPIENT_DSN,
      action: 'failed',
      arrivedAt: message.createdAt,
      now,
      delayWarned: false,
      passedOn: false,
    }),
  );
  const source = {
    queueId: id,
    sender: message.sender,
    arrivedAt: message.createdAt,
    originalHeader,
    original: message.body,
    dsn: given.message,
  };
  const dsn = notified.length === 0 ? null : await deps.bouncer.bounce(source, notified);
  const noticeTo = notified[0] ? deps.bouncer.noticeTo(message.sender, notified[0].address) : null;
  const results = waiting.map((r) => bouncedResult(id, r.address, now));
  const log = new AdminLog(deps.db);
  deps.db.transaction(() => {
    const finished = deps.store.record(results);
    log.add(
      logLines(
        message,
        results,
        waiting.map((r) => r.attempts + 1),
        { id: dsn, to: noticeTo, rcpts: notified.length },
        options.actor,
        now,
      ),
    );
    log.add(finished.map((queueId) => ({ at: now, msg: 'removed', fields: { queueId } })));
  })();
  return { found: true, sender: message.sender, bounced: addresses, dsn };
}

interface Notice {
  readonly id: string | null;
  readonly to: string | null;
  readonly rcpts: number;
}

function logLines(
  message: ShownMessage,
  results: readonly RecipientResult[],
  attempts: readonly number[],
  notice: Notice,
  actor: Actor,
  now: number,
): AdminLogLine[] {
  const dsn = notice.id;
  const who = message.sender === '' ? 'postmaster' : 'sender';
  const recipients = results.map((r) => r.address);
  const source = { id: message.id, sender: message.sender, createdAt: message.createdAt };
  const admin = { queueId: message.id, from: message.sender, rcpts: recipients.length, recipients, dsn, ...actorFields(actor) };
  return [
    { at: now, msg: 'admin bounce', fields: admin },
    ...results.map((r, i) => ({ at: now, msg: 'delivery bounced', fields: attemptLogFields(source, r, 'bounced', attempts[i] ?? 1) })),
    ...(dsn === null
      ? []
      : [
          {
            at: now,
            msg: `${who} non-delivery notification`,
            fields: { queueId: message.id, dsn, to: notice.to, rcpts: notice.rcpts },
          },
        ]),
  ];
}

function bouncedResult(messageId: string, address: string, at: number): RecipientResult {
  return {
    messageId,
    address,
    state: 'bounced',
    at,
    nextAttemptAt: at,
    outcome: 'bounced',
    reply: formatReply(RETURNED_BY_ADMINISTRATOR),
    mxHost: null,
    mxAddress: null,
    relay: null,
    tls: null,
  };
}
