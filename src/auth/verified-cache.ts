// Remembering successful logins, so that a client that logs in again (an application connecting per
// message) costs a keyed SHA-256, not another 32 MiB / ~50 ms scrypt run, as Dovecot's auth cache
// does. An entry holds HMAC-SHA-256(secret, user NUL password) under a random per-process secret,
// together with the stored hash it was verified against: a changed password (new stored hash) or a
// deleted user (no row) makes the entry useless at once. Failures are never cached.
// Concurrent checks of the same credentials share one scrypt run (single flight); how many scrypt
// runs go at once is bounded where they run (password.ts).
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

const MAX_ENTRIES = 10_000;

interface Entry {
  readonly storedHash: string;
  readonly tag: Buffer;
}

export class VerifiedCache {
  private readonly secret = randomBytes(32);
  private readonly entries = new Map<string, Entry>();
  private readonly inFlight = new Map<string, Promise<boolean>>();

  /** Whether these credentials were verified before against this stored hash. */
  has(name: string, password: string, storedHash: string): boolean {
    const entry = this.entries.get(name);
    return entry !== undefined && entry.storedHash === storedHash && timingSafeEqual(entry.tag, this.tag(name, password));
  }

  /** Run `verify` (the slow check) once for concurrent identical requests, remembering a success. */
  verify(name: string, password: string, storedHash: string, verify: () => Promise<boolean>): Promise<boolean> {
    const key = `${storedHash}\0${this.tag(name, password).toString('base64')}`;
    const pending = this.inFlight.get(key);
    if (pending) return pending;
    const run = verify()
      .then((ok) => {
        if (ok) this.remember(name, password, storedHash);
        return ok;
      })
      .finally(() => this.inFlight.delete(key));
    this.inFlight.set(key, run);
    return run;
  }

  private remember(name: string, password: string, storedHash: string): void {
    if (this.entries.size >= MAX_ENTRIES && !this.entries.has(name)) {
      const oldest = this.entries.keys().next().value;
      if (oldest !== undefined) this.entries.delete(oldest);
    }
    this.entries.set(name, { storedHash, tag: this.tag(name, password) });
  }

  private tag(name: string, password: string): Buffer {
    return createHmac('sha256', this.secret).update(name).update('\0').update(password.normalize('NFC')).digest();
  }
}
