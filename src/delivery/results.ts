// From an attempt's outcome to what is recorded and logged for the recipient. Delivered and bounced
// are final. Deferred schedules the next attempt by the backoff schedule, unless the message has been
// queued for maxLifetime: then the recipient is given up, "expired", bounced with status 4.4.7.
// One log line per recipient attempt, with the fields an operator greps for in Postfix's maillog:
// queueId, from, to, relay (host[address]:port or "none"), delay (seconds since arrival), attempts,
// tls, status (sent, deferred, bounced, expired) and the reply.
import type { ReportAction, ReportedRecipient } from '../bounce/dsn.js';
import type { Logger } from '../platform/logger.js';
import { formatReply } from '../smtp/reply.js';
import type { RecipientResult } from '../spool/delivery-store.js';
import { backoffMs, isExpired, type RetrySchedule } from './backoff.js';
import { relayName } from './reply-policy.js';
import type { JobMessage, JobRecipient } from './jobs.js';
import type { Outcome, TlsInfo } from './types.js';

export type LogStatus = 'sent' | 'deferred' | 'bounced' | 'expired';

export interface Judged {
  readonly result: RecipientResult;
  readonly status: LogStatus;
  /** The recipient as a DSN would report it, and the DSN action its new state means. */
  readonly report: ReportedRecipient;
  readonly action: ReportAction;
}

export function judge(
  message: JobMessage,
  recipient: JobRecipient,
  outcome: Outcome,
  now: number,
  retry: RetrySchedule,
  random: () => number = Math.random,
): Judged {
  const attempts = recipient.attempts + 1;
  const expired = outcome.status === 'deferred' && isExpired(message.createdAt, now, retry);
  const state = expired ? 'bounced' : outcome.status;
  const status: LogStatus = expired ? 'expired' : outcome.status === 'delivered' ? 'sent' : outcome.status;
  const result: RecipientResult = {
    messageId: message.id,
    address: recipient.address,
    state,
    at: now,
    nextAttemptAt: state === 'deferred' ? now + backoffMs(attempts, retry, random) : now,
    outcome: expired ? 'expired' : outcome.status,
    reply: formatReply(outcome.reply),
    mxHost: outcome.relay?.host ?? null,
    mxAddress: outcome.relay?.address ?? null,
    relay: outcome.relay ? relayName(outcome.relay) : null,
    tls: tlsText(outcome.tls),
  };
  const report: ReportedRecipient = {
    address: recipient.address,
    reply: outcome.reply,
    remote: outcome.remote,
    command: outcome.command,
    relay: outcome.relay,
    expired,
    at: now,
    orcpt: recipient.dsn?.orcpt ?? null,
  };
  return { result, status, report, action: ACTIONS[state] };
}

const ACTIONS: Record<RecipientResult['state'], ReportAction> = { bounced: 'failed', deferred: 'delayed', delivered: 'relayed' };

export function tlsText(tls: TlsInfo | null): string {
  return tls ? `${tls.version} ${tls.cipher} ${tls.verified ? 'verified' : 'unverified'}` : 'none';
}

export function logAttempt(logger: Logger, message: JobMessage, judged: Judged, attempts: number): void {
  logger.info(attemptLogFields(message, judged.result, judged.status, attempts), `delivery ${judged.status}`);
}

/** The fields of a recipient's "delivery STATUS" line (also written for `queue bounce`). */
export function attemptLogFields(
  message: Pick<JobMessage, 'id' | 'sender' | 'createdAt'>,
  r: RecipientResult,
  status: LogStatus,
  attempts: number,
): Record<string, string | number> {
  return {
    queueId: message.id,
    from: message.sender,
    to: r.address,
    relay: r.relay ?? 'none',
    delay: Math.round((r.at - message.createdAt) / 10) / 100,
    attempts,
    tls: r.tls ?? 'none',
    status,
    reply: r.reply,
  };
}
