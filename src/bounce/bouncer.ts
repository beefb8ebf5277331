// Sending a DSN back into the spool: build it (dsn.ts), sign it for `hostname` when a signer is
// given (the DKIM stage's MessageSigner, From: MAILER-DAEMON@hostname), and enqueue it as a new
// message of kind "bounce" with the null sender, addressed to the failed message's envelope sender.
// It is then delivered like any message. Callers never bounce a null-sender message (no DSN loops).
import { randomBytes } from 'node:crypto';
import type { MessageSigner } from '../dkim/types.js';
import type { Clock } from '../platform/clock.js';
import { isNonAscii } from '../smtp/eight-bit.js';
import type { Enqueuer } from '../spool/enqueue.js';
import type { QueueIdGenerator } from '../spool/queue-id.js';
import { buildDsn, type FailedRecipient } from './dsn.js';

export interface BounceSource {
  readonly queueId: string;
  readonly sender: string;
  readonly arrivedAt: number;
  readonly originalHeader: Buffer;
}

export interface BouncerDeps {
  readonly enqueuer: Enqueuer;
  readonly ids: QueueIdGenerator;
  readonly clock: Clock;
  readonly hostname: string;
}

export class Bouncer {
  constructor(
    private readonly deps: BouncerDeps,
    private readonly sign?: MessageSigner,
  ) {}

  /** Spool a DSN for `failed`; resolves with its queue ID once it is committed. */
  async bounce(source: BounceSource, failed: readonly FailedRecipient[]): Promise<string> {
    if (source.sender === '') throw new Error('a null-sender message is never bounced');
    const { enqueuer, ids, clock, hostname } = this.deps;
    const dsnId = ids.next();
    const now = clock.now();
    const boundary = `${dsnId}.${randomBytes(6).toString('hex')}/${hostname}`;
    const dsn = buildDsn({
      hostname,
      queueId: source.queueId,
      dsnId,
      sender: source.sender,
      arrivedAt: source.arrivedAt,
      date: now,
      boundary,
      recipients: failed,
      originalHeader: source.originalHeader,
    });
    const body = this.sign ? await this.sign(dsn, `MAILER-DAEMON@${hostname}`, dsnId) : dsn;
    await enqueuer.enqueue({
      id: dsnId,
      sender: '',
      username: null,
      clientAddress: null,
      recipients: [source.sender],
      body,
      createdAt: now,
      kind: 'bounce',
      smtputf8: isNonAscii(source.sender),
    });
    return dsnId;
  }
}
