// MTA-STS (RFC 8461): the TXT record and policy parsers, MX pattern matching, the policy flow with
// its cache in the spool (§5.1), and the HTTPS fetch against a local server with a test CA.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { MAX_MAX_AGE, mxAllowed, parseStsPolicy, parseStsRecord } from '../../src/delivery/mta-sts.js';
import { FETCH_RETRY_MS, httpsPolicyFetcher, MtaStsPolicies, type FetchPolicy } from '../../src/delivery/mta-sts-policies.js';
import { createLogger } from '../../src/platform/logger.js';
import type { Resolver } from '../../src/platform/resolver.js';
import { openSpool, type SpoolDatabase } from '../../src/spool/database.js';
import { MtaStsStore } from '../../src/spool/mta-sts-store.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { TestCa } from '../helpers/test-ca.js';

const POLICY = 'version: STSv1\r\nmode: enforce\r\nmx: mx1.example.test\r\nmx: *.backup.example.test\r\nmax_age: 86400\r\n';

describe('the _mta-sts TXT record', () => {
  test('one v=STSv1 record with an id', () => {
    assert.deepEqual(parseStsRecord([['v=STSv1; id=20260101T000000;']]), { ok: true, value: '20260101T000000' });
    assert.deepEqual(parseStsRecord([['v=STSv1;id=abc123'], ['google-site-verification=x']]), { ok: true, value: 'abc123' });
    assert.deepEqual(parseStsRecord([['v=STSv1; ', 'id=split; ext=1']]), { ok: true, value: 'split' }, 'strings of one record are joined');
    assert.deepEqual(
      parseStsRecord([['v=STSv1 ;  id=first ;id=second']]),
      { ok: true, value: 'first' },
      'blanks around ";"; the first id counts',
    );
  });

  test('none, several, or a bad one: no policy available', () => {
    for (const records of [
      [],
      [['spf1 -all']],
      [['v=STSv1; id=a'], ['v=STSv1; id=b']],
      [['v=STSv1;']],
      [['v=STSv1; id=bad-id!']],
      [['v=STSv10; id=a']],
    ]) {
      assert.equal(parseStsRecord(records).ok, false, JSON.stringify(records));
    }
  });
});

describe('the policy file', () => {
  test('CRLF or LF lines; mx repeated; other repeated keys: the first counts; unknown keys ignored', () => {
    assert.deepEqual(parseStsPolicy(POLICY), {
      ok: true,
      value: { mode: 'enforce', mx: ['mx1.example.test', '*.backup.example.test'], maxAge: 86400 },
    });
    const lf = 'version: STSv1\nmode: testing\nmode: enforce\nmx: MX.Example.Test.\nmax_age:604800\nfuture_key: what ever\n';
    assert.deepEqual(parseStsPolicy(lf), { ok: true, value: { mode: 'testing', mx: ['mx.example.test'], maxAge: 604800 } });
    assert.deepEqual(parseStsPolicy('version: STSv1\nmode: none\nmax_age: 1'), { ok: true, value: { mode: 'none', mx: [], maxAge: 1 } });
    const long = parseStsPolicy('version: STSv1\nmode: enforce\nmx: a.test\nmax_age: 99999999999'.replace('99999999999', '9999999999'));
    assert.ok(long.ok && long.value.maxAge === MAX_MAX_AGE, 'max_age is capped at a year');
  });

  test('invalid policies', () => {
    const cases: Array<[string, RegExp]> = [
      ['mode: enforce\nmx: a.test\nmax_age: 1', /no version/],
      ['version: STSv2\nmode: enforce\nmx: a.test\nmax_age: 1', /not STSv1/],
      ['version: STSv1\nmode: strict\nmx: a.test\nmax_age: 1', /unknown mode/],
      ['version: STSv1\nmode: enforce\nmx: a.test', /no max_age/],
      ['version: STSv1\nmode: enforce\nmx: a.test\nmax_age: -5', /bad max_age/],
      ['version: STSv1\nmode: enforce\nmax_age: 5', /no mx/],
      ['version: STSv1\nmode: enforce\nmx: a.*.test\nmax_age: 5', /bad mx pattern/],
      ['<html>not found</html>', /bad policy line/],
      [`version: STSv1\nmode: enforce\nmx: a.test\nmax_age: 5\nx: ${'y'.repeat(70_000)}`, /larger than/],
    ];
    for (const [text, reason] of cases) {
      const parsed = parseStsPolicy(text);
      assert.ok(!parsed.ok, text.slice(0, 40));
      assert.match(parsed.reason, reason);
    }
  });

  test('mx patterns: exact names, and "*." for exactly one more label', () => {
    const policy = { mx: ['mx1.example.test', '*.backup.example.test'] };
    assert.ok(mxAllowed(policy, 'MX1.example.test.'));
    assert.ok(mxAllowed(policy, 'b1.backup.example.test'));
    assert.ok(!mxAllowed(policy, 'backup.example.test'));
    assert.ok(!mxAllowed(policy, 'a.b1.backup.example.test'));
    assert.ok(!mxAllowed(policy, 'mx2.example.test'));
    assert.ok(!mxAllowed(policy, 'evil-mx1.example.test'));
  });
});

describe('the policy in force (RFC 8461 §5.1), cached in the spool', () => {
  let dir: string;
  let db: SpoolDatabase;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'smarthost-mta-sts-'));
    db = openSpool(join(dir, 'spool.db'));
  });
  after(() => {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  function setup(domain: string) {
    const txt: { records: string[][] | Error } = { records: new Error('ENOTFOUND') };
    const served: { text: string | null } = { text: POLICY };
    let fetches = 0;
    const resolver: Resolver = {
      resolveMx: () => Promise.reject(new Error('unused')),
      resolve4: () => Promise.reject(new Error('unused')),
      resolve6: () => Promise.reject(new Error('unused')),
      resolveTxt: (name) => {
        assert.equal(name, `_mta-sts.${domain}`);
        return txt.records instanceof Error
          ? Promise.reject(Object.assign(txt.records, { code: txt.records.message }))
          : Promise.resolve(txt.records);
      },
    };
    const fetch: FetchPolicy = async (d) => {
      assert.equal(d, domain);
      fetches++;
      await new Promise((r) => setImmediate(r));
      return served.text === null ? { ok: false, reason: 'connect: refused' } : { ok: true, value: served.text };
    };
    const clock = new FakeClock();
    const policies = new MtaStsPolicies({ resolver, store: new MtaStsStore(db), clock, logger: createLogger('silent'), fetch });
    return { txt, served, clock, policies, fetches: () => fetches };
  }

  test('no TXT record and nothing cached: no policy, nothing fetched', async () => {
    const s = setup('none.test');
    assert.equal(await s.policies.policyFor('none.test'), null);
    assert.equal(s.fetches(), 0);
  });

  test('fetched once, then from the cache while the id stays; a new id fetches again', async () => {
    const s = setup('a.test');
    s.txt.records = [['v=STSv1; id=one']];
    const first = await s.policies.policyFor('a.test');
    assert.equal(first?.source, 'fetched');
    assert.equal(first?.mode, 'enforce');
    assert.deepEqual(first?.mx, ['mx1.example.test', '*.backup.example.test']);
    assert.equal(first?.expiresAt, s.clock.now() + 86_400_000);
    const again = await s.policies.policyFor('a.test');
    assert.equal(again?.source, 'cache');
    assert.equal(s.fetches(), 1);
    s.txt.records = [['v=STSv1; id=two']];
    s.served.text = POLICY.replace('enforce', 'testing');
    const renewed = await s.policies.policyFor('a.test');
    assert.equal(renewed?.source, 'fetched');
    assert.equal(renewed?.mode, 'testing');
    assert.equal(renewed?.id, 'two');
    assert.equal(s.fetches(), 2);
  });

  test('a failed fetch keeps the cached policy; without a cache there is none, and the same id waits five minutes', async () => {
    const s = setup('b.test');
    s.txt.records = [['v=STSv1; id=one']];
    s.served.text = null;
    assert.equal(await s.policies.policyFor('b.test'), null);
    assert.equal(await s.policies.policyFor('b.test'), null);
    assert.equal(s.fetches(), 1, 'not fetched again at once');
    s.clock.advance(FETCH_RETRY_MS);
    s.served.text = POLICY;
    assert.equal((await s.policies.policyFor('b.test'))?.source, 'fetched');
    s.txt.records = [['v=STSv1; id=two']];
    s.served.text = 'garbage';
    const kept = await s.policies.policyFor('b.test');
    assert.equal(kept?.source, 'cache', 'an invalid policy counts as a failed fetch');
    assert.equal(kept?.id, 'one');
  });

  test('without a TXT record (or with a DNS failure) the cached policy applies until it expires', async () => {
    const s = setup('c.test');
    s.txt.records = [['v=STSv1; id=one']];
    await s.policies.policyFor('c.test');
    s.txt.records = new Error('ETIMEOUT');
    assert.equal((await s.policies.policyFor('c.test'))?.source, 'cache');
    s.txt.records = new Error('ENOTFOUND');
    assert.equal((await s.policies.policyFor('c.test'))?.source, 'cache');
    s.clock.advance(86_400_000);
    assert.equal(await s.policies.policyFor('c.test'), null, 'expired');
    s.txt.records = [['v=STSv1; id=one']];
    assert.equal((await s.policies.policyFor('c.test'))?.source, 'fetched', 'an expired policy is fetched again under the same id');
    assert.equal(s.fetches(), 2);
  });

  test('concurrent deliveries to a domain share one lookup and fetch', async () => {
    const s = setup('d.test');
    s.txt.records = [['v=STSv1; id=one']];
    const all = await Promise.all([1, 2, 3, 4].map(() => s.policies.policyFor('d.test')));
    assert.ok(all.every((p) => p?.id === 'one'));
    assert.equal(s.fetches(), 1);
  });

  test('the store lists live policies only', () => {
    const store = new MtaStsStore(db);
    const listed = store.list(new FakeClock().now()).map((p) => p.domain);
    assert.deepEqual(listed, ['b.test', 'c.test', 'd.test'], "a.test's policy had expired when c.test's was stored, and was dropped");
    assert.deepEqual(store.list(new FakeClock().now() + 3 * 86_400_000), []);
  });
});

describe('fetching the policy over HTTPS', () => {
  const ca = TestCa.create();
  let server: Server;
  let port: number;
  const served = new Map<string, { status: number; body: string; headers?: Record<string, string> }>();
  const resolver: Resolver = {
    resolveMx: () => Promise.reject(new Error('unused')),
    resolve4: (host) => (host.startsWith('mta-sts.') ? Promise.resolve(['127.0.0.1']) : Promise.reject(new Error('ENOTFOUND'))),
    resolve6: () => Promise.reject(Object.assign(new Error('ENODATA'), { code: 'ENODATA' })),
    resolveTxt: () => Promise.reject(new Error('unused')),
  };

  before(async () => {
    const good = ca.issue(['mta-sts.good.test', 'mta-sts.redirect.test', 'mta-sts.missing.test', 'mta-sts.big.test']);
    server = createServer({ ...good, SNICallback: (name, cb) => cb(null, sniContext(name)) }, (req, res) => {
      const answer = served.get(req.headers.host ?? '') ?? { status: 404, body: 'not here' };
      res.writeHead(answer.status, { 'content-type': 'text/plain', ...answer.headers });
      res.end(answer.body);
    });
    const wrong = ca.issue(['www.other.test']);
    const contexts = new Map([['mta-sts.wrong.test', wrong]]);
    const { createSecureContext } = await import('node:tls');
    function sniContext(name: string) {
      return createSecureContext(contexts.get(name) ?? good);
    }
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
    served.set('mta-sts.good.test', { status: 200, body: POLICY });
    served.set('mta-sts.wrong.test', { status: 200, body: POLICY });
    served.set('mta-sts.redirect.test', {
      status: 301,
      body: '',
      headers: { location: 'https://mta-sts.good.test/.well-known/mta-sts.txt' },
    });
    served.set('mta-sts.big.test', { status: 200, body: 'x'.repeat(70_000) });
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const fetcher = (over: { ca?: string | null; allowPrivateDestinations?: boolean } = {}) =>
    httpsPolicyFetcher({ resolver, ca: ca.certPem, port, localAddresses: [], allowPrivateDestinations: true, ...over });

  test('a 200 answer with a certificate for mta-sts.<domain> from a trusted CA', async () => {
    assert.deepEqual(await fetcher()('good.test'), { ok: true, value: POLICY });
  });

  test('refused: an untrusted CA, a certificate for another name, a redirect, 404, too big, a private address', async () => {
    const untrusted = await fetcher({ ca: null })('good.test');
    assert.ok(!untrusted.ok && /certificate|UNABLE|SELF_SIGNED/i.test(untrusted.reason), JSON.stringify(untrusted));
    const wrongName = await fetcher()('wrong.test');
    assert.ok(!wrongName.ok && /ALTNAME|altname/i.test(wrongName.reason), JSON.stringify(wrongName));
    assert.deepEqual(await fetcher()('redirect.test'), { ok: false, reason: 'HTTP status 301 from mta-sts.redirect.test' });
    assert.deepEqual(await fetcher()('missing.test'), { ok: false, reason: 'HTTP status 404 from mta-sts.missing.test' });
    const big = await fetcher()('big.test');
    assert.ok(!big.ok && /larger than/.test(big.reason));
    assert.deepEqual(await fetcher({ allowPrivateDestinations: false })('good.test'), {
      ok: false,
      reason: 'no public address for mta-sts.good.test',
    });
  });
});
