// Delivery through DNS to receiving MTAs on loopback: the daemon resolves MX records from the test's
// DNS server and delivers on one port to fake MX servers on 127.0.0.2 (accepts, refuses bad*),
// 127.0.0.3 (nothing listening), 127.0.0.4 (greets with 421 and hangs up) and to Postfix's smtp-sink
// on 127.0.0.5.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { simpleParser } from 'mailparser';
import { TestDaemon } from '../helpers/daemon.js';
import { allFinal, deliveryConfig, dsnsFor, submit, testMessage, waitForRecipients } from '../helpers/delivery.js';
import { DnsServer } from '../helpers/dns-server.js';
import { FakeMx, SmtpSink, freePort } from '../helpers/fake-mx.js';

const mxRecord = (exchange: string, preference = 10) => ({ type: 'MX' as const, exchange, preference });
const a = (address: string) => ({ type: 'A' as const, address });

describe('delivery to MX hosts', { timeout: 60_000 }, () => {
  let dns: DnsServer;
  let port: number;
  let mx: FakeMx;
  let busy: FakeMx;
  let sink: SmtpSink;
  let daemon: TestDaemon;

  before(async () => {
    dns = await DnsServer.start();
    port = await freePort('127.0.0.2');
    mx = await FakeMx.start('127.0.0.2', port, { rcpt: (address) => (address.startsWith('bad') ? 'reject' : 'accept') });
    busy = await FakeMx.start('127.0.0.4', port, { greeting: () => 'close' });
    sink = await SmtpSink.start('127.0.0.5', port);
    dns.add('mx.remote.test', a('127.0.0.2')).add('down.remote.test', a('127.0.0.3')).add('busy.remote.test', a('127.0.0.4'));
    dns.add('remote.test', mxRecord('mx.remote.test')).add('example.com', mxRecord('mx.remote.test'));
    dns.add('twomx.test', mxRecord('down.remote.test', 10), mxRecord('mx.remote.test', 20));
    dns.add('busy.test', mxRecord('busy.remote.test', 10), mxRecord('mx.remote.test', 20));
    dns.add('nullmx.test', mxRecord('.', 0));
    dns.add('sink.test', mxRecord('sink.remote.test')).add('sink.remote.test', a('127.0.0.5'));
    dns.behave('flaky.test', 'servfail');
    daemon = await TestDaemon.start({ config: deliveryConfig(dns, port) });
  });
  after(async () => {
    await daemon.cleanup();
    await Promise.all([mx.close(), busy.close(), dns.close()]);
    sink.stop();
  });

  test('a message submitted on 587 arrives byte for byte, after the trace header smarthost adds', async () => {
    const message = testMessage('byte for byte', 'someone@remote.test');
    const id = await submit(daemon, ['someone@remote.test'], message);
    const rows = await waitForRecipients(daemon, id, allFinal);
    assert.deepEqual(
      rows.map((r) => [r.state, r.attempts, r.last_mx]),
      [['delivered', 1, `mx.remote.test[127.0.0.2]:${port}`]],
    );
    const received = mx.received.find((m) => m.to.includes('someone@remote.test'));
    assert.ok(received);
    assert.equal(received.from, 'alerts@example.com');
    assert.equal(received.tls, true, 'STARTTLS was used');
    const data = received.data.toString('utf8');
    assert.ok(data.endsWith(message), data);
    assert.match(data.slice(0, data.length - message.length), /^Received: from [^\r\n]+\r\n(\t[^\r\n]*\r\n)+$/);
    const line = await daemon.waitForLog((l) => l['queueId'] === id && l['status'] === 'sent');
    assert.equal(line['relay'], `mx.remote.test[127.0.0.2]:${port}`);
    assert.match(String(line['tls']), /^TLSv1\.[23] .+ unverified$/);
    assert.equal(line['from'], 'alerts@example.com');
    assert.equal(line['to'], 'someone@remote.test');
    assert.equal(typeof line['delay'], 'number');
  });

  test('the first MX is down or refuses the session: the second MX gets the message', async () => {
    const id = await submit(daemon, ['x@twomx.test', 'y@busy.test']);
    const rows = await waitForRecipients(daemon, id, allFinal);
    assert.deepEqual(
      rows.map((r) => [r.address, r.state, r.last_mx]),
      [
        ['x@twomx.test', 'delivered', `mx.remote.test[127.0.0.2]:${port}`],
        ['y@busy.test', 'delivered', `mx.remote.test[127.0.0.2]:${port}`],
      ],
    );
    assert.ok(busy.connections >= 1, 'the 421 server was tried first');
    assert.ok(mx.received.some((m) => m.to.includes('x@twomx.test')));
  });

  test('partial RCPT refusal: one recipient delivered, the other bounced with a DSN back in the spool', async () => {
    const id = await submit(daemon, ['good@remote.test', 'bad@remote.test']);
    const rows = await waitForRecipients(daemon, id, allFinal);
    assert.deepEqual(
      rows.map((r) => [r.address, r.state, r.last_reply]),
      [
        ['bad@remote.test', 'bounced', '550 5.1.1 No such user here'],
        ['good@remote.test', 'delivered', '250 2.0.0 OK: message queued'],
      ],
    );
    assert.deepEqual(
      mx.received.filter((m) => m.to.includes('good@remote.test')).map((m) => m.to),
      [['good@remote.test']],
    );
    const [dsn, ...more] = dsnsFor(daemon, id);
    assert.equal(more.length, 0);
    assert.ok(dsn);
    assert.deepEqual([dsn.sender, dsn.recipients], ['', 'alerts@example.com']);
    const parsed = await simpleParser(dsn.body);
    assert.equal(parsed.from?.value[0]?.address, 'MAILER-DAEMON@relay.test');
    assert.match(
      parsed.text ?? '',
      /<bad@remote\.test>: host mx\.remote\.test\[127\.0\.0\.2\] said: 550 5\.1\.1 No such user here \(in reply to RCPT TO command\)/,
    );
    assert.match(
      dsn.body,
      /Final-Recipient: rfc822; bad@remote\.test\r\nAction: failed\r\nStatus: 5\.1\.1\r\nRemote-MTA: dns; mx\.remote\.test\r\n/,
    );
    assert.doesNotMatch(dsn.body, /good@remote\.test>:/);
    const dsnRows = await waitForRecipients(daemon, dsn.id, allFinal);
    assert.deepEqual(
      dsnRows.map((r) => r.state),
      ['delivered'],
      'the DSN itself is delivered like any message',
    );
  });

  test('null MX and NXDOMAIN bounce at once in one DSN; SERVFAIL defers', async () => {
    const id = await submit(daemon, ['a@nullmx.test', 'b@nowhere.test', 'c@flaky.test']);
    const rows = await waitForRecipients(daemon, id, (rs) => rs.every((r) => r.attempts === 1));
    assert.deepEqual(
      rows.map((r) => [r.address, r.state, r.last_reply?.slice(0, 12)]),
      [
        ['a@nullmx.test', 'bounced', '550 5.1.10 R'],
        ['b@nowhere.test', 'bounced', '550 5.1.2 Ho'],
        ['c@flaky.test', 'deferred', '451 4.4.3 Ho'],
      ],
    );
    const dsns = dsnsFor(daemon, id);
    assert.equal(dsns.length, 1);
    assert.deepEqual(
      [...(dsns[0]?.body.matchAll(/^Status: (.+)\r$/gm) ?? [])].map((m) => m[1]),
      ['5.1.10', '5.1.2'],
    );
    const deferred = await daemon.waitForLog((l) => l['queueId'] === id && l['to'] === 'c@flaky.test');
    assert.deepEqual([deferred['status'], deferred['relay']], ['deferred', 'none']);
  });

  test("Postfix's smtp-sink receives the message as a real MTA", async () => {
    const id = await submit(daemon, ['one@sink.test', 'two@sink.test']);
    await waitForRecipients(daemon, id, (rs) => rs.every((r) => r.state === 'delivered'));
    const [file] = await sink.waitFor(1);
    assert.ok(file);
    assert.match(file, /^X-Mail-Args: <alerts@example\.com>/m);
    assert.match(file, /^X-Rcpt-Args: <one@sink\.test>\nX-Rcpt-Args: <two@sink\.test>/m);
    assert.match(file, /^Subject: to one@sink\.test two@sink\.test$/m);
    assert.match(file, /^\.like this one$/m);
  });
});

describe('private destinations', { timeout: 60_000 }, () => {
  let dns: DnsServer;
  let mx: FakeMx;
  let daemon: TestDaemon;
  before(async () => {
    dns = await DnsServer.start();
    const port = await freePort('127.0.0.2');
    mx = await FakeMx.start('127.0.0.2', port);
    dns.add('lan.test', mxRecord('mx.lan.test')).add('mx.lan.test', a('127.0.0.2'));
    const config = deliveryConfig(dns, port, {
      delivery: { allowPrivateDestinations: false, routes: { '*': null, 'routed.test': `127.0.0.2:${port}` } },
    });
    daemon = await TestDaemon.start({ config });
  });
  after(async () => {
    await daemon.cleanup();
    await Promise.all([mx.close(), dns.close()]);
  });

  test('an MX on a loopback address is refused (deferred with the reason) unless a route names it', async () => {
    const id = await submit(daemon, ['x@lan.test', 'y@routed.test']);
    const rows = await waitForRecipients(daemon, id, (rs) => rs.every((r) => r.attempts === 1));
    assert.deepEqual(
      rows.map((r) => [r.address, r.state]),
      [
        ['x@lan.test', 'deferred'],
        ['y@routed.test', 'delivered'],
      ],
    );
    assert.match(
      rows[0]?.last_reply ?? '',
      /^451 4\.4\.0 delivery to lan\.test refused: mx\.lan\.test\[127\.0\.0\.2\] is not a public address/,
    );
    assert.deepEqual(
      mx.received.map((m) => m.to),
      [['y@routed.test']],
    );
  });
});
