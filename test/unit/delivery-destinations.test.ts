import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isPrivateAddress } from '../../src/delivery/address-policy.js';
import { DestinationResolver, MAX_ADDRESSES, isNullMx, orderMx } from '../../src/delivery/destinations.js';
import type { MxRecord, Resolver } from '../../src/platform/resolver.js';

type Zone = Record<string, { mx?: MxRecord[] | string; a?: string[] | string; aaaa?: string[] | string }>;

/** A Resolver answering from a table; a string answer is the error code to fail with. */
function stubResolver(zone: Zone): Resolver {
  const answer = <T>(name: string, key: 'mx' | 'a' | 'aaaa'): Promise<T> => {
    const entry = zone[name];
    if (!entry) return Promise.reject(Object.assign(new Error('not found'), { code: 'ENOTFOUND' }));
    const value = entry[key];
    if (value === undefined) return Promise.reject(Object.assign(new Error('no data'), { code: 'ENODATA' }));
    if (typeof value === 'string') return Promise.reject(Object.assign(new Error(value), { code: value }));
    return Promise.resolve(value as T);
  };
  return {
    resolveMx: (d) => answer(d, 'mx'),
    resolve4: (h) => answer(h, 'a'),
    resolve6: (h) => answer(h, 'aaaa'),
    resolveTxt: () => Promise.reject(new Error('unused')),
  };
}

const options = { port: 25, routes: {}, allowPrivateDestinations: false };
const resolverFor = (zone: Zone, over: Partial<typeof options> = {}): DestinationResolver =>
  new DestinationResolver(stubResolver(zone), { ...options, ...over }, () => 0.5);

test('MX hosts in preference order; equal preferences in random order', () => {
  const records = [
    { exchange: 'c.test', priority: 20 },
    { exchange: 'a.test', priority: 10 },
    { exchange: 'b.test.', priority: 10 },
  ];
  // one draw per record, in record order: c, a, b
  const draws = [0.9, 0.1, 0.5];
  assert.deepEqual(
    orderMx(records, () => draws.shift() ?? 0),
    ['a.test', 'b.test', 'c.test'],
  );
  const flipped = [0.1, 0.9, 0.5];
  assert.deepEqual(
    orderMx(records, () => flipped.shift() ?? 0),
    ['b.test', 'a.test', 'c.test'],
  );
});

test('null MX: only the single "0 ." record (c-ares reports its exchange as "")', () => {
  assert.equal(isNullMx([{ exchange: '', priority: 0 }]), true);
  assert.equal(isNullMx([{ exchange: '.', priority: 0 }]), true);
  assert.equal(
    isNullMx([
      { exchange: '', priority: 0 },
      { exchange: 'mx.test', priority: 10 },
    ]),
    false,
  );
  assert.equal(isNullMx([]), false);
});

test('each MX host: A addresses, then AAAA; public addresses only', async () => {
  const r = resolverFor({
    'remote.test': {
      mx: [
        { exchange: 'mx2.remote.test', priority: 20 },
        { exchange: 'mx1.remote.test', priority: 10 },
      ],
    },
    'mx1.remote.test': { a: ['93.184.216.1'], aaaa: ['2606:2800:220:1::1'] },
    'mx2.remote.test': { a: ['93.184.216.2'], aaaa: 'ENODATA' },
  });
  assert.deepEqual(await r.resolve('remote.test'), {
    ok: true,
    destinations: [
      { host: 'mx1.remote.test', address: '93.184.216.1', port: 25 },
      { host: 'mx1.remote.test', address: '2606:2800:220:1::1', port: 25 },
      { host: 'mx2.remote.test', address: '93.184.216.2', port: 25 },
    ],
  });
});

test('no MX records: the domain itself (implicit MX)', async () => {
  const r = resolverFor({ 'plain.test': { a: ['93.184.216.7'] } });
  assert.deepEqual(await r.resolve('plain.test'), { ok: true, destinations: [{ host: 'plain.test', address: '93.184.216.7', port: 25 }] });
});

test('null MX bounces with 5.1.10; NXDOMAIN bounces with 5.1.2', async () => {
  const r = resolverFor({ 'nullmx.test': { mx: [{ exchange: '', priority: 0 }] } });
  const nullMx = await r.resolve('nullmx.test');
  assert.ok(!nullMx.ok);
  assert.equal(nullMx.status, 'bounced');
  assert.equal(nullMx.reply.enhanced, '5.1.10');
  const nx = await r.resolve('nowhere.test');
  assert.ok(!nx.ok);
  assert.equal(nx.status, 'bounced');
  assert.equal(nx.reply.enhanced, '5.1.2');
});

test('SERVFAIL and timeouts defer with 4.4.3', async () => {
  for (const code of ['ESERVFAIL', 'ETIMEOUT']) {
    const answer = await resolverFor({ 'flaky.test': { mx: code } }).resolve('flaky.test');
    assert.ok(!answer.ok);
    assert.equal(answer.status, 'deferred');
    assert.equal(answer.reply.enhanced, '4.4.3');
    assert.match(answer.reply.text, new RegExp(code));
  }
});

test('MX hosts without addresses: bounce when every lookup said "no such host", defer when one failed', async () => {
  const gone = await resolverFor({ 'd.test': { mx: [{ exchange: 'gone.d.test', priority: 10 }] } }).resolve('d.test');
  assert.ok(!gone.ok);
  assert.equal(gone.status, 'bounced');
  assert.equal(gone.reply.enhanced, '5.4.4');
  const flaky = await resolverFor({
    'd.test': { mx: [{ exchange: 'mx.d.test', priority: 10 }] },
    'mx.d.test': { a: 'ETIMEOUT', aaaa: 'ENODATA' },
  }).resolve('d.test');
  assert.ok(!flaky.ok);
  assert.equal(flaky.status, 'deferred');
});

test('a host with an unreachable name is skipped for the next one', async () => {
  const r = resolverFor({
    'd.test': {
      mx: [
        { exchange: 'gone.d.test', priority: 10 },
        { exchange: 'mx.d.test', priority: 20 },
      ],
    },
    'mx.d.test': { a: ['93.184.216.10'] },
  });
  assert.deepEqual(await r.resolve('d.test'), { ok: true, destinations: [{ host: 'mx.d.test', address: '93.184.216.10', port: 25 }] });
});

test('private destinations are refused (deferred) unless allowed or routed', async () => {
  const zone: Zone = { 'lan.test': { mx: [{ exchange: 'mx.lan.test', priority: 10 }] }, 'mx.lan.test': { a: ['10.1.2.3', '127.0.0.2'] } };
  const refused = await resolverFor(zone).resolve('lan.test');
  assert.ok(!refused.ok);
  assert.equal(refused.status, 'deferred');
  assert.match(refused.reply.text, /mx\.lan\.test\[10\.1\.2\.3\].*not a public address.*allowPrivateDestinations/);
  const allowed = await resolverFor(zone, { allowPrivateDestinations: true }).resolve('lan.test');
  assert.ok(allowed.ok);
  assert.equal(allowed.destinations.length, 2);
  const routed = await resolverFor({}, { routes: { 'lan.test': '127.0.0.2:2525' } }).resolve('lan.test');
  assert.deepEqual(routed, { ok: true, destinations: [{ host: '127.0.0.2', address: '127.0.0.2', port: 2525 }] });
});

test('a mix of private and public addresses keeps the public ones', async () => {
  const r = resolverFor({
    'mix.test': { mx: [{ exchange: 'mx.mix.test', priority: 10 }] },
    'mx.mix.test': { a: ['192.168.1.1', '93.184.216.5'] },
  });
  assert.deepEqual(await r.resolve('mix.test'), { ok: true, destinations: [{ host: 'mx.mix.test', address: '93.184.216.5', port: 25 }] });
});

test(`at most ${MAX_ADDRESSES} addresses are tried`, async () => {
  const a = [1, 2, 3, 4, 5, 6, 7].map((n) => `93.184.216.${n}`);
  const answer = await resolverFor({ 'many.test': { a } }).resolve('many.test');
  assert.ok(answer.ok);
  assert.equal(answer.destinations.length, MAX_ADDRESSES);
});

test('address classification', () => {
  for (const a of [
    '127.0.0.1',
    '10.0.0.1',
    '172.16.5.4',
    '192.168.0.1',
    '169.254.1.1',
    '0.0.0.0',
    '::1',
    '::',
    'fe80::1',
    'fd00::1',
    '::ffff:127.0.0.1',
    '100.64.0.1',
    'not-an-ip',
  ]) {
    assert.equal(isPrivateAddress(a), true, a);
  }
  for (const a of ['192.0.2.1', '198.51.100.7', '240.0.0.1']) assert.equal(isPrivateAddress(a), true, `${a} (reserved)`);
  for (const a of ['93.184.216.1', '8.8.8.8', '2001:4860:4860::8888', '::ffff:8.8.8.8']) assert.equal(isPrivateAddress(a), false, a);
});
