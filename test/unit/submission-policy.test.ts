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
    for (const address of [
      'dev@example.org',
      'x@sub.example.com',
      'x@example.com.evil.test',
      'x@evilexample.com',
      'example.com',
      '',
      '@example.com',
    ]) {
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
  test('plain display names and comments of every usual kind are accepted', () => {
    for (const header of [
      'From: Cron Daemon <root@example.com>',
      'From: "Doe, John" <j@example.com>',
      'From: Jörg Müller <j@example.com>',
      'From: =?utf-8?Q?J=C3=B6rg?= <j@example.com>',
      'From: <x@example.com>',
      'From: "Team" <x@example.com> (comment)',
      'From: x@example.com (ceo@bank.com)',
      'From:\r\n\t"Folded" <x@example.com>',
    ]) {
      assert.equal(check(header).ok, true, header);
    }
  });
  test('tricks that make some program show or use another address are refused', () => {
    const tricks: Record<string, string> = {
      'an unquoted address as display name': 'From: ceo@bank.com <x@example.com>',
      'text after the address': 'From: <x@example.com> ceo@bank.com',
      'a second angle address': 'From: "a" <x@example.com> <ceo@bank.com>',
      'a source route': 'From: <@bank.com:x@example.com>',
      'a NUL that cuts the display': 'From: ceo@bank.com\u0000<x@example.com>',
      'a right-to-left override': 'From: moc.knab@oec \u202e <x@example.com>',
      'an unterminated angle address': 'From: Boss <x@example.com',
      'a stray bracket': 'From: <x@example.com>>',
      'an unterminated quote': 'From: "x@example.com',
      'an encoded-word display name hiding an address': 'From: =?utf-8?B?Y2VvQGJhbmsuY29t?= <x@example.com>',
      'an encoded-word display name hiding a NUL': 'From: =?utf-8?Q?ceo=40bank.com=00?= <x@example.com>',
      'Mailsploit: encoded-words in the local part': 'From: =?utf-8?b?cG90dXNAd2hpdGVob3VzZS5nb3Y=?==?utf-8?Q?=00?=@example.com',
      'a quoted local part holding an address': 'From: "ceo@bank.com"@example.com',
      'two bare addresses': 'From: x@example.com ceo@bank.com',
      'a group hiding a foreign address': 'From: undisclosed: ceo@bank.com;',
      'an empty group': 'From: undisclosed:;',
    };
    for (const [what, header] of Object.entries(tricks)) assert.equal(check(header).ok, false, what);
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
