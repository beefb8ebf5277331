// DKIM as receivers see it: messages submitted to the real daemon, delivered through loopback DNS to
// a receiving MTA on loopback (an smtp-server MX on 127.0.0.2, and Postfix's smtp-sink on 127.0.0.3),
// verify as "pass" with mailauth and with python3-dkim, RSA and Ed25519 side by side; a DSN from
// MAILER-DAEMON@hostname is signed for the hostname's key.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { TestDaemon } from '../helpers/daemon.js';
import { allFinal, deliveryConfig, dsnsFor, submit, waitForRecipients } from '../helpers/delivery.js';
import { keyEntry, makeKey, publish, verifyDkim, type Verdict } from '../helpers/dkim.js';
import { DnsServer } from '../helpers/dns-server.js';
import { FakeMx, SmtpSink, freePort } from '../helpers/fake-mx.js';

const MESSAGES: Record<string, string> = {
  'plain ASCII': 'Subject: disk space low\r\n\r\nThe disk is 91% full.\r\n.leading dot\r\n',
  '8-bit body':
    'Subject: 8bit\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nGrüße, naïve café, ½ ± 3°C\r\n',
  'very long lines': `Subject: ${'long subject '.repeat(100)}\r\n\r\n${'x'.repeat(5000)}\r\n${'word  \t '.repeat(500)}\r\n`,
  'bare LF line endings': 'Subject: bare LF\n\nline one\nline two  \n\nlast\n',
};

const sortBySelector = (v: readonly Verdict[]): Verdict[] => [...v].sort((a, b) => a.selector.localeCompare(b.selector));

describe('DKIM signatures verified at the receiving MTA', { timeout: 60_000 }, () => {
  let dns: DnsServer;
  let mx: FakeMx;
  let sink: SmtpSink;
  let daemon: TestDaemon;
  let keyDir: string;

  before(async () => {
    dns = await DnsServer.start();
    const port = await freePort('127.0.0.2');
    mx = await FakeMx.start('127.0.0.2', port, { rcpt: (address) => (address.startsWith('bad') ? 'reject' : 'accept') });
    sink = await SmtpSink.start('127.0.0.3', port);
    dns
      .add('remote.test', { type: 'MX', exchange: 'mx.remote.test', preference: 10 })
      .add('mx.remote.test', { type: 'A', address: '127.0.0.2' });
    dns.add('example.com', { type: 'MX', exchange: 'mx.remote.test', preference: 10 });
    dns
      .add('sink.test', { type: 'MX', exchange: 'sink.remote.test', preference: 10 })
      .add('sink.remote.test', { type: 'A', address: '127.0.0.3' });
    keyDir = mkdtempSync(join(tmpdir(), 'smarthost-dkim-'));
    const keys = [
      makeKey(keyDir, { domain: 'example.com', selector: 'r2026', algorithm: 'rsa' }),
      makeKey(keyDir, { domain: 'example.com', selector: 'e2026', algorithm: 'ed25519' }),
      makeKey(keyDir, { domain: 'relay.test', selector: 'bounce', algorithm: 'ed25519' }),
    ];
    publish(dns, keys);
    daemon = await TestDaemon.start({ config: deliveryConfig(dns, port, { dkim: { keys: keys.map(keyEntry) } }) });
  });
  after(async () => {
    await daemon.cleanup();
    await Promise.all([mx.close(), dns.close()]);
    sink.stop();
    rmSync(keyDir, { recursive: true, force: true });
  });

  const bothKeys: Verdict[] = [
    { domain: 'example.com', selector: 'e2026', algorithm: 'ed25519-sha256', result: 'pass' },
    { domain: 'example.com', selector: 'r2026', algorithm: 'rsa-sha256', result: 'pass' },
  ];

  for (const [name, rest] of Object.entries(MESSAGES)) {
    test(`${name}: delivered bytes verify with mailauth and python3-dkim`, async () => {
      const to = `${name.replace(/\W+/g, '-')}@remote.test`;
      const text = `From: Alerts <alerts@example.com>\r\nTo: ${to}\r\n${rest}`;
      const id = await submit(daemon, [to], name === 'bare LF line endings' ? text.replace(/\r\n/g, '\n') : text);
      await waitForRecipients(daemon, id, allFinal);
      const received = mx.received.find((m) => m.to.includes(to));
      assert.ok(received, 'delivered to the MX');
      const verdicts = await verifyDkim(received.data, dns);
      assert.deepEqual(sortBySelector(verdicts.mailauth), bothKeys, 'mailauth');
      assert.deepEqual(sortBySelector(verdicts.python), bothKeys, 'python3-dkim');
    });
  }

  test('a message relayed to Postfix smtp-sink verifies there too', async () => {
    const id = await submit(
      daemon,
      ['ops@sink.test'],
      'From: alerts@example.com\r\nTo: ops@sink.test\r\nSubject: to a real MTA\r\n\r\nhello\r\n',
    );
    await waitForRecipients(daemon, id, allFinal);
    const [file] = await sink.waitFor(1);
    // smtp-sink writes its own X-* envelope fields above the message, as a later hop adds trace fields.
    const verdicts = await verifyDkim(Buffer.from(file ?? '', 'utf8'), dns);
    assert.deepEqual(sortBySelector(verdicts.mailauth), bothKeys);
    assert.deepEqual(sortBySelector(verdicts.python), bothKeys);
  });

  test('a DSN from MAILER-DAEMON@relay.test is signed with the relay.test key', async () => {
    const id = await submit(
      daemon,
      ['bad-user@remote.test'],
      'From: alerts@example.com\r\nTo: bad-user@remote.test\r\nSubject: will bounce\r\n\r\nx\r\n',
    );
    await waitForRecipients(daemon, id, allFinal);
    const [dsn] = dsnsFor(daemon, id);
    assert.ok(dsn, 'a DSN is spooled');
    const verdicts = await verifyDkim(Buffer.from(dsn.body, 'utf8'), dns);
    const expected = [{ domain: 'relay.test', selector: 'bounce', algorithm: 'ed25519-sha256', result: 'pass' }];
    assert.deepEqual(verdicts.mailauth, expected);
    assert.deepEqual(verdicts.python, expected);
  });
});
