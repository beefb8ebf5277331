// `smarthost queue bounce ID`: give up on a message's waiting recipients (queued, deferred, held) now,
// as if each had failed for good, and tell the sender. One DSN covers them all (for a null-sender
// message: to the postmaster, when one is configured, as for any failure); it is committed first, then the recipients are recorded bounced through the
// delivery store like any final outcome (an `attempts` row each; the message is finished and its body
// handled as spool.keepDelivered says), so a crash in between can repeat the DSN but never lose it.
import type { DeliveryStore, RecipientResult } from '../spool/delivery-store.js';
import type { SpoolDatabase } from '../spool/database.js';
import { showMessage } from '../spool/queue-read.js';
import { WAITING_STATES } from '../spool/queue-stats.js';
import type { Clock } from '../platform/clock.js';
import { splitMessage } from '../smtp/headers.js';
import { formatReply, reply } from '../smtp/reply.js';
import type { Bouncer } from './bouncer.js';
import type { FailedRecipient } from './dsn.js';

export const RETURNED_BY_ADMINISTRATOR = reply(550, '5.0.0', 'message returned to the sender by the mail administrator');

const WAITING = new Set<string>(WAITING_STATES);

export interface AdministrativeBounceDeps {
  readonly db: SpoolDatabase;
  readonly store: DeliveryStore;
  readonly bouncer: Bouncer;
  readonly clock: Clock;
}

export type AdministrativeBounce =
  | { readonly found: false }
  | { readonly found: true; readonly bounced: readonly string[]; readonly dsn: string | null };

export async function bounceNow(deps: AdministrativeBounceDeps, id: string): Promise<AdministrativeBounce> {
  const message = showMessage(deps.db, id);
  if (!message) return { found: false };
  const addresses = message.recipients.filter((r) => WAITING.has(r.state)).map((r) => r.address);
  if (addresses.length === 0) return { found: true, bounced: [], dsn: null };
  const now = deps.clock.now();
  const failed: FailedRecipient[] = addresses.map((address) => ({
    address,
    reply: RETURNED_BY_ADMINISTRATOR,
    remote: false,
    relay: null,
    expired: false,
    at: now,
  }));
  const originalHeader = message.body ? Buffer.from(splitMessage(message.body).header) : Buffer.alloc(0);
  const notified = failed.filter((f) => deps.bouncer.noticeTo(message.sender, f.address) !== null);
  const dsn =
    notified.length === 0
      ? null
      : await deps.bouncer.bounce({ queueId: id, sender: message.sender, arrivedAt: message.createdAt, originalHeader }, notified);
  deps.store.record(addresses.map((address) => bouncedResult(id, address, now)));
  return { found: true, bounced: addresses, dsn };
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
