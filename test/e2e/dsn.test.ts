// The DSN extension (RFC 3461) end to end, through Python's smtplib (which sends any parameter) and
// with every notification read back by Python's `email` package from the sender's mailbox (a fake
// MX for example.com): NOTIFY=NEVER and NOTIFY without FAILURE, RET=FULL within and beyond
// bounce.maxReturnSize, ENVID and ORCPT echoed, a success report ("relayed") from a next hop
// without DSN, the parameters passed on to a next hop with DSN, and one delay warning after
// delivery.delayWarning.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { queueIdOf } from '../helpers/clients.js';
import { DEFAULT_USER, TestDaemon } from '../helpers/daemon.js';
import { allFinal, deliveryConfig, dsnsFor, recipientsOf, waitForRecipients, withSpool } from '../helpers/delivery.js';
import { DnsServer } from '../helpers/dns-server.js';
import { FakeMx, freePort, type Received } from '../helpers/fake-mx.js';
import { parseDsnWithPython } from '../helpers/python-dsn.js';
import { pythonSession, type Step } from '../helpers/python-smtp.js';

const SENDER = 'alerts@example.com';
const MAX_RETURN = 3000;

function message(subject: string, to: string, body = 'The disk is nearly full.\r\n'): string {
  return [`From: App <${SENDER}>`, `To: ${to}`, `Subject: ${subject}`, 'Date: Wed, 25 Nov 2026 10:00:00 +0000', '', body].join('\r\n');
}

describe('DSN (RFC 3461) end to end', { timeout: 90_000 }, () => {
  let dns: DnsServer;
  let mx: FakeMx;
  let plain: FakeMx;
  let daemon: TestDaemon;

  before(async () => {
    dns = await DnsServer.start();
    const port = await freePort('127.0.0.2');
    const rcpt = (address: string) => (address.startsWith('reject') ? 'reject' : address.startsWith('slow') ? 'tempfail' : 'accept');
    mx = await FakeMx.start('127.0.0.2', port, { rcpt });
    plain = await FakeMx.start('127.0.0.3', port, { rcpt }, { dsn: false });
    dns.add('remote.test', { type: 'MX', exchange: 'mx.remote.test', preference: 10 });
    dns.add('example.com', { type: 'MX', exchange: 'mx.remote.test', preference: 10 });
    dns.add('mx.remote.test', { type: 'A', address: '127.0.0.2' });
    dns.add('nodsn.test', { type: 'MX', exchange: 'mx.nodsn.test', preference: 10 });
    dns.add('mx.nodsn.test', { type: 'A', address: '127.0.0.3' });
    const config = deliveryConfig(dns, port, {
      delivery: { delayWarning: 1, retry: { minBackoff: 1, maxBackoff: 1, maxLifetime: 120 } },
      bounce: { maxReturnSize: MAX_RETURN },
    });
    daemon = await TestDaemon.start({ config });
  });
  after(async () => {
    await daemon.cleanup();
    await Promise.all([mx.close(), plain.close(), dns.close()]);
  });

  /** Submit with smtplib; resolves with the queue ID. */
  const submit = async (steps: readonly Step[]): Promise<string> => {
    const replies = await pythonSession({ port: daemon.ports.submission, user: DEFAULT_USER.name, password: DEFAULT_USER.password, steps });
    const id = queueIdOf(replies.at(-1)?.text ?? '');
    assert.ok(id, JSON.stringify(replies));
    return id;
  };

  /** The notices about `queueId` that reached the sender's mailbox, waiting for `count` of them. */
  const noticesAbout = async (queueId: string, count = 1): Promise<Received[]> => {
    const about = (): Received[] =>
      mx.received.filter((m) => m.to.includes(SENDER) && m.data.toString('latin1').includes(`X-Smarthost-Queue-ID: ${queueId}`));
    const deadline = Date.now() + 15_000;
    while (about().length < count) {
      if (Date.now() > deadline) throw new Error(`${about().length} of ${count} notices about ${queueId}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    return about();
  };

  test('NOTIFY=NEVER: no DSN at all; a recipient without FAILURE in NOTIFY gets none either', async () => {
    const id = await submit([
      { mail: SENDER },
      { rcpt: 'reject-never@remote.test', options: ['NOTIFY=NEVER'] },
      { rcpt: 'reject-success-only@remote.test', options: ['NOTIFY=SUCCESS,DELAY'] },
      { rcpt: 'reject-default@remote.test' },
      { data: message('never', 'reject-never@remote.test') },
    ]);
    const rows = await waitForRecipients(daemon, id, allFinal);
    assert.ok(rows.every((r) => r.state === 'bounced'));
    // a DSN is spooled before its recipients are recorded final: every DSN about them exists now
    const dsns = dsnsFor(daemon, id);
    assert.equal(dsns.length, 1);
    const [notice] = await noticesAbout(id);
    assert.ok(notice);
    const parsed = await parseDsnWithPython(notice.data);
    assert.deepEqual(
      parsed.status.slice(1).map((s) => s['final-recipient']),
      ['rfc822; reject-default@remote.test'],
    );
  });

  test('RET=FULL, ENVID and ORCPT: the whole message comes back as message/rfc822 with Original-Envelope-Id and Original-Recipient', async () => {
    const id = await submit([
      { mail: SENDER, options: ['RET=FULL', 'ENVID=QQ314159+2Bx'] },
      { rcpt: 'reject-full@remote.test', options: ['NOTIFY=FAILURE', 'ORCPT=rfc822;Original+2Baddr@remote.test'] },
      { data: message('disk space low', 'reject-full@remote.test') },
    ]);
    const [notice] = await noticesAbout(id);
    assert.ok(notice);
    assert.equal(notice.from, '', 'null envelope sender');
    const parsed = await parseDsnWithPython(notice.data);
    assert.equal(parsed.type, 'multipart/report');
    assert.equal(parsed.reportType, 'delivery-status');
    assert.equal(parsed.autoSubmitted, 'auto-replied');
    assert.equal(parsed.subject, 'Undelivered Mail Returned to Sender');
    assert.deepEqual(parsed.parts, ['text/plain', 'message/delivery-status', 'message/rfc822']);
    assert.equal(parsed.status[0]?.['original-envelope-id'], 'QQ314159+x');
    assert.equal(parsed.status[1]?.['original-recipient'], 'rfc822; Original+addr@remote.test');
    assert.equal(parsed.status[1]?.['final-recipient'], 'rfc822; reject-full@remote.test');
    assert.equal(parsed.status[1]?.['action'], 'failed');
    assert.equal(parsed.returned?.subject, 'disk space low');
    assert.match(parsed.returned?.body ?? '', /The disk is nearly full\./);
  });

  test('RET=FULL for a message over bounce.maxReturnSize: its headers only', async () => {
    const big = `${'0123456789 '.repeat(40)}\r\n`.repeat(Math.ceil(MAX_RETURN / 400));
    const id = await submit([
      { mail: SENDER, options: ['RET=FULL'] },
      { rcpt: 'reject-big@remote.test' },
      { data: message('too big to return', 'reject-big@remote.test', big) },
    ]);
    const [notice] = await noticesAbout(id);
    assert.ok(notice);
    const parsed = await parseDsnWithPython(notice.data);
    assert.deepEqual(parsed.parts, ['text/plain', 'message/delivery-status', 'text/rfc822-headers']);
    assert.match(parsed.returned?.headers ?? '', /^Subject: too big to return$/m);
  });

  test('NOTIFY=SUCCESS to a next hop without DSN: a success report with Action: relayed', async () => {
    const id = await submit([
      { mail: SENDER, options: ['ENVID=success-1'] },
      { rcpt: 'ok-success@nodsn.test', options: ['NOTIFY=SUCCESS'] },
      { rcpt: 'ok-default@nodsn.test' },
      { data: message('hello', 'ok-success@nodsn.test') },
    ]);
    const rows = await waitForRecipients(daemon, id, allFinal);
    assert.ok(rows.every((r) => r.state === 'delivered'));
    const got = plain.received.find((m) => m.to.includes('ok-success@nodsn.test'));
    assert.ok(got);
    assert.equal(got.dsn, null, 'no DSN parameters to a server that does not offer DSN');
    const [notice] = await noticesAbout(id);
    assert.ok(notice);
    const parsed = await parseDsnWithPython(notice.data);
    assert.equal(parsed.subject, 'Successful Mail Delivery Report');
    assert.equal(parsed.status[0]?.['original-envelope-id'], 'success-1');
    assert.deepEqual(
      parsed.status.slice(1).map((s) => [s['final-recipient'], s['action'], s['status']]),
      [['rfc822; ok-success@nodsn.test', 'relayed', '2.0.0']],
    );
    assert.deepEqual(parsed.parts, ['text/plain', 'message/delivery-status', 'text/rfc822-headers']);
  });

  test('NOTIFY=SUCCESS to a next hop with DSN: RET, ENVID, NOTIFY and ORCPT are passed on, and the next hop reports', async () => {
    const id = await submit([
      { mail: SENDER, options: ['RET=HDRS', 'ENVID=pass+2Bon=1'] },
      { rcpt: 'ok-pass@remote.test', options: ['NOTIFY=SUCCESS,FAILURE', 'ORCPT=rfc822;Boss+2Bdesk@remote.test'] },
      { rcpt: 'ok-plain@remote.test' },
      { data: message('passed on', 'ok-pass@remote.test') },
    ]);
    const rows = await waitForRecipients(daemon, id, allFinal);
    assert.ok(rows.every((r) => r.state === 'delivered'));
    const got = mx.received.find((m) => m.to.includes('ok-pass@remote.test'));
    assert.ok(got);
    assert.deepEqual(got.dsn, { ret: 'HDRS', envid: 'pass+on=1' });
    assert.deepEqual(got.rcptDsn.get('ok-pass@remote.test'), { notify: ['SUCCESS', 'FAILURE'], orcpt: 'rfc822;Boss+desk@remote.test' });
    assert.equal(got.rcptDsn.get('ok-plain@remote.test'), undefined, 'nothing added for a recipient that gave nothing');
    await daemon.waitForLog((l) => l['queueId'] === id && l.msg === 'removed');
    assert.equal(dsnsFor(daemon, id).length, 0, 'no success report from smarthost: the next hop reports');
  });

  test('delivery.delayWarning: one "delayed" DSN per recipient still queued after it, unless NOTIFY leaves out DELAY', async () => {
    const id = await submit([
      { mail: SENDER },
      { rcpt: 'slow-warned@remote.test' },
      { rcpt: 'slow-quiet@remote.test', options: ['NOTIFY=FAILURE'] },
      { data: message('slow', 'slow-warned@remote.test') },
    ]);
    const [notice] = await noticesAbout(id);
    assert.ok(notice);
    const parsed = await parseDsnWithPython(notice.data);
    assert.equal(parsed.subject, 'Delayed Mail (still being retried)');
    assert.deepEqual(
      parsed.status.slice(1).map((s) => [s['final-recipient'], s['action'], s['status']]),
      [['rfc822; slow-warned@remote.test', 'delayed', '4.3.0']],
    );
    assert.ok(parsed.status[1]?.['will-retry-until']);
    await waitForRecipients(daemon, id, (rows) => rows.every((r) => r.attempts >= 4));
    assert.equal(dsnsFor(daemon, id).length, 1, 'one warning, however many deferrals follow');
    const warned = withSpool(daemon, (db) =>
      db.prepare('SELECT address FROM recipients WHERE message_id = ? AND delay_warned_at IS NOT NULL').pluck().all(id),
    );
    assert.deepEqual(warned, ['slow-warned@remote.test']);
    assert.ok(recipientsOf(daemon, id).every((r) => r.state === 'deferred'));
  });
});
