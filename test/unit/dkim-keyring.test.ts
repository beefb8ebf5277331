import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { test } from 'node:test';
import { parseConfig } from '../../src/config/load.js';
import { normalizeDomain, type SigningKey } from '../../src/dkim/key-file.js';
import { Keyring, domainAndParents } from '../../src/dkim/keyring.js';

const { privateKey } = generateKeyPairSync('ed25519');

function key(domain: string, selector: string, algorithm: 'rsa' | 'ed25519' = 'ed25519', active = true): SigningKey {
  return {
    domain: normalizeDomain(domain),
    selector,
    algorithm,
    active,
    file: `/k/${domain}.${selector}`,
    privateKey,
    bits: 256,
    publicKey: 'p',
  };
}

const selectors = (ring: Keyring, domain: string): string[] | null =>
  ring.signingKeys(domain)?.keys.map((k) => `${k.domain}/${k.selector}`) ?? null;

test('domainAndParents walks from the domain to its top label', () => {
  assert.deepEqual(domainAndParents('a.b.example.com'), ['a.b.example.com', 'b.example.com', 'example.com', 'com']);
  assert.deepEqual(domainAndParents(''), []);
});

test('the From: domain signs with all its active keys (RSA and Ed25519 together)', () => {
  const ring = new Keyring([key('example.com', 'r1', 'rsa'), key('example.com', 'e1'), key('example.org', 'o1')]);
  assert.deepEqual(selectors(ring, 'example.com'), ['example.com/r1', 'example.com/e1']);
});

test('a domain without a key falls back to its nearest parent with one; the nearest wins', () => {
  const ring = new Keyring([key('example.com', 'top'), key('mail.example.com', 'mid')]);
  assert.deepEqual(selectors(ring, 'a.b.mail.example.com'), ['mail.example.com/mid']);
  assert.deepEqual(selectors(ring, 'other.example.com'), ['example.com/top']);
  assert.equal(selectors(ring, 'example.net'), null);
  assert.equal(selectors(ring, ''), null);
});

test('inactive keys never sign: a domain with only inactive keys falls back to its parent', () => {
  const ring = new Keyring([
    key('example.com', 'new', 'ed25519', false),
    key('example.com', 'old'),
    key('sub.example.com', 'idle', 'ed25519', false),
  ]);
  assert.deepEqual(selectors(ring, 'example.com'), ['example.com/old']);
  assert.deepEqual(selectors(ring, 'sub.example.com'), ['example.com/old']);
  assert.deepEqual(
    ring.configuredKeys('sub.example.com')?.keys.map((k) => k.selector),
    ['idle'],
  );
  assert.deepEqual(
    ring.configuredKeys('example.com')?.keys.map((k) => k.selector),
    ['new', 'old'],
  );
});

test('domains match case-insensitively, without a trailing dot, and as IDNA A-labels', () => {
  const ring = new Keyring([key('Example.COM.', 'e1'), key('bücher.example', 'b1')]);
  assert.deepEqual(selectors(ring, 'MAIL.example.com.'), ['example.com/e1']);
  assert.deepEqual(selectors(ring, 'xn--bcher-kva.example'), ['xn--bcher-kva.example/b1']);
  assert.deepEqual(selectors(ring, 'Bücher.example'), ['xn--bcher-kva.example/b1']);
});

test('config: a selector configured twice for a domain, or two active keys of one algorithm, is refused by key path', () => {
  const base = (keys: string): string => `dkim:\n  keys:\n${keys}`;
  const entry = (domain: string, selector: string, extra = ''): string =>
    `    - { domain: ${domain}, selector: ${selector}, algorithm: ed25519, privateKey: /k/${selector}${extra} }\n`;
  assert.throws(
    () => parseConfig(base(entry('example.com', 's1', ', active: false') + entry('EXAMPLE.com', 's1', ', active: false')), '/etc/x.yaml'),
    /dkim\.keys\.1\.selector: selector s1 is already configured for example\.com/,
  );
  assert.throws(
    () => parseConfig(base(entry('example.com', 's1') + entry('example.com', 's2')), '/etc/x.yaml'),
    /dkim\.keys\.1\.active: example\.com already has an active ed25519 key/,
  );
  const ok = parseConfig(base(entry('example.com', 's1') + entry('example.com', 's2', ', active: false')), '/etc/x.yaml');
  assert.deepEqual(
    ok.dkim.keys.map((k) => k.active),
    [true, false],
  );
});
