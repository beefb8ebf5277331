// The retry schedule as data (docs/delivery.md). After the n-th failed attempt a recipient waits
// minBackoff·2^(n−1), capped at maxBackoff, then spread by ±10% random jitter (kept within
// [minBackoff, maxBackoff]) so recipients deferred together do not come back in lock step. A recipient
// still deferred once maxLifetime has passed since its message arrived is given up ("expired").
// Postfix's defaults: 300 s, 4000 s, 5 days. Configuration is in seconds; times here are ms.

export interface RetrySchedule {
  readonly minBackoff: number;
  readonly maxBackoff: number;
  readonly maxLifetime: number;
}

const JITTER = 0.1;

/** Milliseconds to wait after `attempts` failed attempts (attempts ≥ 1); `random` returns [0, 1). */
export function backoffMs(attempts: number, retry: RetrySchedule, random: () => number = Math.random): number {
  const min = retry.minBackoff * 1000;
  const max = Math.max(retry.maxBackoff * 1000, min);
  const base = Math.min(max, min * 2 ** Math.max(0, attempts - 1));
  const jittered = base * (1 + JITTER * (2 * random() - 1));
  return Math.round(Math.min(max, Math.max(min, jittered)));
}

/** Whether a message that arrived at `createdAt` has been queued for maxLifetime or longer at `now`. */
export function isExpired(createdAt: number, now: number, retry: RetrySchedule): boolean {
  return now - createdAt >= retry.maxLifetime * 1000;
}
