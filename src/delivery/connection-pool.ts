// Connection reuse (Postfix's connection cache). After a transaction that went well, the session is
// kept idle for a short while (IDLE_MS), keyed by destination host, address, port and TLS policy, and
// the next request for the same destination and policy takes it instead of connecting again; sessions older than
// MAX_AGE_MS are closed rather than reused. The pool also counts every open session, idle or busy,
// so `delivery.concurrency` bounds all connections: when a new one is needed at the limit, an idle
// one is closed first. closeAll() ends everything at shutdown. `opened` hears of every new connection.
import type { Destination } from './destinations.js';
import { SmtpSession, type SessionTimeouts, type TlsPolicy, type Trouble } from './session.js';
import type { TlsInfo } from './types.js';

const IDLE_MS = 2000;
const MAX_AGE_MS = 300_000;

export interface PoolOptions {
  readonly hostname: string;
  readonly timeouts: SessionTimeouts;
  readonly maxOpen: number;
  /** Called for every connection opened, with its TLS (null: plaintext). */
  readonly opened?: (tls: TlsInfo | null) => void;
}

export type Acquired = { ok: true; session: SmtpSession; reused: boolean } | { ok: false; trouble: Trouble };

export class ConnectionPool {
  private readonly open = new Set<SmtpSession>();
  private readonly idle = new Map<SmtpSession, { key: string; timer: NodeJS.Timeout }>();

  constructor(private readonly options: PoolOptions) {}

  async acquire(destination: Destination, tls: TlsPolicy, fresh = false): Promise<Acquired> {
    const cached = fresh ? undefined : this.takeIdle(keyOf(destination, tls));
    if (cached) return { ok: true, session: cached, reused: true };
    if (this.open.size >= this.options.maxOpen) this.closeOldestIdle();
    const opened = await SmtpSession.open({ destination, hostname: this.options.hostname, timeouts: this.options.timeouts, tls });
    if (!opened.ok) return opened;
    const session = opened.session;
    this.options.opened?.(session.tls);
    this.open.add(session);
    session.onEnd(() => this.forget(session));
    return { ok: true, session, reused: false };
  }

  /** Keep the session for reuse when `healthy`, else close it. */
  release(destination: Destination, tls: TlsPolicy, session: SmtpSession, healthy: boolean): void {
    if (!healthy || !session.usable || Date.now() - session.openedAt > MAX_AGE_MS) {
      session.quit();
      return;
    }
    const timer = setTimeout(() => this.expire(session), IDLE_MS);
    timer.unref();
    this.idle.set(session, { key: keyOf(destination, tls), timer });
  }

  closeAll(): void {
    for (const session of this.open) session.close();
  }

  get size(): number {
    return this.open.size;
  }

  private takeIdle(key: string): SmtpSession | undefined {
    for (const [session, entry] of this.idle) {
      if (entry.key !== key) continue;
      clearTimeout(entry.timer);
      this.idle.delete(session);
      if (session.usable) return session;
      session.close();
    }
    return undefined;
  }

  private closeOldestIdle(): void {
    const oldest = this.idle.keys().next();
    if (!oldest.done) this.expire(oldest.value);
  }

  private expire(session: SmtpSession): void {
    const entry = this.idle.get(session);
    if (entry) clearTimeout(entry.timer);
    this.idle.delete(session);
    session.quit();
  }

  private forget(session: SmtpSession): void {
    this.open.delete(session);
    const entry = this.idle.get(session);
    if (entry) clearTimeout(entry.timer);
    this.idle.delete(session);
  }
}

function keyOf(d: Destination, tls: TlsPolicy): string {
  return `${d.host}|${d.address}|${d.port}|${tls}`;
}
