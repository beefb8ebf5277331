// The TLS memory: per recipient domain, when delivery to it last succeeded over TLS, kept in the
// spool (tls_domains) so that it outlives restarts. Within delivery.tls.rememberFor of that time the
// domain is "known to do TLS": its attempts get no plaintext fallback (deliver.ts asks for TLS
// policy 'encrypt'), so a man in the middle who breaks the handshake or strips STARTTLS gets a
// deferral, not the message (chasquid keeps the same per-domain fact). Otherwise, or with
// rememberFor 0 (the memory off), attempts are opportunistic ('may').
// Bounds: what was read from the spool is cached for CACHE_MS (a row deleted by hand takes effect
// within that) for at most CACHE_DOMAINS domains (least recently used go first); a domain's row is
// rewritten at most once per REFRESH_MS however many messages go to it. At start, rows older than
// rememberFor are deleted, so the table holds only domains that still count.
import { LRUCache } from 'lru-cache';
import type { DeliveryStore } from '../spool/delivery-store.js';

const CACHE_MS = 60_000;
const CACHE_DOMAINS = 10_000;
const REFRESH_MS = 60_000;

interface Known {
  /** The last delivery over TLS (null: none recorded). */
  readonly seenAt: number | null;
  /** When this entry was read or written. */
  readonly checkedAt: number;
}

export class TlsMemory {
  private readonly known = new LRUCache<string, Known>({ max: CACHE_DOMAINS });

  constructor(
    private readonly store: Pick<DeliveryStore, 'lastTlsDelivery' | 'rememberTls' | 'forgetTlsBefore'>,
    /** delivery.tls.rememberFor in milliseconds; 0 turns the memory off. */
    private readonly rememberForMs: number,
  ) {}

  /** Drop what no longer counts; returns how many domains were forgotten. */
  prune(now: number): number {
    return this.store.forgetTlsBefore(this.rememberForMs === 0 ? Number.MAX_SAFE_INTEGER : now - this.rememberForMs);
  }

  /** When `domain` last took mail over TLS, if that was within rememberFor; else null. */
  seenAt(domain: string, now: number): number | null {
    if (this.rememberForMs === 0) return null;
    let entry = this.known.get(domain);
    if (!entry || now - entry.checkedAt >= CACHE_MS) {
      entry = { seenAt: this.store.lastTlsDelivery(domain), checkedAt: now };
      this.known.set(domain, entry);
    }
    return entry.seenAt !== null && now - entry.seenAt < this.rememberForMs ? entry.seenAt : null;
  }

  /** A delivery to `domain` over TLS succeeded at `at`. */
  delivered(domain: string, at: number): void {
    if (this.rememberForMs === 0) return;
    const entry = this.known.get(domain);
    if (entry && entry.seenAt !== null && at - entry.seenAt < REFRESH_MS) return;
    this.store.rememberTls(domain, at);
    this.known.set(domain, { seenAt: at, checkedAt: at });
  }
}
