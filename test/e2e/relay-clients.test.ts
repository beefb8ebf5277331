// The relay listener (listen.relay, relay.clients): a legacy client that can do neither AUTH nor TLS
// (swaks bound to an allowed loopback address) delivers, DKIM-signed; an address outside every
// client's networks gets 554 5.7.1 instead of the greeting, is counted, and nothing reaches the
// receiver; a relay client's sender and header From: rules, its own quota, the most specific network
// winning, AUTH after STARTTLS switching to the user's senders, and smuggling on this listener too.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { queueIdOf, runProcess } from '../helpers/clients.js';
import { DEFAULT_USER, TestDaemon } from '../helpers/daemon.js';
import { allFinal, deliveryConfig, waitForRecipients, withSpool } from '../helpers/delivery.js';
import { keyEntry, makeKey, publish, verifyDkim } from '../helpers/dkim.js';
import { DnsServer } from '../helpers/dns-server.js';
import { FakeMx, freePort } from '../helpers/fake-mx.js';
import { SmtpClient } from '../helpers/smtp-client.js';
import { smugglingPayload } from '../helpers/smuggling.js';

const SCANNER = '127.0.0.5';
const OUTSIDER = '127.0.0.6';
const LAN_HOST = '127.0.1.10';
const ERP = '127.0.1.9';

interface SwaksResult {
  readonly code: number | null;
  /** Every reply line swaks printed ("<- 250 …", "<** 554 …"), without the arrow. */
  readonly replies: string[];
}

/** swaks as a legacy device uses it: no AUTH, no TLS, bound to `from`. */
async function swaks(port: number, localAddress: string, sender: string, to: string, message: string): Promise<SwaksResult> {
  const args = ['--server', `127.0.0.1:${port}`, '--local-interface', localAddress, '--from', sender, '--to', to, '--data', '-'];
  const result = await runProcess('swaks', args, message);
  const replies = result.stdout
    .split('\n')
    .filter((l) => /^<(\*\*|-)\s/.test(l))
    .map((l) => l.replace(/^<(\*\*|-)\s+/, ''));
  return { code: result.code, replies };
}

const message = (from: string, to: string, subject: string): string =>
  `From: Scanner <${from}>\r\nTo: ${to}\r\nSubject: ${subject}\r\n\r\nScan attached (not really).\r\n`;

describe('relay listener for clients without AUTH or TLS', { timeout: 60_000 }, () => {
  let dns: DnsServer;
  let mx: FakeMx;
  let daemon: TestDaemon;
  let keyDir: string;
  let metrics = '';

  before(async () => {
    dns = await DnsServer.start();
    const port = await freePort('127.0.0.2');
    mx = await FakeMx.start('127.0.0.2', port);
    dns
      .add('remote.test', { type: 'MX', exchange: 'mx.remote.test', preference: 10 })
      .add('mx.remote.test', { type: 'A', address: '127.0.0.2' });
    keyDir = mkdtempSync(join(tmpdir(), 'smarthost-relay-dkim-'));
    const key = makeKey(keyDir, { domain: 'printers.example.com', selector: 'p2026', algorithm: 'ed25519' });
    publish(dns, [key]);
    daemon = await TestDaemon.start({
      config: deliveryConfig(dns, port, {
        listen: { relay: ['127.0.0.1:0'] },
        relay: {
          clients: [
            { name: 'scanners', networks: [`${SCANNER}/32`], allow: ['@printers.example.com'] },
            { name: 'lan', networks: ['127.0.1.0/24'], allow: ['lan@printers.example.com'] },
            { name: 'erp', networks: [ERP], allow: ['erp@printers.example.com'] },
          ],
        },
        limits: { users: { 'relay:lan': { messagesPerHour: 1 } } },
        dkim: { keys: [keyEntry(key)] },
        metrics: { listen: '127.0.0.1:0' },
      }),
    });
    const listening = daemon.logs.find((l) => l.msg === 'listening' && l['listener'] === 'metrics');
    metrics = `http://127.0.0.1:${String(listening?.['port'])}/metrics`;
  });
  after(async () => {
    await daemon.cleanup();
    await Promise.all([mx.close(), dns.close()]);
    rmSync(keyDir, { recursive: true, force: true });
  });

  test('swaks without AUTH and TLS from an allowed address delivers, DKIM-signed', async () => {
    const to = 'office@remote.test';
    const result = await swaks(
      daemon.ports.relay,
      SCANNER,
      'scan@printers.example.com',
      to,
      message('scan@printers.example.com', to, 'scan'),
    );
    assert.equal(result.code, 0, result.replies.join('\n'));
    const id = queueIdOf(result.replies.find((l) => l.startsWith('250 2.0.0')) ?? '');
    assert.ok(id, result.replies.join('\n'));
    await waitForRecipients(daemon, id, allFinal);
    const received = mx.received.find((m) => m.to.includes(to));
    assert.ok(received, 'delivered');
    const text = received.data.toString('latin1');
    assert.match(text, /^Received: from \S+ \(\[127\.0\.0\.5\]\)\r\n\tby relay\.test \(smarthost\) with ESMTP id /m);
    assert.doesNotMatch(text, /Authenticated sender/);
    const verdicts = await verifyDkim(received.data, dns);
    assert.deepEqual(
      verdicts.mailauth.map((v) => v.result),
      ['pass'],
    );
    assert.deepEqual(
      verdicts.python.map((v) => v.result),
      ['pass'],
    );
    const accepted = await daemon.waitForLog((l) => l.msg === 'accepted' && l['queueId'] === id);
    assert.equal(accepted['user'], 'relay:scanners');
    assert.equal(accepted['client'], SCANNER);
    assert.equal(
      withSpool(daemon, (db) => (db.prepare('SELECT username FROM messages WHERE id = ?').get(id) as { username: string }).username),
      'relay:scanners',
    );
  });

  test('an address outside every network gets 554 5.7.1 at once, is counted, and nothing is delivered', async () => {
    const before = mx.received.length;
    const to = 'office@remote.test';
    const result = await swaks(
      daemon.ports.relay,
      OUTSIDER,
      'scan@printers.example.com',
      to,
      message('scan@printers.example.com', to, 'outsider'),
    );
    assert.notEqual(result.code, 0);
    assert.match(result.replies[0] ?? '', /^554 5\.7\.1 .*127\.0\.0\.6.*not in the networks of any relay client/);
    assert.equal(result.replies.length, 1, 'nothing after the refusal');
    await daemon.waitForLog((l) => l.msg === `connection refused: client=${OUTSIDER} is not in any relay client's networks`);
    const text = await (await fetch(metrics)).text();
    assert.match(text, /^smarthost_connections_refused_total\{reason="not_listed"\} 1$/m);
    assert.equal(
      withSpool(
        daemon,
        (db) =>
          (
            db.prepare("SELECT count(*) AS n FROM messages WHERE username = 'relay:scanners' AND client_address = ?").get(OUTSIDER) as {
              n: number;
            }
          ).n,
      ),
      0,
    );
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(mx.received.length, before);
  });

  test('a sender outside the client allow list gets 553; a header From: outside it gets 550', async () => {
    const to = 'office@remote.test';
    const wrongSender = await swaks(daemon.ports.relay, SCANNER, 'ceo@example.com', to, message('scan@printers.example.com', to, 'x'));
    assert.ok(
      wrongSender.replies.some((l) => /^553 5\.7\.1 <ceo@example\.com>: Sender address rejected: not owned by user relay:scanners/.test(l)),
      wrongSender.replies.join('\n'),
    );
    const wrongFrom = await swaks(daemon.ports.relay, SCANNER, 'scan@printers.example.com', to, message('ceo@example.com', to, 'x'));
    assert.ok(
      wrongFrom.replies.some((l) => /^550 5\.7\.1 Message rejected: header From: <ceo@example\.com> is not owned/.test(l)),
      wrongFrom.replies.join('\n'),
    );
  });

  test('the most specific network wins, and each client has its own quota', async () => {
    const client = await SmtpClient.connect(daemon.ports.relay, { localAddress: ERP });
    await client.ehlo();
    assert.equal((await client.send('MAIL FROM:<lan@printers.example.com>')).code, 553, 'the /32 client erp, not lan');
    assert.equal((await client.send('MAIL FROM:<erp@printers.example.com>')).code, 250);
    await client.quit();

    const to = 'office@remote.test';
    const first = await swaks(daemon.ports.relay, LAN_HOST, 'lan@printers.example.com', to, message('lan@printers.example.com', to, 'one'));
    assert.equal(first.code, 0, first.replies.join('\n'));
    const second = await swaks(
      daemon.ports.relay,
      LAN_HOST,
      'lan@printers.example.com',
      to,
      message('lan@printers.example.com', to, 'two'),
    );
    assert.ok(
      second.replies.some((l) => /^451 4\.7\.1 Error: user relay:lan may send 1 messages per hour/.test(l)),
      second.replies.join('\n'),
    );
    const other = await swaks(
      daemon.ports.relay,
      SCANNER,
      'scan@printers.example.com',
      to,
      message('scan@printers.example.com', to, 'three'),
    );
    assert.equal(other.code, 0, 'another client is not affected');
  });

  test('a relay client that authenticates after STARTTLS sends as its user', async () => {
    const client = await SmtpClient.connect(daemon.ports.relay, { localAddress: SCANNER });
    const ehlo = await client.ehlo();
    assert.ok(ehlo.lines.some((l) => l.includes('STARTTLS')));
    assert.ok(!ehlo.lines.some((l) => l.includes('AUTH')), 'no AUTH before TLS');
    assert.equal((await client.send('MAIL FROM:<alerts@example.com>')).code, 553, 'not a scanners sender');
    assert.equal((await client.send('RSET')).code, 250);
    assert.equal((await client.starttls()).code, 220);
    await client.ehlo();
    assert.equal((await client.authPlain(DEFAULT_USER.name, DEFAULT_USER.password)).code, 235);
    assert.equal((await client.send('MAIL FROM:<alerts@example.com>')).code, 250, "the user's sender");
    assert.equal((await client.send('RSET')).code, 250);
    assert.equal((await client.send('MAIL FROM:<scan@printers.example.com>')).code, 553, "the client's senders no longer apply");
    await client.quit();
  });

  test('SMTP smuggling on the relay listener: one message, the look-alike stays content', async () => {
    const client = await SmtpClient.connect(daemon.ports.relay, { localAddress: SCANNER });
    await client.ehlo();
    for (const variant of ['\n.\n', '\r\n.\r', '\r\n\x00.\r\n']) {
      const payload = smugglingPayload(variant, true).replaceAll('a@example.com', 'scan@printers.example.com');
      assert.equal((await client.send('MAIL FROM:<scan@printers.example.com>')).code, 250);
      assert.equal((await client.send('RCPT TO:<legit@remote.test>')).code, 250);
      assert.equal((await client.send('DATA')).code, 354);
      client.write(payload);
      const reply = await client.read();
      assert.equal(reply.code, 250, reply.text);
      assert.equal((await client.send('NOOP')).code, 250, 'no smuggled command ran');
    }
    await client.quit();
    const victims = withSpool(
      daemon,
      (db) => (db.prepare("SELECT count(*) AS n FROM recipients WHERE address = 'victim@remote.test'").get() as { n: number }).n,
    );
    assert.equal(victims, 0);
  });
});
