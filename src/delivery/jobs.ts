// Cutting work into jobs. A job is one SMTP transaction's worth: recipients of one message in one
// domain, at most MAX_RECIPIENTS of them (Postfix's smtp_destination_recipient_limit). All jobs made
// from one message at one time (a hand-off or one claim) form a Round; the recipients that fail for
// good in a round are reported together in one DSN once its last job is done (and so are those
// with a delay warning or a success report due, one DSN for each kind).
import type { ReportAction, ReportedRecipient } from '../bounce/dsn.js';
import type { MessageDsn, RecipientDsn } from '../smtp/dsn-parameters.js';
import type { RecipientResult } from '../spool/delivery-store.js';
import type { QueuedJob } from './dispatch-queue.js';

export const MAX_RECIPIENTS = 50;

export interface JobMessage {
  readonly id: string;
  readonly sender: string;
  readonly createdAt: number;
  /** Present for freshly handed-off messages; otherwise read from the spool when the job starts. */
  readonly body?: Buffer;
  /** RET and ENVID, when the client gave them. */
  readonly dsn?: MessageDsn;
}

export interface JobRecipient {
  readonly address: string;
  /** Attempts made before this one. */
  readonly attempts: number;
  /** NOTIFY and ORCPT, when the client gave them. */
  readonly dsn?: RecipientDsn;
  /** The one delay warning for this recipient went out already. */
  readonly delayWarned?: boolean;
}

export interface Round {
  pending: number;
  /** Outcomes to report, recorded once their DSN is spooled. */
  readonly reports: Array<{ readonly result: RecipientResult; readonly report: ReportedRecipient; readonly action: ReportAction }>;
  originalHeader: Buffer | null;
  /** The whole message, kept for a failure report when the client asked for it back (RET=FULL). */
  original: Buffer | null;
}

export interface Job extends QueuedJob {
  readonly message: JobMessage;
  readonly recipients: readonly JobRecipient[];
  readonly round: Round;
}

/** One round of jobs for a message's recipients: by domain, in chunks of MAX_RECIPIENTS. */
export function jobsFor(message: JobMessage, recipients: ReadonlyArray<JobRecipient & { readonly domain: string }>): Job[] {
  const byDomain = new Map<string, JobRecipient[]>();
  for (const r of recipients) {
    const list = byDomain.get(r.domain) ?? [];
    list.push({ address: r.address, attempts: r.attempts, dsn: r.dsn, delayWarned: r.delayWarned });
    byDomain.set(r.domain, list);
  }
  const round: Round = { pending: 0, reports: [], originalHeader: null, original: null };
  const jobs: Job[] = [];
  for (const [domain, list] of byDomain) {
    for (let i = 0; i < list.length; i += MAX_RECIPIENTS) {
      const chunk = list.slice(i, i + MAX_RECIPIENTS);
      jobs.push({ message, domain, recipients: chunk, round, recipientCount: chunk.length, heldBytes: message.body?.length ?? 0 });
    }
  }
  round.pending = jobs.length;
  return jobs;
}

export function keyOf(messageId: string, address: string): string {
  return `${messageId}\u0000${address}`;
}
