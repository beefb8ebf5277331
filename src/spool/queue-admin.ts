// The administrator's state transitions (`smarthost queue retry|hold|release|delete`), each one short
// transaction, safe while the daemon runs: the daemon's delivery worker notices the commit within a
// second (SQLite's data_version) and claims whatever became due. The rules, per recipient:
//   retry    queued or deferred → due now (next_attempt_at = now); held ones stay held
//   hold     queued or deferred → held: never claimed until released
//   release  held → queued (never tried) or deferred (tried before), due now
//   delete   the message with its body, recipients and attempt history
// A recipient whose attempt is running when it is held keeps the attempt's outcome if that is final
// (delivered, bounced) and stays held if it is deferred; the outcome of a deleted message's attempt
// is dropped (delivery-store.ts). `queue bounce` is in src/bounce/administrative.ts.
import { lowerDomain } from '../smtp/address.js';
import type { SpoolDatabase } from './database.js';

export type RetryTarget = { readonly id: string } | { readonly domain: string } | 'all';

export class QueueAdmin {
  private readonly statements;

  constructor(db: SpoolDatabase) {
    this.statements = {
      exists: db.prepare('SELECT 1 FROM messages WHERE id = ?').pluck(),
      retryId: db.prepare(
        `UPDATE recipients SET next_attempt_at = @now, updated_at = @now WHERE message_id = @id AND state IN ('queued', 'deferred')`,
      ),
      retryDomain: db.prepare(
        `UPDATE recipients SET next_attempt_at = @now, updated_at = @now WHERE domain = @domain AND state IN ('queued', 'deferred')`,
      ),
      retryAll: db.prepare(`UPDATE recipients SET next_attempt_at = @now, updated_at = @now WHERE state IN ('queued', 'deferred')`),
      hold: db.prepare(
        `UPDATE recipients SET state = 'held', updated_at = @now WHERE message_id = @id AND state IN ('queued', 'deferred')`,
      ),
      release: db.prepare(
        `UPDATE recipients SET state = CASE WHEN attempts = 0 THEN 'queued' ELSE 'deferred' END, next_attempt_at = @now, updated_at = @now
          WHERE message_id = @id AND state = 'held'`,
      ),
      delete: db.prepare('DELETE FROM messages WHERE id = ?'),
    };
  }

  exists(id: string): boolean {
    return this.statements.exists.get(id) !== undefined;
  }

  /** Make waiting recipients due now; returns how many. */
  retry(target: RetryTarget, now: number): number {
    const s = this.statements;
    if (target === 'all') return s.retryAll.run({ now }).changes;
    if ('id' in target) return s.retryId.run({ id: target.id, now }).changes;
    return s.retryDomain.run({ domain: lowerDomain(target.domain), now }).changes;
  }

  hold(id: string, now: number): number {
    return this.statements.hold.run({ id, now }).changes;
  }

  release(id: string, now: number): number {
    return this.statements.release.run({ id, now }).changes;
  }

  /** Delete the message and everything about it; false when there is no such message. */
  delete(id: string): boolean {
    return this.statements.delete.run(id).changes > 0;
  }
}
