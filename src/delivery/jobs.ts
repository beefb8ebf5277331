// Cutting work into jobs. A job is one SMTP transaction's worth: recipients of one message in one
// domain, at most MAX_RECIPIENTS of them (Postfix's smtp_destination_recipient_limit). All jobs made
// from one message at one time (a hand-off or one claim) form a Round; the recipients that fail for
// good in a round are reported together in one DSN once its last job is done.
import type { FailedRecipient } from '../bounce/dsn.js';
import type { RecipientResult } from '../spool/delivery-store.js';
import type { QueuedJob } from './dispatch-queue.js';

export const MAX_RECIPIENTS = 50;

export interface JobMessage {
  readonly id: string;
  readonly sender: string;
  readonly createdAt: number;
  /** Present for freshly handed-off messages; otherwise read from the spool when the job starts. */
  readonly body?: Buffer;
}

export interface JobRecipient {
  readonly address: string;
  /** Attempts made before this one. */
  readonly attempts: number;
}

export interface Round {
  pending: number;
  readonly failures: Array<{ readonly result: RecipientResult; readonly failed: FailedRecipient }>;
  originalHeader: Buffer | null;
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
    list.push({ address: r.address, attempts: r.attempts });
    byDomain.set(r.domain, list);
  }
  const round: Round = { pending: 0, failures: [], originalHeader: null };
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
