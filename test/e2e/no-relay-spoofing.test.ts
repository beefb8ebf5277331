// No relay without AUTH and no spoofing, tried against the real daemon the way an attacker would:
// commands before AUTH, AUTH before STARTTLS, PLAIN authzid tricks, TLS 1.0 and 1.1 (offered for
// real, proven against a server that accepts them), another user's domain in MAIL FROM and in the
// header From:, several From: fields, display-name, encoded-word and group tricks, and recipients
// given as IP addresses. A refused transaction leaves nothing in the spool.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import tls from 'node:tls';
import { after, before, describe, test } from 'node:test';
import { ROOT, TestDaemon } from '../helpers/daemon.js';
import { authenticatedClient, encryptedClient, SmtpClient } from '../helpers/smtp-client.js';

const ALICE = { name: 'alice', password: 'alice password 1', allow: ['@alice.example'] };
const BOB = { name: 'bob', password: 'bob password 1', allow: ['@bob.example'] };
const OLD_TLS = ['TLSv1', 'TLSv1.1'] as const;
/** What a client needs to offer TLS 1.0/1.1 at all with OpenSSL 3 (security level 0). */
const oldTls = (version: (typeof OLD_TLS)[number]): tls.ConnectionOptions => ({
  minVersion: version,
  maxVersion: version,
  ciphers: 'DEFAULT@SECLEVEL=0',
  rejectUnauthorized: false,
});

/** Resolves with the negotiated protocol, or rejects with the handshake error. */
function handshake(connect: (done: (err: Error | null, protocol?: string | null) => void) => void): Promise<string | null> {
  return new Promise((resolve, reject) => connect((err, protocol) => (err ? reject(err) : resolve(protocol ?? null))));
}

describe('no relay without AUTH, no spoofing', () => {
  let daemon: TestDaemon;
  before(async () => {
    daemon = await TestDaemon.start({ users: [ALICE, BOB], config: { authFailures: { maxPerClient: 100, slowAfter: 100 } } });
  });
  after(() => daemon.cleanup());

  const spooled = (): number => {
    const db = daemon.openSpool();
    try {
      return (db.prepare('SELECT count(*) AS n FROM messages').get() as { n: number }).n;
    } finally {
      db.close();
    }
  };
  const alice = (): Promise<SmtpClient> => authenticatedClient(daemon.ports.submissions, ALICE.name, ALICE.password, true);

  test('MAIL, RCPT and DATA before AUTH are refused on both listeners, after TLS too', async () => {
    for (const implicitTls of [false, true]) {
      const client = await encryptedClient(implicitTls ? daemon.ports.submissions : daemon.ports.submission, implicitTls);
      const rcpt = await client.send('RCPT TO:<victim@remote.test>');
      assert.ok(rcpt.code === 530 || rcpt.code === 503, `RCPT first: ${rcpt.code}`);
      assert.equal((await client.send('MAIL FROM:<a@alice.example>')).code, 530);
      const again = await client.send('RCPT TO:<victim@remote.test>');
      assert.ok(again.code === 530 || again.code === 503, `RCPT: ${again.code}`);
      const data = await client.send('DATA');
      assert.ok(data.code === 530 || data.code === 503, `DATA: ${data.code}`);
      await client.quit();
    }
    assert.equal(spooled(), 0);
  });

  test('AUTH before STARTTLS on 587: 538 5.7.11, and the password is never checked', async () => {
    const client = await SmtpClient.connect(daemon.ports.submission);
    await client.ehlo();
    assert.equal((await client.authPlain(ALICE.name, ALICE.password)).code, 538);
    assert.equal((await client.send('MAIL FROM:<a@alice.example>')).code, 530);
    await client.quit();
  });

  test('PLAIN impersonation: another authzid, or only an authzid, gets 535 5.7.8', async () => {
    const client = await SmtpClient.connect(daemon.ports.submissions, { implicitTls: true });
    await client.ehlo();
    const other = await client.authPlain(ALICE.name, ALICE.password, BOB.name);
    assert.equal(other.code, 535);
    assert.match(other.text, /^5\.7\.8 /);
    const onlyAuthzid = await client.send(`AUTH PLAIN ${Buffer.from(`${ALICE.name}\0\0${ALICE.password}`).toString('base64')}`);
    assert.equal(onlyAuthzid.code, 535);
    assert.equal((await client.send('MAIL FROM:<a@bob.example>')).code, 530);
    await client.quit();
  });

  for (const version of OLD_TLS) {
    test(`${version} is refused on 465 and at STARTTLS on 587 (the client really offers it)`, async () => {
      const fixtures = join(ROOT, 'test', 'fixtures', 'tls');
      const permissive = tls.createServer(
        {
          key: readFileSync(join(fixtures, 'key.pem')),
          cert: readFileSync(join(fixtures, 'cert.pem')),
          minVersion: 'TLSv1',
          ciphers: 'DEFAULT@SECLEVEL=0',
        },
        (s) => s.end(),
      );
      await new Promise<void>((resolve) => permissive.listen(0, '127.0.0.1', resolve));
      const port = (permissive.address() as { port: number }).port;
      try {
        const negotiated = await handshake((done) => {
          const socket = tls.connect({ host: '127.0.0.1', port, ...oldTls(version) }, () => done(null, socket.getProtocol()));
          socket.on('error', done);
        });
        assert.equal(negotiated, version, 'control: this client speaks the old version');
      } finally {
        permissive.close();
      }
      await assert.rejects(
        SmtpClient.connect(daemon.ports.submissions, { implicitTls: true, tlsOptions: oldTls(version) }),
        /version|protocol|alert/i,
      );
      const plain = await SmtpClient.connect(daemon.ports.submission);
      await plain.ehlo();
      assert.equal((await plain.send('STARTTLS')).code, 220);
      const raw = (plain as unknown as { socket: import('node:net').Socket }).socket;
      raw.removeAllListeners('data');
      await assert.rejects(
        handshake((done) => {
          const secure = tls.connect({ socket: raw, ...oldTls(version) }, () => done(null, secure.getProtocol()));
          secure.on('error', done);
        }),
        /version|protocol|alert/i,
      );
      plain.close();
    });
  }

  test("another user's domain in MAIL FROM: 553 5.7.1, however it is spelled", async () => {
    const client = await alice();
    for (const sender of [
      'boss@bob.example',
      'boss@BOB.example',
      'boss@bob.example.',
      'a@alice.example.bob.example',
      'a@аlice.example',
      '<a@alice.example>@bob.example',
    ]) {
      const reply = await client.send(`MAIL FROM:<${sender}>`);
      assert.ok(reply.code === 553 || reply.code === 501, `${sender}: ${reply.code} ${reply.text}`);
    }
    assert.equal((await client.send('MAIL FROM:<a@alice.example>')).code, 250);
    await client.quit();
    const logged = await daemon.waitForLog((l) => l.msg === 'sender refused' && l['from'] === 'boss@bob.example');
    assert.equal(logged.level, 'warn');
    assert.equal(logged['code'], 'SMARTHOST_E_SENDER_NOT_OWNED', 'with its reason code, so grep finds it');
    assert.equal(logged['user'], 'alice');
    assert.match(String(logged['reply']), /^553 5\.7\.1 /);
  });

  const refusedFroms: Record<string, string> = {
    "another user's domain": 'From: Boss <boss@bob.example>',
    'two From: fields': 'From: a@alice.example\r\nFrom: boss@bob.example',
    'two mailboxes': 'From: a@alice.example, boss@bob.example',
    'an unquoted address as display name': 'From: boss@bob.example <a@alice.example>',
    'a second angle address': 'From: "Boss" <a@alice.example> <boss@bob.example>',
    'an encoded-word hiding the domain': 'From: =?utf-8?B?Ym9zc0Bib2IuZXhhbXBsZQ==?= <a@alice.example>',
    'an encoded-word as the address': 'From: =?utf-8?B?Ym9zc0Bib2IuZXhhbXBsZQ==?=',
    'encoded-words in the local part (Mailsploit)': 'From: =?utf-8?b?Ym9zc0Bib2IuZXhhbXBsZQ==?==?utf-8?Q?=00?=@alice.example',
    'a group holding the domain': 'From: Board: boss@bob.example;',
    'a group holding an allowed address': 'From: Board: a@alice.example;',
    'a NUL cutting the display name': 'From: boss@bob.example\u0000 <a@alice.example>',
    'a source route': 'From: <@alice.example:boss@bob.example>',
  };

  test('header From: tricks: 550 5.7.1 after DATA, nothing spooled', async () => {
    const before = spooled();
    const client = await alice();
    for (const [what, from] of Object.entries(refusedFroms)) {
      assert.equal((await client.send('MAIL FROM:<a@alice.example>')).code, 250);
      assert.equal((await client.send('RCPT TO:<x@remote.test>')).code, 250);
      const reply = await client.data(`${from}\r\nSubject: x\r\n\r\nbody\r\n`);
      assert.equal(reply.code, 550, `${what}: ${reply.code} ${reply.text}`);
      assert.match(reply.text, /^5\.7\.1 /);
    }
    await client.quit();
    assert.equal(spooled(), before);
  });

  test('a display name that merely looks like an address is fine: the reader sees the real one', async () => {
    const client = await alice();
    for (const from of ['From: "ceo@bank.com" <x@alice.example>', 'From: x@alice.example (ceo@bank.com)']) {
      await client.send('MAIL FROM:<x@alice.example>');
      await client.send('RCPT TO:<y@remote.test>');
      assert.equal((await client.data(`${from}\r\n\r\nbody\r\n`)).code, 250, from);
    }
    await client.quit();
  });

  test('recipients given as IP addresses or address literals: 501 5.1.3', async () => {
    const client = await alice();
    await client.send('MAIL FROM:<a@alice.example>');
    for (const rcpt of ['x@[127.0.0.1]', 'x@127.0.0.1', 'x@[IPv6:::1]', 'x@10.0.0.1']) {
      const reply = await client.send(`RCPT TO:<${rcpt}>`);
      assert.ok(reply.code === 501 || reply.code === 553, `${rcpt}: ${reply.code} ${reply.text}`);
    }
    await client.quit();
    const logged = await daemon.waitForLog((l) => l.msg === 'recipient refused' && l['to'] === 'x@10.0.0.1');
    assert.equal(logged['code'], 'SMARTHOST_E_SYNTAX');
  });
});
