// Password hashing and the user store.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { generatePassword, hashPassword, verifyPassword } from '../../src/auth/password.js';
import { UserStore } from '../../src/auth/users.js';
import { VerifiedCache } from '../../src/auth/verified-cache.js';
import { openSpool } from '../../src/spool/database.js';

describe('password hashing', () => {
  test('scrypt hashes with a random salt, verified only by the right password', async () => {
    const a = await hashPassword('s3cret');
    const b = await hashPassword('s3cret');
    assert.match(a, /^scrypt\$32768\$8\$1\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/);
    assert.notEqual(a, b);
    assert.equal(await verifyPassword('s3cret', a), true);
    assert.equal(await verifyPassword('s3cret ', a), false);
    assert.equal(await verifyPassword('', a), false);
    assert.equal(await verifyPassword('s3cret', 'md5$whatever'), false);
  });
  test('generated passwords are long and distinct', () => {
    const p = generatePassword();
    assert.ok(p.length >= 24);
    assert.notEqual(p, generatePassword());
  });
  test('generated passwords are letters and digits only: never a leading "-" that a client takes for an option', () => {
    const passwords = Array.from({ length: 2000 }, () => generatePassword());
    for (const p of passwords) assert.match(p, /^[A-Za-z0-9]{24}$/);
    const firsts = new Set(passwords.map((p) => p[0]));
    assert.ok(firsts.size > 55, `every leading character occurs: ${firsts.size} of 62 seen`);
  });
});

describe('user store', () => {
  const dir = mkdtempSync(join(tmpdir(), 'smarthost-users-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('add, authenticate, change, remove', async () => {
    const db = openSpool(join(dir, 'spool.db'));
    const users = new UserStore(db);
    assert.equal(await users.add('app', 'pw1', ['@example.com']), true);
    assert.equal(await users.add('app', 'other', ['@x.test']), false);
    assert.deepEqual(await users.authenticate('app', 'pw1'), { name: 'app', allowed: ['@example.com'] });
    assert.equal(await users.authenticate('app', 'pw2'), null);
    assert.equal(await users.authenticate('nobody', 'pw1'), null);
    assert.equal(await users.setPassword('app', 'pw2'), true);
    assert.equal(await users.authenticate('app', 'pw1'), null);
    assert.ok(await users.authenticate('app', 'pw2'));
    assert.equal(users.setAllowed('app', ['a@b.test']), true);
    assert.deepEqual(users.get('app')?.allowed, ['a@b.test']);
    assert.equal(users.remove('app'), true);
    assert.equal(users.remove('app'), false);
    assert.equal(await users.authenticate('app', 'pw2'), null);
    db.close();
  });
});

describe('repeated logins', () => {
  const dir = mkdtempSync(join(tmpdir(), 'smarthost-users-cache-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('a success is remembered per stored hash; a changed password or a deleted user is noticed at once', async () => {
    const db = openSpool(join(dir, 'spool.db'));
    const users = new UserStore(db);
    await users.add('app', 'pw1', ['@example.com']);
    for (let i = 0; i < 3; i++) assert.ok(await users.authenticate('app', 'pw1'));
    assert.equal(await users.authenticate('app', 'PW1'), null, 'a different password is still checked');
    await users.setPassword('app', 'pw2');
    assert.equal(await users.authenticate('app', 'pw1'), null, 'the old password no longer works');
    assert.ok(await users.authenticate('app', 'pw2'));
    users.remove('app');
    assert.equal(await users.authenticate('app', 'pw2'), null, 'a deleted user is refused');
    db.close();
  });

  test('the cache: one slow check for concurrent identical logins, none after a success, never for failures', async () => {
    const cache = new VerifiedCache();
    let runs = 0;
    const slow = (ok: boolean) => async (): Promise<boolean> => {
      runs++;
      await new Promise((r) => setTimeout(r, 20));
      return ok;
    };
    const results = await Promise.all(Array.from({ length: 20 }, () => cache.verify('pool', 'pw', 'H1', slow(true))));
    assert.ok(results.every(Boolean));
    assert.equal(runs, 1);
    assert.equal(cache.has('pool', 'pw', 'H1'), true);
    assert.equal(cache.has('pool', 'pw', 'H2'), false, 'another stored hash (password changed)');
    assert.equal(cache.has('pool', 'other', 'H1'), false);
    assert.equal(await cache.verify('x', 'bad', 'H3', slow(false)), false);
    assert.equal(cache.has('x', 'bad', 'H3'), false, 'failures are not remembered');
    await Promise.all(Array.from({ length: 6 }, (_, i) => cache.verify(`u${i}`, 'pw', 'H', slow(false))));
    assert.equal(runs, 8);
  });
});
