// Writing accepted messages into the spool, with group commit. Submissions that finish DATA while a
// commit is running (or in the same turn of the event loop) are written together in one transaction,
// so one fsync covers them all; each caller's promise settles only after that commit returned, so no
// client sees 250 before its message is on disk. If a batch fails, its messages are retried one by
// one, so a single bad message never costs the others; a failed message is rolled back completely
// (message, body and recipients are one transaction) and rejects with the SMTP error to send.
// With `leaseMs`, recipients are written already claimed by the delivery worker (lease_until, and
// next_attempt_at with it, set to the end of the lease: see delivery-store.ts), so the worker can take
// them from the onCommitted hand-off without a claim query; a crash returns them.
import { domainOf } from '../smtp/address.js';
import { NO_MESSAGE_DSN, NO_RECIPIENT_DSN, notifyText, type EnvelopeDsn } from '../smtp/dsn-parameters.js';
import type { SmtpError } from '../smtp/errors.js';
import type { SpoolDatabase } from './database.js';
import { spoolWriteError } from './errors.js';

export interface NewMessage {
  readonly id: string;
  readonly sender: string;
  readonly username: string | null;
  readonly clientAddress: string | null;
  readonly recipients: readonly string[];
  readonly body: Buffer;
  readonly createdAt: number;
  readonly kind: 'message' | 'bounce';
  readonly smtputf8: boolean;
  /** DSN parameters given at submission (RFC 3461); absent when none were. */
  readonly dsn?: EnvelopeDsn;
}

interface Pending {
  readonly message: NewMessage;
  readonly resolve: () => void;
  readonly reject: (err: SmtpError) => void;
}

export type CommittedListener = (messages: readonly NewMessage[]) => void;

export interface EnqueuerOptions {
  /** Insert recipients leased to the in-process delivery worker for this long after createdAt. */
  readonly leaseMs?: number;
}

export class Enqueuer {
  private pending: Pending[] = [];
  private scheduled = false;
  private readonly listeners: CommittedListener[] = [];
  private readonly insertBatch: (messages: readonly NewMessage[]) => void;

  constructor(db: SpoolDatabase, options: EnqueuerOptions = {}) {
    const leaseMs = options.leaseMs;
    const insertMessage = db.prepare(
      `INSERT INTO messages (id, sender, username, client_address, size, created_at, kind, smtputf8, dsn_ret, dsn_envid)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    const insertBody = db.prepare('INSERT INTO bodies (message_id, data) VALUES (?, ?)');
    const insertRecipient = db.prepare(
      `INSERT OR IGNORE INTO recipients (message_id, address, domain, state, next_attempt_at, lease_until, updated_at,
                                         dsn_notify, dsn_orcpt)
       VALUES (?, ?, ?, 'queued', ?, ?, ?, ?, ?)`,
    );
    this.insertBatch = db.transaction((messages: readonly NewMessage[]) => {
      for (const m of messages) {
        const dsn = m.dsn?.message ?? NO_MESSAGE_DSN;
        insertMessage.run(
          m.id,
          m.sender,
          m.username,
          m.clientAddress,
          m.body.length,
          m.createdAt,
          m.kind,
          m.smtputf8 ? 1 : 0,
          dsn.ret,
          dsn.envid,
        );
        insertBody.run(m.id, m.body);
        const lease = leaseMs === undefined ? null : m.createdAt + leaseMs;
        for (const rcpt of m.recipients) {
          const given = m.dsn?.recipients.get(rcpt) ?? NO_RECIPIENT_DSN;
          insertRecipient.run(m.id, rcpt, domainOf(rcpt), lease ?? m.createdAt, lease, m.createdAt, notifyText(given.notify), given.orcpt);
        }
      }
    });
  }

  /** Resolves once the message is committed to disk; rejects with the SMTP error to send otherwise. */
  enqueue(message: NewMessage): Promise<void> {
    return new Promise((resolve, reject) => {
      this.pending.push({ message, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  /** Called after every commit with the messages it made durable (the delivery hand-off). */
  onCommitted(listener: CommittedListener): void {
    this.listeners.push(listener);
  }

  private flush(): void {
    this.scheduled = false;
    const batch = this.pending;
    this.pending = [];
    if (batch.length === 0) return;
    if (this.tryCommit(batch)) return;
    if (batch.length > 1) for (const one of batch) this.tryCommit([one]);
  }

  private tryCommit(batch: readonly Pending[]): boolean {
    const messages = batch.map((p) => p.message);
    try {
      this.insertBatch(messages);
    } catch (err) {
      if (batch.length === 1) batch[0]?.reject(spoolWriteError(err));
      return false;
    }
    for (const p of batch) p.resolve();
    for (const listener of this.listeners) listener(messages);
    return true;
  }
}
