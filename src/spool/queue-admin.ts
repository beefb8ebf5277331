// The administrator's changes to the queue (`smarthost queue hold|release|retry|delete`), safe while
// the daemon runs: the daemon's delivery worker notices each commit within a second (SQLite's
// data_version) and claims whatever became due. The rules, per recipient:
//   retry    queued or deferred → due now (next_attempt_at = now); held ones stay held
//   hold     queued or deferred → held: never claimed until released
//   release  held → queued (never tried) or deferred (tried before), due now
//   delete   the message with its body, recipients and attempt history
// With a domain, hold, release and retry change only the recipients in that domain; delete always
// removes whole messages. Each message's change and its admin log line (admin-log.ts: the daemon
// logs it, with the Unix user who ran the command) are written in one transaction, and messages go
// CHUNK to a transaction: 10,000 messages cost 50 commits, and the daemon, whose SQLite calls wait
// for the write lock synchronously, never waits for more than one chunk. A dry run makes the same
// changes and rolls them back, so it reports exactly what a real run would have done.
// A recipient whose attempt is running when it is held keeps the attempt's outcome if that is final
// (delivered, bounced) and stays held if it is deferred; the outcome of a deleted message's attempt
// is dropped (delivery-store.ts). `queue bounce` is in src/bounce/administrative.ts.
import { lowerDomain } from '../smtp/address.js';
import { AdminLog, actorFields, type Actor } from './admin-log.js';
import type { SpoolDatabase } from './database.js';

export const QUEUE_CHANGES = ['hold', 'release', 'retry', 'delete'] as const;
export type QueueChange = (typeof QUEUE_CHANGES)[number];

export interface ChangeOptions {
  readonly now: number;
  readonly actor: Actor;
  /** Only the recipients in this domain (hold, release, retry). */
  readonly domain?: string;
  readonly dryRun?: boolean;
}

export interface MessageChange {
  readonly id: string;
  readonly sender: string;
  /** The recipients changed (for delete: every recipient of the message), sorted. */
  readonly recipients: readonly string[];
  /** retry: the held recipients it left alone. */
  readonly held: readonly string[];
}

export interface ChangeResult {
  /** Every message found, in the order asked, whether or not a recipient changed. */
  readonly messages: MessageChange[];
  /** The IDs asked for that are not in the spool. */
  readonly missing: string[];
}

const CHUNK = 200;

class RollBack extends Error {}

export class QueueAdmin {
  private readonly statements;
  private readonly log: AdminLog;

  constructor(private readonly db: SpoolDatabase) {
    // One message's recipients, by the primary key: "+state" keeps the planner from scanning every
    // recipient in that state (recipients_state) instead, which made releasing 10,000 held
    // messages take minutes rather than seconds.
    const where = `message_id = @id AND (@domain IS NULL OR domain = @domain)`;
    this.statements = {
      sender: db.prepare('SELECT sender FROM messages WHERE id = ?').pluck(),
      retry: db.prepare(
        `UPDATE recipients SET next_attempt_at = @now, updated_at = @now
          WHERE ${where} AND +state IN ('queued', 'deferred') RETURNING address`,
      ),
      held: db.prepare(`SELECT address FROM recipients WHERE ${where} AND +state = 'held'`).pluck(),
      hold: db.prepare(
        `UPDATE recipients SET state = 'held', updated_at = @now WHERE ${where} AND +state IN ('queued', 'deferred') RETURNING address`,
      ),
      release: db.prepare(
        `UPDATE recipients SET state = CASE WHEN attempts = 0 THEN 'queued' ELSE 'deferred' END, next_attempt_at = @now, updated_at = @now
          WHERE ${where} AND +state = 'held' RETURNING address`,
      ),
      recipients: db.prepare('SELECT address FROM recipients WHERE message_id = ?').pluck(),
      delete: db.prepare('DELETE FROM messages WHERE id = ?'),
    };
    this.log = new AdminLog(db);
  }

  exists(id: string): boolean {
    return this.statements.sender.get(id) !== undefined;
  }

  /** Apply `change` to each message of `ids` (queue IDs, upper case). */
  apply(change: QueueChange, ids: readonly string[], options: ChangeOptions): ChangeResult {
    const result: ChangeResult = { messages: [], missing: [] };
    for (let i = 0; i < ids.length; i += CHUNK) {
      const chunk = ids.slice(i, i + CHUNK);
      try {
        this.db.transaction(() => {
          for (const id of chunk) {
            const changed = this.changeOne(change, id, options);
            if (changed) result.messages.push(changed);
            else result.missing.push(id);
          }
          if (options.dryRun) throw new RollBack();
        })();
      } catch (err) {
        if (!(err instanceof RollBack)) throw err;
      }
    }
    return result;
  }

  private changeOne(change: QueueChange, id: string, options: ChangeOptions): MessageChange | null {
    const s = this.statements;
    const sender = s.sender.get(id) as string | undefined;
    if (sender === undefined) return null;
    const params = { id, now: options.now, domain: options.domain === undefined ? null : lowerDomain(options.domain) };
    let recipients: string[];
    if (change === 'delete') {
      recipients = s.recipients.all(id) as string[];
      s.delete.run(id);
    } else {
      recipients = (s[change].all(params) as Array<{ address: string }>).map((r) => r.address);
    }
    recipients.sort();
    const held = change === 'retry' ? (s.held.all(params) as string[]).sort() : [];
    if (recipients.length > 0) {
      const fields = { queueId: id, from: sender, rcpts: recipients.length, recipients, ...actorFields(options.actor) };
      this.log.add([{ at: options.now, msg: `admin ${change}`, fields }]);
    }
    return { id, sender, recipients, held };
  }
}
