// Password hashing with scrypt (memory-hard, in node:crypto): N=2^15, r=8, p=1 (32 MiB, ~50 ms),
// a 16-byte random salt, a 32-byte key. Stored as "scrypt$N$r$p$salt$hash" (base64), so parameters
// can be raised later without breaking existing hashes. Verification compares in constant time, and
// hashing runs on libuv's thread pool, never blocking the event loop. At most MAX_CONCURRENT runs go
// at once, whatever asks for them (a known user, the decoy for an unknown one, a new hash), which
// bounds their memory; the others wait their turn.
import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';

const DEFAULTS = { N: 2 ** 15, r: 8, p: 1 } as const;
const KEY_LENGTH = 32;
const MAX_CONCURRENT = 2;

let running = 0;
const waiting: Array<() => void> = [];

async function derive(password: string, salt: Buffer, options: ScryptOptions, keyLength: number): Promise<Buffer> {
  const maxmem = 256 * (options.N ?? 1) * (options.r ?? 1);
  if (running >= MAX_CONCURRENT) await new Promise<void>((resolve) => waiting.push(resolve));
  running++;
  try {
    return await new Promise((resolve, reject) => {
      scrypt(password.normalize('NFC'), salt, keyLength, { ...options, maxmem }, (err, key) => (err ? reject(err) : resolve(key)));
    });
  } finally {
    running--;
    waiting.shift()?.();
  }
}

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await derive(password, salt, DEFAULTS, KEY_LENGTH);
  return ['scrypt', DEFAULTS.N, DEFAULTS.r, DEFAULTS.p, salt.toString('base64'), key.toString('base64')].join('$');
}

export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const [scheme, n, r, p, salt, hash] = stored.split('$');
  if (scheme !== 'scrypt' || !salt || !hash) return false;
  const expected = Buffer.from(hash, 'base64');
  const key = await derive(password, Buffer.from(salt, 'base64'), { N: Number(n), r: Number(r), p: Number(p) }, expected.length);
  return key.length === expected.length && timingSafeEqual(key, expected);
}

/** A hash of a random password, verified against when the user does not exist (equal timing). */
let decoy: Promise<string> | undefined;
export function decoyHash(): Promise<string> {
  decoy ??= hashPassword(randomBytes(16).toString('base64'));
  return decoy;
}

const PASSWORD_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const PASSWORD_LENGTH = 24;

/**
 * A random password for `user add` without --password-stdin: 24 letters and digits, ~143 bits.
 * Letters and digits only, so that no client or shell takes it for an option (a leading "-") or
 * needs it quoted. Each character comes from one random byte below 248 (the largest multiple of 62
 * under 256), so every character of the alphabet is equally likely.
 */
export function generatePassword(): string {
  let password = '';
  while (password.length < PASSWORD_LENGTH) {
    for (const byte of randomBytes(PASSWORD_LENGTH)) {
      if (byte < 248 && password.length < PASSWORD_LENGTH) password += PASSWORD_ALPHABET[byte % 62];
    }
  }
  return password;
}
