// Which MTA-STS policy (RFC 8461) is in force for a recipient domain: DNS, the HTTPS fetch and the
// cache in the spool, following the RFC's §5.1.
//
// For each MX delivery the TXT record `_mta-sts.<domain>` is looked up (through the Resolver seam):
//  - no valid record (none, several, a syntax error, a DNS failure): the cached policy if there is
//    one that has not expired, else none (opportunistic TLS, as without MTA-STS);
//  - a record whose id is the cached policy's: the cached policy;
//  - a new id, or nothing cached: the policy is fetched from
//    https://mta-sts.<domain>/.well-known/mta-sts.txt and cached until its max_age has passed. A
//    fetch that fails (or brings an invalid policy) keeps the cached policy, if any; the same id is
//    not fetched again for FETCH_RETRY_MS after a failure, so a dead policy server costs one fetch
//    per five minutes, not one per message.
// Concurrent lookups for one domain share one lookup and fetch.
//
// The fetch (fetchStsPolicy): the policy host's A then AAAA addresses through the same resolver (at
// most two tried; non-public addresses only with delivery.allowPrivateDestinations), HTTPS to
// `port` (443) with SNI and a certificate valid for the policy host, checked against the system's CAs
// and delivery.tls.caFile; no redirects (only a 200 answer counts), at most MAX_POLICY_BYTES,
// FETCH_TIMEOUT_MS for the whole exchange, from delivery.localAddresses when one is of the family.
import https from 'node:https';
import { isIP } from 'node:net';
import { rootCertificates } from 'node:tls';
import { LRUCache } from 'lru-cache';
import type { Clock } from '../platform/clock.js';
import type { Logger } from '../platform/logger.js';
import type { Resolver } from '../platform/resolver.js';
import { VERSION } from '../platform/version.js';
import type { CachedStsPolicy, MtaStsStore } from '../spool/mta-sts-store.js';
import { isPrivateAddress } from './address-policy.js';
import { MAX_POLICY_BYTES, parseStsPolicy, parseStsRecord, type Parsed } from './mta-sts.js';

export const FETCH_RETRY_MS = 5 * 60_000;
export const FETCH_TIMEOUT_MS = 30_000;
const FAILURES_KEPT = 10_000;
const ADDRESSES_TRIED = 2;

/** The policy that applies to a domain, and where it came from. */
export interface PolicyInForce extends CachedStsPolicy {
  readonly source: 'fetched' | 'cache';
}

/** Fetch a domain's policy text; `ok: false` says why not. */
export type FetchPolicy = (domain: string) => Promise<Parsed<string>>;

export interface PoliciesDeps {
  readonly resolver: Resolver;
  readonly store: MtaStsStore;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly fetch: FetchPolicy;
}

export class MtaStsPolicies {
  private readonly inFlight = new Map<string, Promise<PolicyInForce | null>>();
  /** Domain → the record id whose fetch failed, and when. */
  private readonly failed = new LRUCache<string, { id: string; at: number }>({ max: FAILURES_KEPT });

  constructor(private readonly deps: PoliciesDeps) {}

  /** The policy in force for `domain` (lower case), or null: deliver as without MTA-STS. */
  policyFor(domain: string): Promise<PolicyInForce | null> {
    const running = this.inFlight.get(domain);
    if (running) return running;
    const lookup = this.lookup(domain).finally(() => this.inFlight.delete(domain));
    this.inFlight.set(domain, lookup);
    return lookup;
  }

  private async lookup(domain: string): Promise<PolicyInForce | null> {
    const now = this.deps.clock.now();
    const cached = this.cached(domain, now);
    const record = await this.record(domain);
    if (!record.ok || record.value === cached?.id) return cached;
    const failure = this.failed.get(domain);
    if (failure && failure.id === record.value && now - failure.at < FETCH_RETRY_MS) return cached;
    const fetched = await this.fetch(domain, record.value);
    if (fetched.ok) {
      this.failed.delete(domain);
      return fetched.value;
    }
    this.failed.set(domain, { id: record.value, at: now });
    this.deps.logger.warn(
      { domain, id: record.value, reason: fetched.reason, cached: cached ? cached.id : null },
      cached ? 'MTA-STS policy fetch failed; the cached policy stays in force' : 'MTA-STS policy fetch failed; no policy in force',
    );
    return cached;
  }

  private cached(domain: string, now: number): PolicyInForce | null {
    try {
      const policy = this.deps.store.get(domain, now);
      return policy ? { ...policy, source: 'cache' } : null;
    } catch (err) {
      this.deps.logger.error({ err, domain }, 'cannot read the MTA-STS policy cache');
      return null;
    }
  }

  /** The TXT record's policy id; a DNS failure counts as no valid record. */
  private async record(domain: string): Promise<Parsed<string>> {
    try {
      return parseStsRecord(await this.deps.resolver.resolveTxt(`_mta-sts.${domain}`));
    } catch (err) {
      return { ok: false, reason: (err as NodeJS.ErrnoException).code ?? (err as Error).message };
    }
  }

  private async fetch(domain: string, id: string): Promise<Parsed<PolicyInForce>> {
    const text = await this.deps.fetch(domain);
    if (!text.ok) return text;
    const parsed = parseStsPolicy(text.value);
    if (!parsed.ok) return { ok: false, reason: `invalid policy: ${parsed.reason}` };
    const fetchedAt = this.deps.clock.now();
    const policy: CachedStsPolicy = { domain, id, ...parsed.value, fetchedAt, expiresAt: fetchedAt + parsed.value.maxAge * 1000 };
    try {
      this.deps.store.put(policy);
    } catch (err) {
      this.deps.logger.error({ err, domain }, 'cannot store the MTA-STS policy; it is used for this delivery only');
    }
    this.deps.logger.info({ domain, id, mode: policy.mode, mx: policy.mx, maxAge: policy.maxAge }, 'MTA-STS policy fetched');
    return { ok: true, value: { ...policy, source: 'fetched' } };
  }
}

export interface FetchOptions {
  readonly resolver: Resolver;
  /** PEM certificates trusted besides the system's CAs (delivery.tls.caFile). */
  readonly ca: string | null;
  readonly port: number;
  readonly localAddresses: readonly string[];
  readonly allowPrivateDestinations: boolean;
  readonly timeoutMs?: number;
}

/** A FetchPolicy over HTTPS, as RFC 8461 §3.3 says. */
export function httpsPolicyFetcher(options: FetchOptions): FetchPolicy {
  const ca = options.ca === null ? undefined : [...rootCertificates, options.ca];
  return async (domain) => {
    const host = `mta-sts.${domain}`;
    const found = await addressesOf(options.resolver, host);
    const addresses = options.allowPrivateDestinations ? found : found.filter((a) => !isPrivateAddress(a));
    if (addresses.length === 0) return { ok: false, reason: `no ${found.length > 0 ? 'public ' : ''}address for ${host}` };
    let last: Parsed<string> = { ok: false, reason: 'not tried' };
    for (const address of addresses.slice(0, ADDRESSES_TRIED)) {
      const localAddress = options.localAddresses.find((a) => isIP(a) === isIP(address));
      last = await httpsGet({ host, address, port: options.port, ca, localAddress, timeoutMs: options.timeoutMs ?? FETCH_TIMEOUT_MS });
      if (last.ok || !last.reason.startsWith('connect:')) return last;
    }
    return last;
  };
}

async function addressesOf(resolver: Resolver, host: string): Promise<string[]> {
  const [v4, v6] = await Promise.allSettled([resolver.resolve4(host), resolver.resolve6(host)]);
  return [...(v4.status === 'fulfilled' ? v4.value : []), ...(v6.status === 'fulfilled' ? v6.value : [])];
}

interface GetOptions {
  readonly host: string;
  readonly address: string;
  readonly port: number;
  readonly ca: string[] | undefined;
  readonly localAddress: string | undefined;
  readonly timeoutMs: number;
}

/** GET the policy from one address. Reasons of failures before any TLS start with "connect:". */
function httpsGet(o: GetOptions): Promise<Parsed<string>> {
  return new Promise((resolve) => {
    let settled = false;
    const done = (result: Parsed<string>): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      request.destroy();
      resolve(result);
    };
    const request = https.request(
      {
        host: o.address,
        port: o.port,
        servername: o.host,
        path: '/.well-known/mta-sts.txt',
        headers: { host: o.host, 'user-agent': `smarthost/${VERSION}` },
        agent: false,
        ...(o.ca ? { ca: o.ca } : {}),
        ...(o.localAddress ? { localAddress: o.localAddress } : {}),
      },
      (response) => {
        if (response.statusCode !== 200) return done({ ok: false, reason: `HTTP status ${response.statusCode} from ${o.host}` });
        const chunks: Buffer[] = [];
        let size = 0;
        response.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_POLICY_BYTES) done({ ok: false, reason: `policy larger than ${MAX_POLICY_BYTES} bytes` });
          else chunks.push(chunk);
        });
        response.on('end', () => done({ ok: true, value: Buffer.concat(chunks).toString('utf8') }));
        response.on('error', (err) => done({ ok: false, reason: err.message }));
      },
    );
    const timer = setTimeout(() => done({ ok: false, reason: `no policy from ${o.host} within ${o.timeoutMs} ms` }), o.timeoutMs);
    request.on('error', (err: NodeJS.ErrnoException) => {
      const beforeTls = err.code === 'ECONNREFUSED' || err.code === 'EHOSTUNREACH' || err.code === 'ENETUNREACH';
      done({ ok: false, reason: `${beforeTls ? 'connect: ' : ''}${o.host}[${o.address}]:${o.port}: ${err.code ?? err.message}` });
    });
    request.end();
  });
}
