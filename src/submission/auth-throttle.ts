// Brute-force protection for SMTP AUTH, the way fail2ban and Postfix's anvil do it, in memory.
//
// Failed logins are counted per client address and per user name, each in a fixed window of
// `window` seconds that opens at the first failure. From the `slowAfter`-th failure of an address
// on, its 535 replies are held back `delay` seconds (Postfix's smtpd_error_sleep_time). When an
// address reaches `maxPerClient` failures it is blocked for `cooldown` seconds: its connections and
// AUTH commands get 421 4.7.0 and no password is checked. When a user name reaches `maxPerUser`
// failures (from any addresses: a distributed guess), logins to that name are refused the same way
// for `cooldown` seconds, except from the addresses that logged in as that user successfully within
// `knownClientTtl` seconds. So an attacker can neither guess on from many addresses nor lock a
// user out of the place the user usually logs in from; and since a cooling period is fixed from
// the moment it starts and attempts during it are not counted, every block ends.
//
// Everything is O(1) per login in bounded LRU maps (an attacker inventing user names or addresses
// evicts the oldest entries, it cannot grow memory). Counts do not survive a restart.
import { LRUCache } from 'lru-cache';
import type { Clock } from '../platform/clock.js';

export interface AuthThrottleSettings {
  /** Seconds a failure counts. */
  readonly window: number;
  readonly slowAfter: number;
  /** Seconds each 535 is held back once an address is past slowAfter. */
  readonly delay: number;
  readonly maxPerClient: number;
  readonly maxPerUser: number;
  /** Seconds a block lasts. */
  readonly cooldown: number;
  /** Seconds an address stays "known" for a user after a successful login (0: never). */
  readonly knownClientTtl: number;
}

export type AuthVerdict =
  | { readonly allowed: true }
  | { readonly allowed: false; readonly scope: 'client' | 'user'; readonly until: number };

export interface FailureOutcome {
  /** Milliseconds to hold the 535 reply back. */
  readonly delayMs: number;
  /** Which blocks this failure started. */
  readonly blocked: readonly ('client' | 'user')[];
}

const MAX_ENTRIES = 50_000;
/** User names longer than this cannot exist (USER_NAME_PATTERN); the key is cut there. */
const MAX_NAME = 65;

interface Failures {
  count: number;
  readonly since: number;
  blockedUntil: number;
}

/** Failures per key in a fixed window, and the block that follows too many of them. */
class FailureCounter {
  private readonly entries = new LRUCache<string, Failures>({ max: MAX_ENTRIES });

  constructor(
    private readonly clock: Clock,
    private readonly settings: () => AuthThrottleSettings,
  ) {}

  /** The end of the key's block, or 0 when it is not blocked. */
  blockedUntil(key: string): number {
    const entry = this.current(key);
    return entry && entry.blockedUntil > 0 ? entry.blockedUntil : 0;
  }

  /** Count one failure; true when it starts a block. */
  add(key: string, limit: number): boolean {
    const now = this.clock.now();
    const entry = this.current(key) ?? { count: 0, since: now, blockedUntil: 0 };
    entry.count += 1;
    this.entries.set(key, entry);
    if (entry.count < limit || entry.blockedUntil > 0) return false;
    entry.blockedUntil = now + this.settings().cooldown * 1000;
    return true;
  }

  count(key: string): number {
    return this.current(key)?.count ?? 0;
  }

  /** The live entry: an expired window or an ended block is forgotten. */
  private current(key: string): Failures | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    const now = this.clock.now();
    const ended = entry.blockedUntil > 0 ? now >= entry.blockedUntil : now - entry.since >= this.settings().window * 1000;
    if (!ended) return entry;
    this.entries.delete(key);
    return undefined;
  }
}

export class AuthThrottle {
  private readonly clients: FailureCounter;
  private readonly users: FailureCounter;
  private readonly known = new LRUCache<string, number>({ max: MAX_ENTRIES });

  constructor(
    private settings: AuthThrottleSettings,
    private readonly clock: Clock,
  ) {
    this.clients = new FailureCounter(clock, () => this.settings);
    this.users = new FailureCounter(clock, () => this.settings);
  }

  /** New thresholds and durations (a reload); counts and blocks already running are kept. */
  configure(settings: AuthThrottleSettings): void {
    this.settings = settings;
  }

  /** The thresholds and durations in force (the latest configure()). */
  get limits(): AuthThrottleSettings {
    return this.settings;
  }

  /** Whether the address is blocked (checked when it connects). */
  clientBlockedUntil(client: string): number {
    return this.clients.blockedUntil(client);
  }

  /** Before a password is checked: may this address try to log in as this user now? */
  check(client: string, user: string): AuthVerdict {
    const clientUntil = this.clients.blockedUntil(client);
    if (clientUntil > 0) return { allowed: false, scope: 'client', until: clientUntil };
    const userUntil = this.users.blockedUntil(userKey(user));
    if (userUntil > 0 && !this.isKnown(client, user)) return { allowed: false, scope: 'user', until: userUntil };
    return { allowed: true };
  }

  /** A wrong password (or unknown user) from this address. */
  failed(client: string, user: string): FailureOutcome {
    const blocked: ('client' | 'user')[] = [];
    if (this.clients.add(client, this.settings.maxPerClient)) blocked.push('client');
    if (this.users.add(userKey(user), this.settings.maxPerUser)) blocked.push('user');
    const slow = this.clients.count(client) > this.settings.slowAfter;
    return { delayMs: slow ? this.settings.delay * 1000 : 0, blocked };
  }

  /** A refused attempt while the user name is blocked counts against the address only. */
  refused(client: string): boolean {
    return this.clients.add(client, this.settings.maxPerClient);
  }

  succeeded(client: string, user: string): void {
    if (this.settings.knownClientTtl > 0) this.known.set(knownKey(client, user), this.clock.now());
  }

  private isKnown(client: string, user: string): boolean {
    const at = this.known.get(knownKey(client, user));
    return at !== undefined && this.clock.now() - at < this.settings.knownClientTtl * 1000;
  }
}

function userKey(user: string): string {
  return user.slice(0, MAX_NAME);
}

function knownKey(client: string, user: string): string {
  return `${userKey(user)}\u0000${client}`;
}
