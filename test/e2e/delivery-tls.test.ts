// Opportunistic TLS with a plaintext fallback, and the TLS memory that refuses the fallback for a
// domain that took mail over TLS before. One scripted receiver on 127.0.0.2 is the MX of both
// known.test and fresh.test; the test switches its STARTTLS between working, a handshake that always
// breaks (it says 220, then hangs up), and not offered at all. It hangs up after each message, so
// every message gets a connection of its own.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { TestDaemon } from '../helpers/daemon.js';
import { allFinal, deliveryConfig, submit, waitForRecipients, withSpool } from '../helpers/delivery.js';
import { DnsServer } from '../helpers/dns-server.js';
import { freePort } from '../helpers/fake-mx.js';
import { ScriptedMx } from '../helpers/scripted-mx.js';

describe('TLS fallback and the TLS memory', { timeout: 60_000 }, () => {
  let dns: DnsServer;
  let port: number;
  let mx: ScriptedMx;
  let daemon: TestDaemon;
  let metricsUrl: string;
  let starttls: 'works' | 'breaks' | 'absent' = 'works';

  before(async () => {
    dns = await DnsServer.start();
    port = await freePort('127.0.0.2');
    mx = await ScriptedMx.start('127.0.0.2', port, {
      script: (line, ctx) => {
        if (line.startsWith('EHLO') && starttls === 'absent' && !ctx.secure) return '250-scripted.test\n250-PIPELINING\n250 8BITMIME';
        if (line === 'STARTTLS' && starttls === 'breaks') return 'break-tls';
        if (line === 'STARTTLS' && starttls === 'absent') return '502 5.5.1 Error: command not implemented';
        if (line === '.') return { reply: '250 2.0.0 Ok: queued', close: true }; // no connection reuse
        return undefined;
      },
    });
    dns.add('mx.remote.test', { type: 'A', address: '127.0.0.2' });
    for (const domain of ['known.test', 'fresh.test']) dns.add(domain, { type: 'MX', exchange: 'mx.remote.test', preference: 10 });
    daemon = await TestDaemon.start({ config: deliveryConfig(dns, port, { metrics: { listen: '127.0.0.1:0' } }) });
    const listening = daemon.logs.find((l) => l.msg === 'listening' && l['listener'] === 'metrics');
    metricsUrl = `http://127.0.0.1:${String(listening?.['port'])}/metrics`;
  });
  after(async () => {
    await daemon.cleanup();
    await Promise.all([mx.close(), dns.close()]);
  });

  const fallbacks = async (result: string): Promise<number> => {
    const text = await (await fetch(metricsUrl)).text();
    const m = new RegExp(`^smarthost_delivery_tls_fallbacks_total\\{result="${result}"\\} (\\d+)$`, 'm').exec(text);
    return Number(m?.[1] ?? 0);
  };
  const messagesTo = (address: string) => mx.received.filter((m) => m.rcptTo.includes(address));
  const mailFroms = () => mx.commands().filter((l) => l.startsWith('MAIL FROM')).length;

  test('a delivery over TLS is remembered for its domain', async () => {
    const id = await submit(daemon, ['a@known.test']);
    await waitForRecipients(daemon, id, allFinal);
    assert.deepEqual(
      messagesTo('a@known.test').map((m) => m.secure),
      [true],
    );
    const known = withSpool(daemon, (db) => db.prepare('SELECT domain FROM tls_domains').pluck().all());
    assert.deepEqual(known, ['known.test']);
  });

  test('a broken handshake at a domain never seen with TLS: the same server again, in plaintext', async () => {
    starttls = 'breaks';
    const id = await submit(daemon, ['b@fresh.test']);
    const rows = await waitForRecipients(daemon, id, allFinal);
    assert.deepEqual(
      rows.map((r) => [r.state, r.attempts]),
      [['delivered', 1]],
    );
    assert.deepEqual(
      messagesTo('b@fresh.test').map((m) => m.secure),
      [false],
    );
    const warned = await daemon.waitForLog((l) => l['queueId'] === id && l.msg === 'TLS failed; retrying the same server without TLS');
    assert.equal(warned['relay'], `mx.remote.test[127.0.0.2]:${port}`);
    assert.match(String(warned['reply']), /^451 4\.7\.5 TLS with mx\.remote\.test\[127\.0\.0\.2\] failed/);
    const sent = await daemon.waitForLog((l) => l['queueId'] === id && l['status'] === 'sent');
    assert.equal(sent['tls'], 'none');
    assert.equal(await fallbacks('plaintext'), 1);
    const known = withSpool(daemon, (db) => db.prepare('SELECT domain FROM tls_domains').pluck().all());
    assert.deepEqual(known, ['known.test'], 'a plaintext delivery is not remembered');
  });

  test('the same broken handshake at a domain that did TLS: nothing sent, deferred with 4.7.5, logged', async () => {
    const before = mailFroms();
    const id = await submit(daemon, ['c@known.test']);
    const rows = await waitForRecipients(daemon, id, (rs) => rs.every((r) => r.attempts === 1));
    assert.equal(rows[0]?.state, 'deferred');
    assert.match(
      rows[0]?.last_reply ?? '',
      /^451 4\.7\.5 TLS with mx\.remote\.test\[127\.0\.0\.2\] failed: .+; not retrying without TLS: known\.test accepted mail over TLS on \d{4}-\d\d-\d\dT/,
    );
    assert.equal(mailFroms(), before, 'no transaction in plaintext');
    assert.deepEqual(messagesTo('c@known.test'), []);
    const refused = await daemon.waitForLog(
      (l) => l['queueId'] === id && l.msg === 'TLS failed at a domain known to do TLS; not retrying without TLS',
    );
    assert.equal(refused['domain'], 'known.test');
    const deferred = await daemon.waitForLog((l) => l['queueId'] === id && l['status'] === 'deferred');
    assert.match(String(deferred['reply']), /^451 4\.7\.5 .*not retrying without TLS/);
    assert.equal(await fallbacks('refused'), 1);
  });

  test('STARTTLS stripped from a domain that did TLS: deferred with 4.7.4, nothing sent', async () => {
    starttls = 'absent';
    const before = mailFroms();
    const id = await submit(daemon, ['d@known.test']);
    const rows = await waitForRecipients(daemon, id, (rs) => rs.every((r) => r.attempts === 1));
    assert.equal(rows[0]?.state, 'deferred');
    assert.match(rows[0]?.last_reply ?? '', /^451 4\.7\.4 TLS is required, but host mx\.remote\.test\[127\.0\.0\.2\] refused to start TLS/);
    assert.equal(mailFroms(), before);
    assert.equal(await fallbacks('refused'), 2);
  });
});
