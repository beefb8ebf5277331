// The TLS memory over a real spool: a delivery over TLS is remembered for rememberFor and then no
// longer counts; rememberFor 0 turns it off and forgets what was kept; writes are spaced out; a row
// deleted by hand stops counting once the cached read is a minute old; an earlier delivery never
// replaces a later one.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { TlsMemory } from '../../src/delivery/tls-memory.js';
import { openSpool } from '../../src/spool/database.js';
import { DELIVERY_LEASE_MS, DeliveryStore } from '../../src/spool/delivery-store.js';

const dir = mkdtempSync(join(tmpdir(), 'smarthost-tls-memory-'));
const db = openSpool(join(dir, 'spool.db'));
const store = new DeliveryStore(db, { leaseMs: DELIVERY_LEASE_MS, keepDeliveredMs: 0 });
after(() => {
  db.close();
  rmSync(dir, { recursive: true, force: true });
});

const DAY = 86_400_000;
const t0 = Date.UTC(2026, 0, 1);

test('remembered for rememberFor after the last delivery over TLS, then forgotten', () => {
  const memory = new TlsMemory(store, 30 * DAY);
  assert.equal(memory.seenAt('a.test', t0), null);
  memory.delivered('a.test', t0);
  assert.equal(memory.seenAt('a.test', t0 + 1000), t0);
  assert.equal(memory.seenAt('a.test', t0 + 30 * DAY - 1), t0);
  assert.equal(memory.seenAt('a.test', t0 + 30 * DAY), null);
  assert.equal(new TlsMemory(store, 30 * DAY).seenAt('a.test', t0 + DAY), t0, 'kept in the spool across restarts');
  assert.equal(new TlsMemory(store, 30 * DAY).prune(t0 + 31 * DAY), 1);
  assert.equal(store.lastTlsDelivery('a.test'), null);
});

test('a domain is rewritten at most once a minute; an earlier time never replaces a later one', () => {
  const writes: number[] = [];
  const counting = { ...bind(store), rememberTls: (domain: string, at: number) => (writes.push(at), store.rememberTls(domain, at)) };
  const memory = new TlsMemory(counting, 30 * DAY);
  for (let i = 0; i < 100; i++) memory.delivered('b.test', t0 + i * 1000);
  assert.deepEqual(writes, [t0, t0 + 60_000]);
  store.rememberTls('b.test', t0 - DAY);
  assert.equal(store.lastTlsDelivery('b.test'), t0 + 60_000);
});

test('a row deleted by hand stops counting within a minute', () => {
  const memory = new TlsMemory(store, 30 * DAY);
  memory.delivered('c.test', t0);
  assert.equal(memory.seenAt('c.test', t0 + 1000), t0);
  db.prepare("DELETE FROM tls_domains WHERE domain = 'c.test'").run();
  assert.equal(memory.seenAt('c.test', t0 + 60_000 - 1), t0, 'cached');
  assert.equal(memory.seenAt('c.test', t0 + 60_000), null, 'read again');
});

test('rememberFor 0: nothing is remembered, and what was kept is forgotten at start', () => {
  store.rememberTls('d.test', t0);
  const off = new TlsMemory(store, 0);
  assert.ok(off.prune(t0) >= 1);
  assert.equal(store.lastTlsDelivery('d.test'), null);
  off.delivered('d.test', t0);
  assert.equal(store.lastTlsDelivery('d.test'), null);
  assert.equal(off.seenAt('d.test', t0), null);
});

function bind(s: DeliveryStore): Pick<DeliveryStore, 'lastTlsDelivery' | 'rememberTls' | 'forgetTlsBefore'> {
  return {
    lastTlsDelivery: (domain) => s.lastTlsDelivery(domain),
    rememberTls: (domain, at) => s.rememberTls(domain, at),
    forgetTlsBefore: (cutoff) => s.forgetTlsBefore(cutoff),
  };
}
