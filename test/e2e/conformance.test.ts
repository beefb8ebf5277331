// SMTP conformance at submission, through real clients (Python's smtplib sends any parameter and
// any EHLO name): 555 for parameters of extensions not advertised, the null sender, clean
// Received: fields for odd EHLO names, the error limit, and the postmaster (RCPT TO:<postmaster>
// and double bounces).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { queueIdOf, sendWithNodemailer } from '../helpers/clients.js';
import { DEFAULT_USER, runCli, TestDaemon, type TestUser } from '../helpers/daemon.js';
import { allFinal, deliveryConfig, dsnsFor, waitForRecipients, withSpool } from '../helpers/delivery.js';
import { DnsServer } from '../helpers/dns-server.js';
import { FakeMx, freePort } from '../helpers/fake-mx.js';
import { pythonSession, type Step, type StepReply } from '../helpers/python-smtp.js';

const QUOTA_USER: TestUser = { name: 'daemonapp', password: 'another long password', allow: ['@app.example.com'] };
const POSTMASTER = 'ops@example.org';

function message(from: string | null, to: string, subject: string): string {
  const lines = [`To: ${to}`, `Subject: ${subject}`, 'Date: Wed, 25 Nov 2026 10:00:00 +0000', '', 'body', ''];
  return [...(from ? [`From: ${from}`] : []), ...lines].join('\r\n');
}

describe('SMTP conformance at submission', { timeout: 60_000 }, () => {
  let dns: DnsServer;
  let mx: FakeMx;
  let daemon: TestDaemon;
  let postmasterDead = false;

  before(async () => {
    dns = await DnsServer.start();
    const port = await freePort('127.0.0.2');
    mx = await FakeMx.start('127.0.0.2', port, {
      rcpt: (address) => (address.startsWith('reject') || (address === POSTMASTER && postmasterDead) ? 'reject' : 'accept'),
    });
    dns.add('remote.test', { type: 'MX', exchange: 'mx.remote.test', preference: 10 });
    dns.add('example.org', { type: 'MX', exchange: 'mx.remote.test', preference: 10 });
    dns.add('mx.remote.test', { type: 'A', address: '127.0.0.2' });
    const config = deliveryConfig(dns, port, {
      postmaster: POSTMASTER,
      limits: { users: { [QUOTA_USER.name]: { messagesPerHour: 1 } } },
    });
    daemon = await TestDaemon.start({ config, users: [DEFAULT_USER, QUOTA_USER] });
  });
  after(async () => {
    await daemon.cleanup();
    await Promise.all([mx.close(), dns.close()]);
  });

  const session = (steps: readonly Step[], options: { ehlo?: string; user?: TestUser } = {}): Promise<StepReply[]> => {
    const user = options.user ?? DEFAULT_USER;
    return pythonSession({ port: daemon.ports.submission, user: user.name, password: user.password, ehlo: options.ehlo, steps });
  };

  const bodyOf = (queueId: string): string =>
    withSpool(daemon, (db) =>
      (db.prepare('SELECT data FROM bodies WHERE message_id = ?').pluck().get(queueId) as Buffer).toString('latin1'),
    );

  test('parameters of extensions not advertised get 555 5.5.4, on MAIL and on RCPT; advertised ones are accepted', async () => {
    const replies = await session([
      { mail: 'alerts@example.com', options: ['FOO=BAR'] },
      { mail: 'alerts@example.com', options: ['MT-PRIORITY=3'] },
      { mail: 'alerts@example.com', options: ['AUTH=<>', 'SIZE=100', 'BODY=8BITMIME', 'SMTPUTF8', 'RET=HDRS', 'ENVID=QQ+2B1'] },
      { rcpt: 'a@remote.test', options: ['FOO=BAR'] },
      { rcpt: 'a@remote.test', options: ['XFOO'] },
      { rcpt: 'a@remote.test', options: ['NOTIFY=SUCCESS,DELAY', 'ORCPT=rfc822;a@remote.test'] },
    ]);
    assert.deepEqual(
      replies.map((r) => r.code),
      [555, 555, 250, 555, 555, 250],
    );
    assert.equal(replies[0]?.text, '5.5.4 Unsupported option: FOO=BAR');
    assert.equal(replies[3]?.text, '5.5.4 Unsupported option: FOO=BAR');
    assert.equal(replies[4]?.text, '5.5.4 Unsupported option: XFOO');
  });

  test('DSN is advertised; bad DSN parameter values get 501 5.5.4', async () => {
    const ehlo = await session([{ raw: 'EHLO client.test' }]);
    assert.match(ehlo[0]?.text ?? '', /^DSN$/m);
    const replies = await session([
      { mail: 'alerts@example.com', options: ['RET=PARTIAL'] },
      { mail: 'alerts@example.com', options: [`ENVID=${'x'.repeat(101)}`] },
      { mail: 'alerts@example.com', options: ['RET=FULL', 'RET=HDRS'] },
      { mail: 'alerts@example.com' },
      { rcpt: 'a@remote.test', options: ['NOTIFY=SOMETIMES'] },
      { rcpt: 'a@remote.test', options: ['NOTIFY=NEVER,SUCCESS'] },
      { rcpt: 'a@remote.test', options: ['ORCPT=a@remote.test'] },
      { rcpt: 'a@remote.test', options: ['ORCPT=rfc822;caf\u00e9@remote.test'] },
      { rcpt: 'a@remote.test', options: ['NOTIFY=NEVER'] },
    ]);
    assert.deepEqual(
      replies.map((r) => r.code),
      [501, 501, 501, 250, 501, 501, 501, 501, 250],
    );
    assert.ok(replies.filter((r) => r.code === 501).every((r) => r.text.startsWith('5.5.4 ')));
    assert.equal(replies[1]?.text, '5.5.4 Bad ENVID parameter syntax');
  });

  test('the null sender from an authenticated user is accepted and relayed as <>; the header From: rule still applies', async () => {
    const replies = await session([
      { mail: '' },
      { rcpt: 'nullsender@remote.test' },
      { data: message('Mail Delivery System <MAILER-DAEMON@example.com>', 'nullsender@remote.test', 'relayed bounce') },
      { mail: '' },
      { rcpt: 'nullsender@remote.test' },
      { data: message(null, 'nullsender@remote.test', 'no From') },
      { mail: '' },
      { rcpt: 'nullsender@remote.test' },
      { data: message('MAILER-DAEMON@apphost.test', 'nullsender@remote.test', 'foreign From') },
    ]);
    assert.deepEqual(
      replies.map((r) => r.code),
      [250, 250, 250, 250, 250, 550, 250, 250, 550],
    );
    assert.equal(replies[5]?.text, '5.7.1 Message rejected: header From: is required with the null sender');
    assert.match(replies[8]?.text ?? '', /^5\.7\.1 Message rejected: header From: <MAILER-DAEMON@apphost\.test> is not owned/);
    const id = queueIdOf(replies[2]?.text ?? '');
    assert.ok(id);
    await waitForRecipients(daemon, id, allFinal);
    const got = mx.received.find((m) => m.to.includes('nullsender@remote.test'));
    assert.equal(got?.from, '');
  });

  test('a null-sender message counts against the user quota like any other', async () => {
    const steps: Step[] = [
      { mail: '' },
      { rcpt: 'quota@remote.test' },
      { data: message('MAILER-DAEMON@app.example.com', 'quota@remote.test', 'q') },
    ];
    const first = await session(steps, { user: QUOTA_USER });
    assert.equal(first.at(-1)?.code, 250);
    const second = await session(steps, { user: QUOTA_USER });
    assert.equal(second[0]?.code, 451);
    assert.match(second[0]?.text ?? '', /^4\.7\.1 /);
  });

  test('odd EHLO names are sanitised in Received: (7-bit, "?" for anything unsafe); the log keeps the name escaped', async () => {
    const cases: Array<[string, string]> = [
      ['a;b', 'a?b'],
      ['x(evil)', 'x?evil?'],
      ['<script>', '?script?'],
      ['höst.example', 'h?st.example'],
      ['[192.0.2.1]', '[192.0.2.1]'],
    ];
    for (const [ehlo, shown] of cases) {
      const replies = await session(
        [
          { mail: 'alerts@example.com' },
          { rcpt: 'ehlo@remote.test' },
          { data: message('alerts@example.com', 'ehlo@remote.test', 'odd EHLO') },
        ],
        { ehlo },
      );
      const id = queueIdOf(replies.at(-1)?.text ?? '');
      assert.ok(id, `${ehlo}: ${JSON.stringify(replies)}`);
      const body = bodyOf(id);
      const received = body.slice(0, body.indexOf('\r\n'));
      assert.equal(received, `Received: from ${shown} ([127.0.0.1])`, ehlo);
      const header = body.slice(0, body.indexOf('\r\n\r\n'));
      assert.ok(/^[\x20-\x7e\r\n\t]*$/.test(header), `7-bit header for ${ehlo}`);
      const logged = await daemon.waitForLog((l) => l['queueId'] === id && l.msg === 'accepted');
      assert.equal(logged['helo'], ehlo === 'höst.example' ? 'h\\u{f6}st.example' : ehlo);
    }
  });

  test('the 21st error of a session is answered 421 4.7.0 and the session ends; an accepted message starts the count again', async () => {
    const refused = (n: number): Step[] => Array.from({ length: n }, () => ({ mail: 'ceo@bank.test' }));
    const accepted: Step[] = [
      { mail: 'alerts@example.com' },
      { rcpt: 'errors@remote.test' },
      { data: message('alerts@example.com', 'errors@remote.test', 'e') },
    ];
    const reset = await session([...refused(19), ...accepted, ...refused(19), { raw: 'NOOP' }]);
    assert.ok(reset.slice(0, 19).every((r) => r.code === 553));
    assert.equal(reset[21]?.code, 250);
    assert.equal(reset.at(-1)?.code, 250, 'NOOP after 19 + 19 errors with a message in between');

    const from = daemon.logs.length;
    const replies = await session([...refused(21), { raw: 'NOOP' }]);
    assert.ok(replies.slice(0, 20).every((r) => r.code === 553));
    assert.equal(replies[20]?.code, 421);
    assert.equal(replies[20]?.text, '4.7.0 relay.test Error: too many errors');
    assert.deepEqual(replies[21], { code: 0, text: 'disconnected' });
    await daemon.waitForLog((l) => l['reason'] === 'too_many_errors' && l.msg === 'session ended: too many errors', 10_000, from);
  });

  test('RCPT TO:<postmaster> and postmaster@hostname are delivered to the configured postmaster', async () => {
    const replies = await session([
      { mail: 'alerts@example.com' },
      { rcpt: 'postmaster' },
      { rcpt: 'PostMaster@relay.test' },
      { data: message('alerts@example.com', 'postmaster', 'hello postmaster') },
    ]);
    assert.deepEqual(
      replies.map((r) => r.code),
      [250, 250, 250, 250],
    );
    const id = queueIdOf(replies.at(-1)?.text ?? '');
    assert.ok(id);
    const rows = await waitForRecipients(daemon, id, allFinal);
    assert.deepEqual(
      rows.map((r) => [r.address, r.state]),
      [[POSTMASTER, 'delivered']],
    );
    assert.ok(mx.received.some((m) => m.to.includes(POSTMASTER) && m.data.toString().includes('hello postmaster')));
  });

  test('a null-sender message that cannot be delivered is reported to the postmaster once (a double bounce)', async () => {
    const replies = await session([
      { mail: '' },
      { rcpt: 'reject-null@remote.test' },
      { data: message('MAILER-DAEMON@example.com', 'reject-null@remote.test', 'bounce that bounces') },
    ]);
    const id = queueIdOf(replies.at(-1)?.text ?? '');
    assert.ok(id);
    await waitForRecipients(daemon, id, allFinal);
    const log = await daemon.waitForLog((l) => l['queueId'] === id && l.msg === 'postmaster non-delivery notification');
    assert.equal(log['to'], POSTMASTER);
    const notice = await waitUntil(() => mx.received.find((m) => m.data.toString().includes(`X-Smarthost-Queue-ID: ${id}`)));
    assert.equal(notice.from, '');
    assert.deepEqual(notice.to, [POSTMASTER]);
    assert.match(notice.data.toString(), /^Subject: Postmaster Notice: Undelivered Mail\r$/m);
    assert.match(notice.data.toString(), /Final-Recipient: rfc822; reject-null@remote\.test\r\nAction: failed\r\nStatus: 5\.1\.1/);
  });

  test('a double bounce that cannot be delivered to the postmaster ends there: no notice about the notice', async () => {
    postmasterDead = true;
    try {
      const replies = await session([
        { mail: '' },
        { rcpt: 'reject-twice@remote.test' },
        { data: message('MAILER-DAEMON@example.com', 'reject-twice@remote.test', 'bounce loop?') },
      ]);
      const id = queueIdOf(replies.at(-1)?.text ?? '');
      assert.ok(id);
      const log = await daemon.waitForLog((l) => l['queueId'] === id && l.msg === 'postmaster non-delivery notification');
      const notice = String(log['dsn']);
      const rows = await waitForRecipients(daemon, notice, allFinal);
      assert.deepEqual(
        rows.map((r) => [r.address, r.state]),
        [[POSTMASTER, 'bounced']],
      );
      await daemon.waitForLog((l) => l['queueId'] === notice && l.msg === 'removed');
      assert.equal(dsnsFor(daemon, notice).length, 0);
      assert.ok(!daemon.logs.some((l) => l['queueId'] === notice && String(l.msg).endsWith('non-delivery notification')));
    } finally {
      postmasterDead = false;
    }
  });
});

async function waitUntil<T>(find: () => T | undefined, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = find();
    if (found !== undefined) return found;
    if (Date.now() > deadline) throw new Error(`not seen within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('without a postmaster', { timeout: 30_000 }, () => {
  let dns: DnsServer;
  let mx: FakeMx;
  let daemon: TestDaemon;

  before(async () => {
    dns = await DnsServer.start();
    const port = await freePort('127.0.0.2');
    mx = await FakeMx.start('127.0.0.2', port, { rcpt: (address) => (address.startsWith('reject') ? 'reject' : 'accept') });
    dns.add('remote.test', { type: 'MX', exchange: 'mx.remote.test', preference: 10 });
    dns.add('mx.remote.test', { type: 'A', address: '127.0.0.2' });
    daemon = await TestDaemon.start({ config: deliveryConfig(dns, port) });
  });
  after(async () => {
    await daemon.cleanup();
    await Promise.all([mx.close(), dns.close()]);
  });

  test('<postmaster> gets 501 5.1.3, and check-config says there is no postmaster', async () => {
    const replies = await pythonSession({
      port: daemon.ports.submission,
      user: DEFAULT_USER.name,
      password: DEFAULT_USER.password,
      steps: [{ mail: 'alerts@example.com' }, { rcpt: 'postmaster' }],
    });
    assert.deepEqual(
      replies.map((r) => r.code),
      [250, 501],
    );
    const check = await runCli(['check-config', '--config', daemon.configPath]);
    assert.equal(check.code, 0);
    assert.equal(check.stdout, 'ok\n');
    assert.match(check.stderr, /^note: no postmaster address is configured/);
  });

  test('a failed null-sender message is only logged: no notice is spooled', async () => {
    const outcome = await sendWithNodemailer({
      port: daemon.ports.submission,
      implicitTls: false,
      user: DEFAULT_USER.name,
      password: DEFAULT_USER.password,
      from: '',
      to: ['reject@remote.test'],
      message: message('MAILER-DAEMON@example.com', 'reject@remote.test', 'nobody to tell'),
    });
    const id = queueIdOf(outcome.response);
    assert.ok(id, outcome.response);
    const rows = await waitForRecipients(daemon, id, allFinal);
    assert.equal(rows[0]?.state, 'bounced');
    await daemon.waitForLog((l) => l['queueId'] === id && l['status'] === 'bounced');
    const notices = withSpool(daemon, (db) => db.prepare(`SELECT count(*) FROM messages WHERE kind = 'bounce'`).pluck().get() as number);
    assert.equal(notices, 0);
  });
});
