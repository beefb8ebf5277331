// The delivery worker's view of the spool: claiming due recipients under a lease, recording attempt
// outcomes, and finishing messages.
//
// A claim is one short transaction: pick up to `limit` recipients that are queued or deferred and
// due, oldest due first, and lease them: lease_until and next_attempt_at both move to the end of the
// lease. A leased recipient is therefore simply not due, and finding due work is a range scan of the
// recipients_due index that never walks past the recipients in flight, however many wait (an expired
// lease makes its recipient due again by itself). The queries name that partial index (INDEXED BY):
// left to itself the planner prefers recipients_state and sorts every waiting recipient. Recorded
// outcomes clear the lease and set the real next attempt. The daemon is the only delivery process on
// its spool, so at start every lease is returned (returnLeases): whatever a killed process held is
// due again at once, and delivery is at-least-once.
// Recording writes a batch of outcomes in one transaction: the recipient's new state, next attempt,
// last reply and MX, and one `attempts` row each. A message none of whose recipients is queued,
// deferred or held any more is done: done_at is set, and its body is deleted at once or, with
// spool.keepDelivered, by sweepBodies() once that many seconds have passed. The message, recipient
// and attempt rows stay as the record of what happened, until spool.keepHistory (retention.ts).
// The administrator may change a recipient while its attempt runs (queue-admin.ts): a deferred
// outcome then leaves a recipient that was held or bounced in the meantime as it is, and the outcome
// of a recipient whose message was deleted is dropped. A delivered or bounced outcome always counts.
// The TLS memory (tls_domains) keeps, per recipient domain, the last time delivery to it succeeded
// over TLS: one row per domain, written at most as often as the worker asks (src/delivery/tls-memory.ts).
import {
  NO_MESSAGE_DSN,
  NO_RECIPIENT_DSN,
  notifyFromText,
  retFromText,
  type MessageDsn,
  type RecipientDsn,
} from '../smtp/dsn-parameters.js';
import type { SpoolDatabase } from './database.js';

/**
 * How long a delivery claim holds. Only the daemon delivers from its spool and it returns all leases
 * at start, so a lease only has to outlast one attempt plus its wait in the ready queue.
 */
export const DELIVERY_LEASE_MS = 3_600_000;

export interface ClaimedRecipient {
  readonly messageId: string;
  readonly address: string;
  readonly domain: string;
  readonly attempts: number;
  readonly sender: string;
  readonly createdAt: number;
  /** The message's RET and ENVID, the recipient's NOTIFY and ORCPT (RFC 3461). */
  readonly messageDsn: MessageDsn;
  readonly dsn: RecipientDsn;
  /** The recipient's one delay warning went out already. */
  readonly delayWarned: boolean;
}

export type FinalState = 'delivered' | 'bounced';

export interface RecipientResult {
  readonly messageId: string;
  readonly address: string;
  readonly state: 'deferred' | FinalState;
  readonly at: number;
  readonly nextAttemptAt: number;
  /** The attempt's outcome as logged: deferred, delivered, bounced or expired. */
  readonly outcome: 'delivered' | 'deferred' | 'bounced' | 'expired';
  readonly reply: string;
  readonly mxHost: string | null;
  readonly mxAddress: string | null;
  /** "host[address]:port", for recipients.last_mx. */
  readonly relay: string | null;
  readonly tls: string | null;
  /** When the recipient's delay warning was spooled, if this result comes with one. */
  readonly delayWarnedAt?: number | null;
}

interface RecipientKey {
  readonly messageId: string;
  readonly address: string;
}

interface ClaimRow extends Omit<ClaimedRecipient, 'messageDsn' | 'dsn' | 'delayWarned'> {
  readonly rid: number;
  readonly dsnRet: string | null;
  readonly dsnEnvid: string | null;
  readonly dsnNotify: string | null;
  readonly dsnOrcpt: string | null;
  readonly delayWarnedAt: number | null;
}

export class DeliveryStore {
  private readonly claimTx: (now: number, limit: number) => ClaimedRecipient[];
  private readonly recordTx: (results: readonly RecipientResult[]) => string[];
  private readonly releaseTx: (keys: readonly RecipientKey[], now: number) => void;
  private readonly statements;
  private swept = 0;
  private dataVersion: number;

  constructor(
    private readonly db: SpoolDatabase,
    private readonly options: { readonly leaseMs: number; readonly keepDeliveredMs: number },
  ) {
    this.statements = this.prepare();
    this.dataVersion = this.readDataVersion();
    this.claimTx = db.transaction((now: number, limit: number) => this.claimIn(now, limit));
    this.recordTx = db.transaction((results: readonly RecipientResult[]) => this.recordIn(results));
    this.releaseTx = db.transaction((keys: readonly RecipientKey[], now: number) => {
      for (const k of keys) this.statements.release.run({ now, messageId: k.messageId, address: k.address });
    });
  }

  private prepare() {
    const db = this.db;
    return {
      due: db.prepare(
        `SELECT r.rowid AS rid, r.message_id AS messageId, r.address, r.domain, r.attempts,
                m.sender, m.created_at AS createdAt, m.dsn_ret AS dsnRet, m.dsn_envid AS dsnEnvid,
                r.dsn_notify AS dsnNotify, r.dsn_orcpt AS dsnOrcpt, r.delay_warned_at AS delayWarnedAt
           FROM recipients r INDEXED BY recipients_due JOIN messages m ON m.id = r.message_id
          WHERE r.state IN ('queued', 'deferred') AND r.next_attempt_at <= @now
          ORDER BY r.next_attempt_at LIMIT @limit`,
      ),
      lease: db.prepare('UPDATE recipients SET lease_until = @until, next_attempt_at = @until WHERE rowid = @rid'),
      nextDue: db.prepare(
        `SELECT next_attempt_at AS at FROM recipients INDEXED BY recipients_due
          WHERE state IN ('queued', 'deferred') ORDER BY next_attempt_at LIMIT 1`,
      ),
      update: db.prepare(
        `UPDATE recipients SET state = CASE WHEN @state = 'deferred' AND state IN ('held', 'bounced') THEN state ELSE @state END,
                attempts = attempts + 1, next_attempt_at = @nextAttemptAt,
                lease_until = NULL, last_reply = @reply, last_mx = @relay, updated_at = @at,
                delay_warned_at = coalesce(@delayWarnedAt, delay_warned_at)
          WHERE message_id = @messageId AND address = @address`,
      ),
      attempt: db.prepare(
        `INSERT INTO attempts (message_id, address, at, outcome, mx_host, mx_address, tls, reply)
         VALUES (@messageId, @address, @at, @outcome, @mxHost, @mxAddress, @tls, @reply)`,
      ),
      open: db.prepare(`SELECT 1 FROM recipients WHERE message_id = ? AND state IN ('queued', 'deferred', 'held') LIMIT 1`),
      done: db.prepare('UPDATE messages SET done_at = ? WHERE id = ? AND done_at IS NULL'),
      dropBody: db.prepare('DELETE FROM bodies WHERE message_id = ?'),
      sweep: db.prepare('DELETE FROM bodies WHERE message_id IN (SELECT id FROM messages WHERE done_at > ? AND done_at <= ?)'),
      body: db.prepare('SELECT data FROM bodies WHERE message_id = ?').pluck(),
      release: db.prepare(
        `UPDATE recipients SET lease_until = NULL, next_attempt_at = @now
          WHERE message_id = @messageId AND address = @address AND lease_until IS NOT NULL`,
      ),
      tlsSeen: db.prepare('SELECT last_tls_at FROM tls_domains WHERE domain = ?').pluck(),
      tlsRemember: db.prepare(
        `INSERT INTO tls_domains (domain, last_tls_at) VALUES (?, ?)
         ON CONFLICT (domain) DO UPDATE SET last_tls_at = max(last_tls_at, excluded.last_tls_at)`,
      ),
      tlsForget: db.prepare('DELETE FROM tls_domains WHERE last_tls_at < ?'),
      returnAll: db.prepare(
        `UPDATE recipients SET lease_until = NULL, next_attempt_at = min(next_attempt_at, @now)
          WHERE state IN ('queued', 'deferred', 'held') AND lease_until IS NOT NULL`,
      ),
    };
  }

  /** Return every lease (daemon start and stop): those recipients are due at once. */
  returnLeases(now: number): number {
    return this.statements.returnAll.run({ now }).changes;
  }

  /** Lease up to `limit` due recipients until now + leaseMs. */
  claimDue(now: number, limit: number): ClaimedRecipient[] {
    return this.claimTx(now, limit);
  }

  private claimIn(now: number, limit: number): ClaimedRecipient[] {
    const rows = this.statements.due.all({ now, limit }) as ClaimRow[];
    const until = now + this.options.leaseMs;
    for (const row of rows) this.statements.lease.run({ until, rid: row.rid });
    return rows.map(({ rid: _rid, dsnRet, dsnEnvid, dsnNotify, dsnOrcpt, delayWarnedAt, ...rest }) => ({
      ...rest,
      messageDsn: dsnRet === null && dsnEnvid === null ? NO_MESSAGE_DSN : { ret: retFromText(dsnRet), envid: dsnEnvid },
      dsn: dsnNotify === null && dsnOrcpt === null ? NO_RECIPIENT_DSN : { notify: notifyFromText(dsnNotify), orcpt: dsnOrcpt },
      delayWarned: delayWarnedAt !== null,
    }));
  }

  /** The earliest next attempt (for a leased recipient: the end of its lease), or null when nothing waits. */
  nextDue(): number | null {
    const row = this.statements.nextDue.get() as { at: number } | undefined;
    return row?.at ?? null;
  }

  loadBody(messageId: string): Buffer | null {
    return (this.statements.body.get(messageId) as Buffer | undefined) ?? null;
  }

  /** Give recipients back without an attempt (hand-off overflow, shutdown). */
  release(keys: readonly RecipientKey[], now: number): void {
    this.releaseTx(keys, now);
  }

  /** Write outcomes; returns the IDs of messages that this made done. */
  record(results: readonly RecipientResult[]): string[] {
    return results.length === 0 ? [] : this.recordTx(results);
  }

  private recordIn(results: readonly RecipientResult[]): string[] {
    const s = this.statements;
    const touched = new Set<string>();
    for (const r of results) {
      if (s.update.run({ ...r, delayWarnedAt: r.delayWarnedAt ?? null }).changes === 0) continue; // the message was deleted meanwhile
      s.attempt.run(r);
      touched.add(r.messageId);
    }
    const finished = [...touched].filter((id) => s.open.get(id) === undefined);
    const at = results[0]?.at ?? 0;
    for (const id of finished) {
      s.done.run(at, id);
      if (this.options.keepDeliveredMs === 0) s.dropBody.run(id);
    }
    return finished;
  }

  /** When delivery to `domain` last succeeded over TLS, or null. */
  lastTlsDelivery(domain: string): number | null {
    return (this.statements.tlsSeen.get(domain) as number | undefined) ?? null;
  }

  /** Record a delivery to `domain` over TLS at `at` (an earlier time never replaces a later one). */
  rememberTls(domain: string, at: number): void {
    this.statements.tlsRemember.run(domain, at);
  }

  /** Forget domains not delivered to over TLS since `cutoff`; returns how many. */
  forgetTlsBefore(cutoff: number): number {
    return this.statements.tlsForget.run(cutoff).changes;
  }

  /** Delete the bodies of messages done for keepDelivered or longer. */
  sweepBodies(now: number): number {
    const cutoff = now - this.options.keepDeliveredMs;
    if (this.options.keepDeliveredMs === 0 || cutoff <= this.swept) return 0;
    const deleted = this.statements.sweep.run(this.swept, cutoff).changes;
    this.swept = cutoff;
    return deleted;
  }

  /**
   * Whether another connection committed to the spool since the last call: the CLI, and also the
   * daemon's own submission connection (SQLite cannot tell them apart), which costs a worker that
   * checks once a second at most one needless look for due work per second.
   */
  changedElsewhere(): boolean {
    const version = this.readDataVersion();
    const changed = version !== this.dataVersion;
    this.dataVersion = version;
    return changed;
  }

  private readDataVersion(): number {
    return this.db.pragma('data_version', { simple: true }) as number;
  }
}
