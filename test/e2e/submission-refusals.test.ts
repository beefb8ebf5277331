// Every refusal of the submission service, with its exact reply code, against the real daemon:
// no TLS, no AUTH, bad password, authzid impersonation, foreign senders, oversize, too many
// recipients. A refused transaction leaves nothing in the spool.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { DEFAULT_USER, TestDaemon } from '../helpers/daemon.js';
import { authenticatedClient, encryptedClient, SmtpClient } from '../helpers/smtp-client.js';

const MAX_SIZE = 20_000;
const MAX_RCPTS = 3;

describe('submission refusals', () => {
  let daemon: TestDaemon;
  before(async () => {
    // Failed logins here must not start the brute-force cooling period (test/e2e/abuse-auth.test.ts).
    const authFailures = { maxPerClient: 100, slowAfter: 100 };
    daemon = await TestDaemon.start({ config: { limits: { maxMessageSize: MAX_SIZE, maxRecipients: MAX_RCPTS }, authFailures } });
  });
  after(() => daemon.cleanup());

  const login = (implicitTls = false): Promise<SmtpClient> =>
    authenticatedClient(
      implicitTls ? daemon.ports.submissions : daemon.ports.submission,
      DEFAULT_USER.name,
      DEFAULT_USER.password,
      implicitTls,
    );

  const spooledCount = (): number => {
    const db = daemon.openSpool();
    try {
      return (db.prepare('SELECT count(*) AS n FROM messages').get() as { n: number }).n;
    } finally {
      db.close();
    }
  };

  test('greeting and EHLO carry the hostname; AUTH is not offered before STARTTLS', async () => {
    const client = await SmtpClient.connect(daemon.ports.submission);
    assert.match(client.greeting.lines[0] ?? '', /^220 relay\.test ESMTP/);
    const ehlo = await client.ehlo();
    assert.match(ehlo.lines[0] ?? '', /^250-relay\.test /);
    assert.ok(ehlo.text.includes('STARTTLS'));
    assert.ok(!/^AUTH/m.test(ehlo.text));
    assert.ok(ehlo.text.includes(`SIZE ${MAX_SIZE}`));
    await client.starttls();
    const secure = await client.ehlo();
    assert.ok(/^AUTH PLAIN LOGIN$/m.test(secure.text));
    await client.quit();
  });

  test('AUTH before STARTTLS on 587: 538 5.7.11', async () => {
    const client = await SmtpClient.connect(daemon.ports.submission);
    await client.ehlo();
    const reply = await client.authPlain(DEFAULT_USER.name, DEFAULT_USER.password);
    assert.equal(reply.code, 538);
    assert.match(reply.text, /^5\.7\.11 /);
    const login = await client.send('AUTH LOGIN');
    assert.equal(login.code, 538);
    await client.quit();
  });

  test('MAIL FROM and RCPT TO without AUTH: 530 5.7.0 (no relay), on both listeners', async () => {
    for (const implicitTls of [false, true]) {
      const client = await encryptedClient(implicitTls ? daemon.ports.submissions : daemon.ports.submission, implicitTls);
      const mail = await client.send('MAIL FROM:<a@example.com>');
      assert.equal(mail.code, 530);
      assert.match(mail.text, /^5\.7\.0 Authentication required/);
      const rcpt = await client.send('RCPT TO:<victim@remote.test>');
      assert.ok(rcpt.code === 530 || rcpt.code === 503, `${rcpt.code} ${rcpt.text}`);
      await client.quit();
    }
  });

  test('wrong password: 535 5.7.8 and a log line naming user and client address', async () => {
    const client = await SmtpClient.connect(daemon.ports.submissions, { implicitTls: true });
    await client.ehlo();
    const plain = await client.authPlain(DEFAULT_USER.name, 'wrong password');
    assert.equal(plain.code, 535);
    assert.match(plain.text, /^5\.7\.8 /);
    const login = await client.authLogin('nosuchuser', 'whatever');
    assert.equal(login.code, 535);
    await client.quit();
    const line = await daemon.waitForLog((l) => l.msg?.startsWith('authentication failed') === true && l['user'] === DEFAULT_USER.name);
    assert.equal(line['client'], '127.0.0.1');
    assert.equal(line.level, 'warn');
    assert.equal(line.msg, 'authentication failed: client=127.0.0.1 user=app');
  });

  test('PLAIN with an authzid different from the user (impersonation): 535 5.7.8', async () => {
    const client = await SmtpClient.connect(daemon.ports.submissions, { implicitTls: true });
    await client.ehlo();
    const reply = await client.authPlain(DEFAULT_USER.name, DEFAULT_USER.password, 'admin');
    assert.equal(reply.code, 535);
    assert.match(reply.text, /^5\.7\.8 /);
    const same = await client.authPlain(DEFAULT_USER.name, DEFAULT_USER.password, DEFAULT_USER.name);
    assert.equal(same.code, 235);
    await client.quit();
  });

  test('MAIL FROM outside the allowed senders: 553 5.7.1', async () => {
    const client = await login();
    for (const sender of ['ceo@bank.test', 'dev@example.org', 'x@sub.example.com']) {
      const reply = await client.send(`MAIL FROM:<${sender}>`);
      assert.equal(reply.code, 553, sender);
      assert.match(reply.text, /^5\.7\.1 /);
    }
    assert.equal((await client.send('MAIL FROM:<ops@example.org>')).code, 250);
    await client.quit();
  });

  test('header From: outside the allowed senders: 550 5.7.1 after DATA, nothing spooled', async () => {
    const before = spooledCount();
    const client = await login(true);
    for (const from of ['From: ceo@bank.test', 'From: a@example.com\r\nFrom: b@example.com', 'From: team: x@bank.test;']) {
      assert.equal((await client.send('MAIL FROM:<a@example.com>')).code, 250);
      assert.equal((await client.send('RCPT TO:<b@remote.test>')).code, 250);
      const reply = await client.data(`${from}\r\nSubject: x\r\n\r\nbody\r\n`);
      assert.equal(reply.code, 550, from);
      assert.match(reply.text, /^5\.7\.1 /);
    }
    await client.quit();
    assert.equal(spooledCount(), before);
  });

  test('SIZE= over the limit at MAIL FROM: 552 5.3.4', async () => {
    const client = await login();
    const reply = await client.send(`MAIL FROM:<a@example.com> SIZE=${MAX_SIZE + 1}`);
    assert.equal(reply.code, 552);
    assert.match(reply.text, /^5\.3\.4 /);
    await client.quit();
  });

  test('DATA over the limit: 552 5.3.4, nothing spooled, session still usable', async () => {
    const before = spooledCount();
    const client = await login();
    await client.send('MAIL FROM:<a@example.com>');
    await client.send('RCPT TO:<b@remote.test>');
    const big = `From: a@example.com\r\n\r\n${'x'.repeat(998)}\r\n`.repeat(Math.ceil((MAX_SIZE * 2) / 1000));
    const reply = await client.data(big);
    assert.equal(reply.code, 552);
    assert.match(reply.text, /^5\.3\.4 /);
    assert.equal(spooledCount(), before);
    await client.send('MAIL FROM:<a@example.com>');
    await client.send('RCPT TO:<b@remote.test>');
    assert.equal((await client.data('From: a@example.com\r\n\r\nsmall\r\n')).code, 250);
    await client.quit();
  });

  test('recipients past limits.maxRecipients: 452 4.5.3', async () => {
    const client = await login();
    await client.send('MAIL FROM:<a@example.com>');
    for (let i = 0; i < MAX_RCPTS; i++) assert.equal((await client.send(`RCPT TO:<r${i}@remote.test>`)).code, 250);
    const reply = await client.send('RCPT TO:<one-too-many@remote.test>');
    assert.equal(reply.code, 452);
    assert.match(reply.text, /^4\.5\.3 /);
    assert.equal((await client.data('From: a@example.com\r\n\r\nx\r\n')).code, 250);
    await client.quit();
  });

  test('user changes apply to the running daemon without a restart', async () => {
    await daemon.addUser({ name: 'temp', password: 'first-password', allow: ['@example.com'] });
    const port = daemon.ports.submissions;
    (await authenticatedClient(port, 'temp', 'first-password', true)).close();
    const passwd = await daemon.cli(['user', 'passwd', 'temp', '--password-stdin'], 'second-password\n');
    assert.equal(passwd.code, 0, passwd.stderr);
    await assert.rejects(authenticatedClient(port, 'temp', 'first-password', true), /535/);
    (await authenticatedClient(port, 'temp', 'second-password', true)).close();
    assert.equal((await daemon.cli(['user', 'del', 'temp'])).code, 0);
    await assert.rejects(authenticatedClient(port, 'temp', 'second-password', true), /535/);
  });
});
