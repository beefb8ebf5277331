// Password hashing and the user store.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { generatePassword, hashPassword, verifyPassword } from '../../src/auth/password.js';
import { UserStore } from '../../src/auth/users.js';
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
