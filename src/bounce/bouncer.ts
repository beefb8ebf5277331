// Sending a DSN back into the spool: build it (dsn.ts), sign it for `hostname` when a signer is
// given (the DKIM stage's MessageSigner, From: MAILER-DAEMON@hostname), and enqueue it as a new
// message of kind "bounce" with the null sender. It is then delivered like any message.
// Who is told (noticeTo): the failed message's envelope sender. A null-sender message (a DSN, or
// one an application relayed with MAIL FROM:<>) is never returned to its sender; when `postmaster`
// is configured its failures are reported there instead, once (a double bounce), except failures
// of mail to the postmaster address itself: the notice would fail the same way, so a double bounce
// that cannot be delivered ends there and nothing loops. Without `postmaster` such failures are
// only logged.
import { randomBytes } from 'node:crypto';
import type { MessageSigner } from '../dkim/types.js';
import type { Clock } from '../platform/clock.js';
import { canonicalAddress } from '../smtp/address.js';
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
  /** Where failures of null-sender messages are reported (config `postmaster`). */
  readonly postmaster?: string;
}

export class Bouncer {
  constructor(
    private readonly deps: BouncerDeps,
    private readonly sign?: MessageSigner,
  ) {}

  /** Who is told that `recipient` of a message from `sender` failed, or null for nobody. */
  noticeTo(sender: string, recipient: string): string | null {
    if (sender !== '') return sender;
    const postmaster = this.deps.postmaster;
    if (!postmaster || canonicalAddress(recipient).toLowerCase() === canonicalAddress(postmaster).toLowerCase()) return null;
    return postmaster;
  }

  /**
   * Spool a DSN for `failed` (recipients for which noticeTo() names someone); resolves with its
   * queue ID once it is committed.
   */
  async bounce(source: BounceSource, failed: readonly FailedRecipient[]): Promise<string> {
    const to = failed[0] ? this.noticeTo(source.sender, failed[0].address) : null;
    if (to === null) throw new Error('nobody to notify about this failure');
    const { enqueuer, ids, clock, hostname } = this.deps;
    const dsnId = ids.next();
    const now = clock.now();
    const boundary = `${dsnId}.${randomBytes(6).toString('hex')}/${hostname}`;
    const dsn = buildDsn({
      hostname,
      queueId: source.queueId,
      dsnId,
      sender: source.sender,
      to,
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
      recipients: [to],
      body,
      createdAt: now,
      kind: 'bounce',
      smtputf8: isNonAscii(to),
    });
    return dsnId;
  }
}
