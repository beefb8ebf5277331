// Sending a DSN back into the spool: build it (dsn.ts), sign it for `hostname` when a signer is
// given (the DKIM stage's MessageSigner, From: MAILER-DAEMON@hostname), and enqueue it as a new
// message of kind "bounce" with the null sender. It is then delivered like any message.
//
// What is reported (reportsOn), as RFC 3461 asks: a failure unless the recipient's NOTIFY leaves out
// FAILURE (NOTIFY=NEVER: nothing at all); one delay warning once the recipient has waited
// `delayWarning` seconds, unless NOTIFY leaves out DELAY; a success ("relayed") only for NOTIFY
// with SUCCESS, and only when the next hop did not take the DSN parameters (then it reports).
// Who is told (noticeTo): the failed message's envelope sender. A null-sender message (a DSN, or
// one an application relayed with MAIL FROM:<>) is never reported to its sender, and gets no delay
// or success reports at all; when `postmaster` is configured its failures are reported there
// instead, once (a double bounce), except failures of mail to the postmaster address itself: the
// notice would fail the same way, so a double bounce that cannot be delivered ends there and
// nothing loops. Without `postmaster` such failures are only logged.
// What is returned: the whole message (as message/rfc822) in a failure report when the client
// asked for it (RET=FULL) and it is at most `maxReturnSize` bytes; otherwise its header section.
import { randomBytes } from 'node:crypto';
import type { Config } from '../config/schema.js';
import type { MessageSigner } from '../dkim/types.js';
import type { Clock } from '../platform/clock.js';
import { canonicalAddress } from '../smtp/address.js';
import { NO_MESSAGE_DSN, wantsNotice, type MessageDsn, type RecipientDsn } from '../smtp/dsn-parameters.js';
import { isNonAscii } from '../smtp/eight-bit.js';
import type { Enqueuer } from '../spool/enqueue.js';
import type { QueueIdGenerator } from '../spool/queue-id.js';
import { buildDsn, type ReportAction, type ReportedRecipient } from './dsn.js';

export interface BounceSource {
  readonly queueId: string;
  readonly sender: string;
  readonly arrivedAt: number;
  readonly originalHeader: Buffer;
  /** The whole message, when the client asked for it back (RET=FULL) and it may be needed. */
  readonly original?: Buffer | null;
  readonly dsn?: MessageDsn;
}

export interface BouncerDeps {
  readonly enqueuer: Enqueuer;
  readonly ids: QueueIdGenerator;
  readonly clock: Clock;
  readonly hostname: string;
  /** Where failures of null-sender messages are reported (config `postmaster`). */
  readonly postmaster?: string;
  /** Largest message returned whole in a failure report (bounce.maxReturnSize). */
  readonly maxReturnSize?: number;
  /** Seconds queued before a delay warning (delivery.delayWarning; 0: none). */
  readonly delayWarning?: number;
  /** Seconds a message is retried (delivery.retry.maxLifetime), for Will-Retry-Until. */
  readonly maxLifetime?: number;
}

/** What the recorder knows about a recipient's outcome when it asks whether to report it. */
export interface ReportQuery {
  readonly sender: string;
  readonly address: string;
  readonly dsn: RecipientDsn;
  readonly action: ReportAction;
  /** For "delayed": since when the message waits, and whether a warning went out already. */
  readonly arrivedAt: number;
  readonly now: number;
  readonly delayWarned: boolean;
  /** For "relayed": the next hop took the DSN parameters and reports itself. */
  readonly passedOn: boolean;
}

const DEFAULT_MAX_RETURN_SIZE = 50_000;

/** The bouncer's settings from the configuration. */
export function bouncerSettings(
  config: Config,
): Pick<BouncerDeps, 'hostname' | 'postmaster' | 'maxReturnSize' | 'delayWarning' | 'maxLifetime'> {
  return {
    hostname: config.hostname,
    postmaster: config.postmaster,
    maxReturnSize: config.bounce.maxReturnSize,
    delayWarning: config.delivery.delayWarning,
    maxLifetime: config.delivery.retry.maxLifetime,
  };
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

  /** Whether this outcome of a recipient gets a DSN (see the rules above). */
  reportsOn(q: ReportQuery): boolean {
    switch (q.action) {
      case 'failed':
        return wantsNotice(q.dsn, 'FAILURE') && this.noticeTo(q.sender, q.address) !== null;
      case 'delayed': {
        const after = this.deps.delayWarning ?? 0;
        return q.sender !== '' && after > 0 && !q.delayWarned && q.now - q.arrivedAt >= after * 1000 && wantsNotice(q.dsn, 'DELAY');
      }
      case 'relayed':
        return q.sender !== '' && !q.passedOn && wantsNotice(q.dsn, 'SUCCESS');
    }
  }

  /**
   * Spool one DSN reporting `action` for `recipients` (for which reportsOn() said yes); resolves
   * with its queue ID once it is committed.
   */
  async bounce(source: BounceSource, recipients: readonly ReportedRecipient[], action: ReportAction = 'failed'): Promise<string> {
    const to = recipients[0] ? this.noticeTo(source.sender, recipients[0].address) : null;
    if (to === null) throw new Error('nobody to notify about this message');
    const { enqueuer, ids, clock, hostname } = this.deps;
    const dsnId = ids.next();
    const now = clock.now();
    const boundary = `${dsnId}.${randomBytes(6).toString('hex')}/${hostname}`;
    const dsn = buildDsn({
      hostname,
      action,
      queueId: source.queueId,
      dsnId,
      sender: source.sender,
      to,
      envid: (source.dsn ?? NO_MESSAGE_DSN).envid,
      arrivedAt: source.arrivedAt,
      date: now,
      boundary,
      recipients,
      returned: this.returned(source, action),
      delay: {
        warnAfter: this.deps.delayWarning ?? 0,
        retryUntil: source.arrivedAt + (this.deps.maxLifetime ?? 0) * 1000,
      },
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

  private returned(source: BounceSource, action: ReportAction): { full: boolean; data: Buffer } {
    const limit = this.deps.maxReturnSize ?? DEFAULT_MAX_RETURN_SIZE;
    const whole = source.original;
    const full = action === 'failed' && source.dsn?.ret === 'FULL' && whole !== null && whole !== undefined && whole.length <= limit;
    return full ? { full, data: whole } : { full: false, data: source.originalHeader };
  }
}
