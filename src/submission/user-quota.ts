// Per-user sending quotas: messages and recipients per hour (limits.perUser, overridden per user in
// limits.users). Each is a leaky bucket holding what the user has used, which flows out
// continuously (perHour / 3600 a second): a burst of up to perHour is fine, and past it the user
// gets 451 4.7.1 until enough has flowed out. Keeping "used" (not "left") lets a reload change
// perHour without forgetting what was sent. Checked at MAIL FROM and RCPT TO (early refusal, no
// cost), and taken at the end of DATA just before the message is spooled, so a refused transaction
// costs nothing and a message the spool could not take is given back. In memory, O(1) per check.
import type { Config } from '../config/schema.js';
import type { Clock } from '../platform/clock.js';

export interface HourlyQuota {
  /** 0: no limit. */
  readonly messagesPerHour: number;
  readonly recipientsPerHour: number;
}

export type QuotaVerdict =
  | { readonly ok: true }
  | { readonly ok: false; readonly kind: 'messages' | 'recipients'; readonly perHour: number };

const HOUR_MS = 3_600_000;
const OK: QuotaVerdict = { ok: true };

/** How much of the quota is in use; it flows out at perHour / 3600 a second (a leaky bucket). */
interface Bucket {
  used: number;
  at: number;
}

export class UserQuotas {
  private readonly buckets = new Map<string, Bucket>();

  constructor(
    private limits: Pick<Config['limits'], 'perUser' | 'users'>,
    private readonly clock: Clock,
  ) {}

  /** New quotas (a reload); what users have used is kept. */
  configure(limits: Pick<Config['limits'], 'perUser' | 'users'>): void {
    this.limits = limits;
  }

  quotaOf(user: string): HourlyQuota {
    const own = Object.hasOwn(this.limits.users, user) ? this.limits.users[user] : undefined;
    return {
      messagesPerHour: own?.messagesPerHour ?? this.limits.perUser.messagesPerHour,
      recipientsPerHour: own?.recipientsPerHour ?? this.limits.perUser.recipientsPerHour,
    };
  }

  /** Whether the user could send one more message to `recipients` recipients now. */
  check(user: string, recipients: number): QuotaVerdict {
    const quota = this.quotaOf(user);
    if (!this.has(`m ${user}`, quota.messagesPerHour, 1)) return { ok: false, kind: 'messages', perHour: quota.messagesPerHour };
    if (!this.has(`r ${user}`, quota.recipientsPerHour, recipients))
      return { ok: false, kind: 'recipients', perHour: quota.recipientsPerHour };
    return OK;
  }

  /** Take one message and its recipients, or nothing when either would go past the quota. */
  take(user: string, recipients: number): QuotaVerdict {
    const verdict = this.check(user, recipients);
    if (!verdict.ok) return verdict;
    this.spend(`m ${user}`, this.quotaOf(user).messagesPerHour, 1);
    this.spend(`r ${user}`, this.quotaOf(user).recipientsPerHour, recipients);
    return OK;
  }

  /** Give back what take() took (the spool refused the message). */
  refund(user: string, recipients: number): void {
    this.spend(`m ${user}`, this.quotaOf(user).messagesPerHour, -1);
    this.spend(`r ${user}`, this.quotaOf(user).recipientsPerHour, -recipients);
  }

  private has(key: string, perHour: number, n: number): boolean {
    return perHour === 0 || this.drain(key, perHour).used + n <= perHour;
  }

  private spend(key: string, perHour: number, n: number): void {
    if (perHour === 0) return;
    const bucket = this.drain(key, perHour);
    bucket.used = Math.max(0, bucket.used + n);
  }

  /** The bucket with what flowed out since it was last looked at taken off. */
  private drain(key: string, perHour: number): Bucket {
    const now = this.clock.now();
    const bucket = this.buckets.get(key) ?? { used: 0, at: now };
    bucket.used = Math.max(0, bucket.used - ((now - bucket.at) * perHour) / HOUR_MS);
    bucket.at = now;
    this.buckets.set(key, bucket);
    return bucket;
  }
}
