// What the spool remembers about remote TLS policy: the MTA-STS policy cache and the outbound TLS
// session counts a TLS report (RFC 8460) would be built from.
//
// The policy cache holds one row per recipient domain, replaced whenever a policy is fetched, and
// kept until `expires_at` (the fetch time plus the policy's max_age): an expired row is never
// returned, and expired rows are deleted whenever a policy is stored, so the table holds only the
// live policies of domains mail went to (at most one per domain, each at most a year).
// Session counts are added up per UTC day, recipient domain, policy type ("sts" or
// "no-policy-found"), MX host and result ("success" or an RFC 8460 result type); days older than
// KEEP_TLS_DAYS are deleted when counts are added.
import type { SpoolDatabase } from './database.js';

export const KEEP_TLS_DAYS = 14;
const DAY_MS = 86_400_000;

export interface CachedStsPolicy {
  readonly domain: string;
  /** The TXT record's id the policy was fetched under. */
  readonly id: string;
  readonly mode: 'enforce' | 'testing' | 'none';
  readonly mx: readonly string[];
  /** Seconds. */
  readonly maxAge: number;
  readonly fetchedAt: number;
  readonly expiresAt: number;
}

export interface TlsSessionCount {
  /** UTC date, YYYY-MM-DD. */
  readonly day: string;
  readonly domain: string;
  readonly policy: 'sts' | 'no-policy-found';
  readonly mxHost: string;
  /** "success", or the RFC 8460 result type of the failure. */
  readonly result: string;
  readonly sessions: number;
}

interface PolicyRow {
  domain: string;
  policy_id: string;
  mode: CachedStsPolicy['mode'];
  mx: string;
  max_age: number;
  fetched_at: number;
  expires_at: number;
}

interface SessionRow {
  day: string;
  domain: string;
  policy: TlsSessionCount['policy'];
  mx_host: string;
  result: string;
  sessions: number;
}

/** The UTC day of a time, as TLS reports count it. */
export function utcDay(at: number): string {
  return new Date(at).toISOString().slice(0, 10);
}

export class MtaStsStore {
  private readonly statements;

  constructor(private readonly db: SpoolDatabase) {
    this.statements = {
      get: db.prepare('SELECT * FROM mta_sts_policies WHERE domain = ? AND expires_at > ?'),
      put: db.prepare(
        `INSERT OR REPLACE INTO mta_sts_policies (domain, policy_id, mode, mx, max_age, fetched_at, expires_at)
         VALUES (@domain, @id, @mode, @mx, @maxAge, @fetchedAt, @expiresAt)`,
      ),
      purge: db.prepare('DELETE FROM mta_sts_policies WHERE expires_at <= ?'),
      list: db.prepare('SELECT * FROM mta_sts_policies WHERE expires_at > ? ORDER BY domain'),
      add: db.prepare(
        `INSERT INTO tls_sessions (day, domain, policy, mx_host, result, sessions)
         VALUES (@day, @domain, @policy, @mxHost, @result, @sessions)
         ON CONFLICT (day, domain, policy, mx_host, result) DO UPDATE SET sessions = sessions + excluded.sessions`,
      ),
      prune: db.prepare('DELETE FROM tls_sessions WHERE day < ?'),
      sessions: db.prepare('SELECT * FROM tls_sessions WHERE day >= ? ORDER BY day, domain, mx_host, result'),
    };
  }

  /** The domain's cached policy, unless it has expired. */
  get(domain: string, now: number): CachedStsPolicy | null {
    const row = this.statements.get.get(domain, now) as PolicyRow | undefined;
    return row ? toPolicy(row) : null;
  }

  /** Store a freshly fetched policy (replacing the domain's old one) and drop expired ones. */
  put(policy: CachedStsPolicy): void {
    this.db.transaction(() => {
      this.statements.purge.run(policy.fetchedAt);
      this.statements.put.run({ ...policy, mx: JSON.stringify(policy.mx) });
    })();
  }

  /** Every live cached policy, by domain. */
  list(now: number): CachedStsPolicy[] {
    return (this.statements.list.all(now) as PolicyRow[]).map(toPolicy);
  }

  /** Add session counts (one transaction), and forget days past KEEP_TLS_DAYS. */
  addSessions(counts: readonly TlsSessionCount[], now: number): void {
    if (counts.length === 0) return;
    this.db.transaction(() => {
      for (const count of counts) this.statements.add.run(count);
      this.statements.prune.run(utcDay(now - KEEP_TLS_DAYS * DAY_MS));
    })();
  }

  /** Session counts from `day` (YYYY-MM-DD) on. */
  sessionsSince(day: string): TlsSessionCount[] {
    return (this.statements.sessions.all(day) as SessionRow[]).map((r) => ({
      day: r.day,
      domain: r.domain,
      policy: r.policy,
      mxHost: r.mx_host,
      result: r.result,
      sessions: r.sessions,
    }));
  }
}

function toPolicy(row: PolicyRow): CachedStsPolicy {
  return {
    domain: row.domain,
    id: row.policy_id,
    mode: row.mode,
    mx: JSON.parse(row.mx) as string[],
    maxAge: row.max_age,
    fetchedAt: row.fetched_at,
    expiresAt: row.expires_at,
  };
}
