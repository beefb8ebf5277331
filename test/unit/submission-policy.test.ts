// Sender policy (MAIL FROM and header From:) as pure functions.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseHeaderFields } from '../../src/smtp/headers.js';
import { checkHeaderFrom } from '../../src/submission/header-from.js';
import { isSenderAllowed } from '../../src/submission/sender-policy.js';

const ALLOWED = ['@example.com', 'ops@example.org'];

describe('isSenderAllowed', () => {
  test('whole domains and exact addresses, case-insensitive', () => {
    assert.ok(isSenderAllowed(ALLOWED, 'anyone@example.com'));
    assert.ok(isSenderAllowed(ALLOWED, 'Alerts@EXAMPLE.com'));
    assert.ok(isSenderAllowed(ALLOWED, 'ops@example.org'));
    assert.ok(isSenderAllowed(ALLOWED, 'OPS@Example.Org'));
  });
  test('other addresses, subdomains and look-alikes are refused', () => {
    for (const address of ['dev@example.org', 'x@sub.example.com', 'x@example.com.evil.test', 'x@evilexample.com', 'example.com', '', '@example.com']) {
      assert.equal(isSenderAllowed(ALLOWED, address), false, address);
    }
  });
});

describe('checkHeaderFrom', () => {
  const check = (header: string): ReturnType<typeof checkHeaderFrom> =>
    checkHeaderFrom(parseHeaderFields(Buffer.from(`${header}\r\n`)), ALLOWED);

  test('an allowed address, with or without display name (even one that looks like an address)', () => {
    assert.deepEqual(check('From: alerts@example.com'), { ok: true, address: 'alerts@example.com' });
    assert.deepEqual(check('From: "Alerts" <alerts@example.com>'), { ok: true, address: 'alerts@example.com' });
    assert.deepEqual(check('From: "ceo@bank.com" <x@example.com>'), { ok: true, address: 'x@example.com' });
    assert.deepEqual(check('From: root@example.com (Cron Daemon)'), { ok: true, address: 'root@example.com' });
  });
  test('a missing From: is accepted (the envelope sender is added)', () => {
    assert.deepEqual(check('Subject: x'), { ok: true, address: null });
  });
  test('foreign, several, grouped or address-less From: fields are refused', () => {
    for (const header of [
      'From: someone@other.test',
      'From: a@example.com\r\nFrom: b@example.com',
      'From: a@example.com, b@other.test',
      'From: a@example.com, b@example.com',
      'From: friends: a@other.test;',
      'From: =?utf-8?B?Y2VvQGJhbmsuY29t?=',
      'From: Alerts',
    ]) {
      assert.equal(check(header).ok, false, header);
    }
  });
});
