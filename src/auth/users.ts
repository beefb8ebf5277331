// The user store: submission accounts in the spool database (table `users`). Every authentication
// reads the row afresh, so `smarthost user ...` changes apply to the running daemon at the next AUTH
// without a reload; a repeated successful login is answered from the VerifiedCache without another
// scrypt run. Knows nothing of SMTP: authenticate() answers with a user or null.
import type { SpoolDatabase } from '../spool/database.js';
import { decoyHash, hashPassword, verifyPassword } from './password.js';
import { VerifiedCache } from './verified-cache.js';

export interface User {
  readonly name: string;
  /** Exact addresses ("a@example.com") and whole domains ("@example.com"). */
  readonly allowed: readonly string[];
}

export interface UserRecord extends User {
  readonly createdAt: number;
  readonly updatedAt: number;
}

interface Row {
  name: string;
  password_hash: string;
  allowed: string;
  created_at: number;
  updated_at: number;
}

export const USER_NAME_PATTERN = /^[A-Za-z0-9._@+-]{1,64}$/;
/** What USER_NAME_PATTERN allows, for messages. */
export const USER_NAME_CHARS = '1-64 of A-Z a-z 0-9 . _ @ + -';

export class UserStore {
  private readonly verified = new VerifiedCache();
  private readonly byName;

  constructor(
    private readonly db: SpoolDatabase,
    private readonly now: () => number = Date.now,
  ) {
    this.byName = db.prepare('SELECT * FROM users WHERE name = ?');
  }

  /**
   * The user when the password matches, else null. A wrong password or an unknown user always costs
   * a full scrypt run (the same time either way); only a repeated success is answered from memory.
   */
  async authenticate(name: string, password: string): Promise<User | null> {
    const row = this.row(name);
    if (!row) {
      await verifyPassword(password, await decoyHash());
      return null;
    }
    const hash = row.password_hash;
    const ok =
      this.verified.has(name, password, hash) || (await this.verified.verify(name, password, hash, () => verifyPassword(password, hash)));
    return ok ? toUser(row) : null;
  }

  get(name: string): UserRecord | null {
    const row = this.row(name);
    return row ? toRecord(row) : null;
  }

  list(): UserRecord[] {
    return (this.db.prepare('SELECT * FROM users ORDER BY name').all() as Row[]).map(toRecord);
  }

  count(): number {
    return (this.db.prepare('SELECT count(*) AS n FROM users').get() as { n: number }).n;
  }

  /** Creates the user; false when the name is taken. */
  async add(name: string, password: string, allowed: readonly string[]): Promise<boolean> {
    const hash = await hashPassword(password);
    const now = this.now();
    const result = this.db
      .prepare('INSERT OR IGNORE INTO users (name, password_hash, allowed, created_at, updated_at) VALUES (?, ?, ?, ?, ?)')
      .run(name, hash, JSON.stringify(allowed), now, now);
    return result.changes === 1;
  }

  async setPassword(name: string, password: string): Promise<boolean> {
    const hash = await hashPassword(password);
    return this.update('password_hash', hash, name);
  }

  setAllowed(name: string, allowed: readonly string[]): boolean {
    return this.update('allowed', JSON.stringify(allowed), name);
  }

  remove(name: string): boolean {
    return this.db.prepare('DELETE FROM users WHERE name = ?').run(name).changes === 1;
  }

  private update(column: 'password_hash' | 'allowed', value: string, name: string): boolean {
    const sql = `UPDATE users SET ${column} = ?, updated_at = ? WHERE name = ?`;
    return this.db.prepare(sql).run(value, this.now(), name).changes === 1;
  }

  private row(name: string): Row | undefined {
    return this.byName.get(name) as Row | undefined;
  }
}

function toUser(row: Row): User {
  return { name: row.name, allowed: JSON.parse(row.allowed) as string[] };
}

function toRecord(row: Row): UserRecord {
  return { ...toUser(row), createdAt: row.created_at, updatedAt: row.updated_at };
}
