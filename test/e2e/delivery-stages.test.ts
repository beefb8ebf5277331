// Each delivery timeout bounds its own stage, and temporary failures move recipients to the next MX
// within the same attempt; only what a server explicitly accepted counts as delivered. The daemon
// runs with every timeout shrunk (connect 1 s, greeting 10 s, command 2 s, data 10 s; the defaults
// are 30/300/300/600) and a 60 s backoff, so anything that arrives within the test arrived on the
// first attempt. Receivers on one port: Postfix's smtp-sink greeting after 3 s (127.0.0.4) and
// answering the end of data after 3 s (127.0.0.5); smtp-server MXes that refuse at RCPT with 421
// (127.0.0.2), refuse MAIL with 451 (127.0.0.7) or accept (127.0.0.3); a scripted receiver that
// loses the connection at exact points (127.0.0.6).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { TestDaemon } from '../helpers/daemon.js';
import { allFinal, deliveryConfig, dsnsFor, submit, waitForRecipients } from '../helpers/delivery.js';
import { DnsServer } from '../helpers/dns-server.js';
import { FakeMx, SmtpSink, freePort } from '../helpers/fake-mx.js';
import { ScriptedMx } from '../helpers/scripted-mx.js';

const mx = (exchange: string, preference = 10) => ({ type: 'MX' as const, exchange, preference });
const a = (address: string) => ({ type: 'A' as const, address });

describe('delivery stages, next MX and accepted-only outcomes', { timeout: 90_000 }, () => {
  let dns: DnsServer;
  let port: number;
  let refuser: FakeMx;
  let backup: FakeMx;
  let mailRefuser: FakeMx;
  let slowGreeting: SmtpSink;
  let slowData: SmtpSink;
  let scripted: ScriptedMx;
  let daemon: TestDaemon;

  before(async () => {
    dns = await DnsServer.start();
    port = await freePort('127.0.0.2');
    refuser = await FakeMx.start('127.0.0.2', port, {
      rcpt: (address) => (address.startsWith('later@') ? 'tempfail' : address.endsWith('@split.test') ? 'accept' : 'close'),
    });
    backup = await FakeMx.start('127.0.0.3', port);
    mailRefuser = await FakeMx.start('127.0.0.7', port, { mail: () => 'tempfail' });
    slowGreeting = await SmtpSink.start('127.0.0.4', port, ['-W', 'connect:3']);
    slowData = await SmtpSink.start('127.0.0.5', port, ['-W', '.:3']);
    scripted = await ScriptedMx.start('127.0.0.6', port, {
      script: (line, ctx) => {
        if (line === 'RCPT TO:<second@lost.test>') return 'close';
        if (line === 'RCPT TO:<d@only421.test>') return { reply: '421 4.3.2 Service shutting down', close: true };
        if (line === '.' && ctx.data?.includes('lostdata.test')) return 'close';
        return undefined;
      },
    });
    const hosts: Record<string, string> = {
      'mx1.test': '127.0.0.2',
      'mx2.test': '127.0.0.3',
      'slow-greeting.test': '127.0.0.4',
      'slow-data.test': '127.0.0.5',
      'scripted.test': '127.0.0.6',
      'mail451.test': '127.0.0.7',
    };
    for (const [host, address] of Object.entries(hosts)) dns.add(host, a(address));
    dns.add('slowgreet.test', mx('slow-greeting.test')).add('slowdata.test', mx('slow-data.test'));
    dns.add('rcpt421.test', mx('mx1.test', 10), mx('mx2.test', 20));
    dns.add('mail451.test', mx('mail451.test', 10), mx('mx2.test', 20));
    dns.add('split.test', mx('mx1.test', 10), mx('mx2.test', 20));
    dns.add('final.test', mx('mx1.test', 10), mx('mail451.test', 20));
    for (const domain of ['lost.test', 'lostdata.test', 'only421.test']) dns.add(domain, mx('scripted.test'));
    const config = deliveryConfig(dns, port, { delivery: { timeouts: { connect: 1, greeting: 10, command: 2, data: 10 } } });
    daemon = await TestDaemon.start({ config });
  });
  after(async () => {
    await daemon.cleanup();
    await Promise.all([refuser.close(), backup.close(), mailRefuser.close(), scripted.close(), dns.close()]);
    slowGreeting.stop();
    slowData.stop();
  });

  const sentLine = (id: string, to: string) => daemon.waitForLog((l) => l['queueId'] === id && l['to'] === to && l['status'] !== undefined);

  test('a greeting after 3 s is awaited: it is bounded by timeouts.greeting, not connect (1 s) or command (2 s)', async () => {
    const id = await submit(daemon, ['someone@slowgreet.test']);
    const rows = await waitForRecipients(daemon, id, allFinal, 20_000);
    assert.deepEqual(
      rows.map((r) => [r.state, r.attempts, r.last_mx]),
      [['delivered', 1, `slow-greeting.test[127.0.0.4]:${port}`]],
    );
    const [file, ...more] = await slowGreeting.waitFor(1);
    assert.equal(more.length, 0);
    assert.match(file ?? '', /^X-Rcpt-Args: <someone@slowgreet\.test>$/m);
    const line = await sentLine(id, 'someone@slowgreet.test');
    assert.equal(line['status'], 'sent');
    assert.ok(Number(line['delay']) >= 2.9, `waited for the greeting: ${String(line['delay'])} s`);
  });

  test('the reply after the end of data is awaited for timeouts.data (10 s), not command (2 s)', async () => {
    const id = await submit(daemon, ['someone@slowdata.test']);
    const rows = await waitForRecipients(daemon, id, allFinal, 20_000);
    assert.deepEqual(
      rows.map((r) => [r.state, r.attempts]),
      [['delivered', 1]],
    );
    assert.equal((await slowData.waitFor(1)).length, 1);
    assert.ok(Number((await sentLine(id, 'someone@slowdata.test'))['delay']) >= 2.9);
  });

  test('421 at RCPT on the first MX: the second MX has the message at once, once', async () => {
    const id = await submit(daemon, ['x@rcpt421.test', 'y@rcpt421.test']);
    const rows = await waitForRecipients(daemon, id, allFinal, 10_000);
    assert.deepEqual(
      rows.map((r) => [r.address, r.state, r.attempts, r.last_mx]),
      [
        ['x@rcpt421.test', 'delivered', 1, `mx2.test[127.0.0.3]:${port}`],
        ['y@rcpt421.test', 'delivered', 1, `mx2.test[127.0.0.3]:${port}`],
      ],
    );
    assert.ok(refuser.connections >= 1, 'the first MX was tried');
    assert.deepEqual(
      refuser.received.filter((m) => m.to.some((t) => t.endsWith('@rcpt421.test'))),
      [],
    );
    assert.deepEqual(
      backup.received.filter((m) => m.to.some((t) => t.endsWith('@rcpt421.test'))).map((m) => m.to),
      [['x@rcpt421.test', 'y@rcpt421.test']],
    );
    const skip = await daemon.waitForLog((l) => l['queueId'] === id && l.msg === 'temporary failure; trying the next server');
    assert.equal(skip['relay'], `mx1.test[127.0.0.2]:${port}`);
    assert.match(String(skip['reply']), /^421 4\.3\.2 /);
    const line = await sentLine(id, 'x@rcpt421.test');
    assert.deepEqual([line['status'], line['relay'], line['attempts']], ['sent', `mx2.test[127.0.0.3]:${port}`, 1]);
  });

  test('451 at MAIL on the first MX (pipelined, its 503s for the RCPTs ignored): the second MX has it, nobody bounced', async () => {
    const id = await submit(daemon, ['x@mail451.test', 'y@mail451.test']);
    const rows = await waitForRecipients(daemon, id, allFinal, 10_000);
    assert.deepEqual(
      rows.map((r) => [r.state, r.attempts, r.last_mx]),
      [
        ['delivered', 1, `mx2.test[127.0.0.3]:${port}`],
        ['delivered', 1, `mx2.test[127.0.0.3]:${port}`],
      ],
    );
    assert.ok(mailRefuser.connections >= 1);
    assert.deepEqual(
      backup.received.filter((m) => m.to.some((t) => t.endsWith('@mail451.test'))).map((m) => m.to),
      [['x@mail451.test', 'y@mail451.test']],
    );
    assert.deepEqual(dsnsFor(daemon, id), []);
  });

  test('a recipient accepted by the first MX stays there; only the one it deferred goes to the second', async () => {
    const id = await submit(daemon, ['now@split.test', 'later@split.test']);
    const rows = await waitForRecipients(daemon, id, allFinal, 10_000);
    assert.deepEqual(
      rows.map((r) => [r.address, r.state, r.last_mx]),
      [
        ['later@split.test', 'delivered', `mx2.test[127.0.0.3]:${port}`],
        ['now@split.test', 'delivered', `mx1.test[127.0.0.2]:${port}`],
      ],
    );
    const to = (m: FakeMx) => m.received.filter((r) => r.to.some((t) => t.endsWith('@split.test'))).map((r) => r.to);
    assert.deepEqual(to(refuser), [['now@split.test']]);
    assert.deepEqual(to(backup), [['later@split.test']]);
  });

  test("only the final server's temporary failure defers, with that server's reply", async () => {
    const id = await submit(daemon, ['x@final.test']);
    const rows = await waitForRecipients(daemon, id, (rs) => rs.every((r) => r.attempts === 1), 10_000);
    assert.deepEqual(
      rows.map((r) => [r.state, r.last_reply, r.last_mx]),
      [['deferred', '451 4.3.0 Try again later', `mail451.test[127.0.0.7]:${port}`]],
    );
    const line = await sentLine(id, 'x@final.test');
    assert.deepEqual([line['status'], line['reply']], ['deferred', '451 4.3.0 Try again later']);
  });

  test('a recipient the server never answered for is deferred, never delivered (connection lost after one RCPT)', async () => {
    const id = await submit(daemon, ['first@lost.test', 'second@lost.test']);
    const rows = await waitForRecipients(daemon, id, (rs) => rs.every((r) => r.attempts === 1), 10_000);
    assert.deepEqual(
      rows.map((r) => [r.address, r.state]),
      [
        ['first@lost.test', 'deferred'],
        ['second@lost.test', 'deferred'],
      ],
    );
    for (const r of rows)
      assert.match(r.last_reply ?? '', /^451 4\.4\.2 lost connection with scripted\.test\[127\.0\.0\.6\] while sending RCPT TO/);
    assert.deepEqual(
      scripted.received.filter((m) => m.rcptTo.some((t) => t.endsWith('@lost.test'))),
      [],
    );
    for (const to of ['first@lost.test', 'second@lost.test']) assert.equal((await sentLine(id, to))['status'], 'deferred');
  });

  test('connection lost after the message data: every recipient deferred, "message may be sent more than once"', async () => {
    const id = await submit(daemon, ['a@lostdata.test', 'b@lostdata.test']);
    const rows = await waitForRecipients(daemon, id, (rs) => rs.every((r) => r.attempts === 1), 10_000);
    assert.deepEqual(
      rows.map((r) => r.state),
      ['deferred', 'deferred'],
    );
    assert.match(rows[0]?.last_reply ?? '', /while sending end of data -- message may be sent more than once$/);
  });

  test("421 (and a hang-up) after three recipients were accepted: all deferred with the server's own 421", async () => {
    const id = await submit(daemon, ['a@only421.test', 'b@only421.test', 'c@only421.test', 'd@only421.test']);
    const rows = await waitForRecipients(daemon, id, (rs) => rs.every((r) => r.attempts === 1), 10_000);
    assert.deepEqual(
      rows.map((r) => [r.address, r.state, r.last_reply]),
      ['a', 'b', 'c', 'd'].map((x) => [`${x}@only421.test`, 'deferred', '421 4.3.2 Service shutting down']),
    );
    assert.equal((await sentLine(id, 'a@only421.test'))['reply'], '421 4.3.2 Service shutting down');
  });
});
