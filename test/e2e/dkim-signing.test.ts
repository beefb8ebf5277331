// Messages submitted to the real daemon are DKIM-signed before they are spooled, and the spooled bytes
// (what delivery sends, unchanged) verify as "pass" with mailauth and with python3-dkim, both asking a
// loopback DNS server for the keys: RSA and Ed25519 side by side, for plain ASCII, 8-bit bodies,
// UTF-8 headers, very long lines, multipart with attachments and bare-LF submissions. A changed header
// or body fails; a From: domain with a key only on its parent is signed for the parent; one with no
// key is accepted unsigned, or refused with 550 5.7.1 under dkim.requireKey.
// A delivery-based variant passes what the receiving MTA on loopback got to the same verifyDkim().
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import MailComposer from 'nodemailer/lib/mail-composer';
import { queueIdOf } from '../helpers/clients.js';
import { TestDaemon, type TestUser } from '../helpers/daemon.js';
import { keyEntry, makeKey, publish, verifyDkim, verifyWithPython, type TestKey, type Verdict } from '../helpers/dkim.js';
import { DnsServer } from '../helpers/dns-server.js';
import { authenticatedClient } from '../helpers/smtp-client.js';

const USER: TestUser = {
  name: 'app',
  password: 'correct horse battery staple',
  allow: ['@example.com', '@mail.example.org', '@example.net'],
};

const HEAD =
  'From: Alerts <alerts@example.com>\r\nTo: someone@remote.test\r\nDate: Wed, 25 Nov 2026 10:00:00 +0000\r\nMessage-ID: <m1@example.com>\r\n';

const MESSAGES: Record<string, { text: string; params?: string }> = {
  'plain ASCII': {
    text: `${HEAD}Subject: disk space low\r\n\r\nThe disk is 91% full.\r\n.leading dot\r\n  indented \t with tabs  \r\n\r\n\r\n`,
  },
  '8-bit body': {
    text: `${HEAD}Subject: 8bit\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nGrüße, naïve café, ½ ± 3°C, ©®\r\n`,
    params: ' BODY=8BITMIME',
  },
  'UTF-8 headers': {
    text:
      'From: Jörg Müller <alerts@example.com>\r\nTo: Zoë Ångström <someone@remote.test>\r\nSubject: Grüße aus Köln — 日本語のテスト ✓\r\nDate: Wed, 25 Nov 2026 10:00:00 +0000\r\n' +
      'MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nÜberall UTF-8.\r\n',
    params: ' SMTPUTF8 BODY=8BITMIME',
  },
  'very long lines': {
    text: `${HEAD}Subject: ${'long subject '.repeat(120)}\r\nCc: ${Array.from({ length: 40 }, (_, i) => `cc${i}@remote.test`).join(',\r\n ')}\r\n\r\n${'x'.repeat(20_000)}\r\n${'word  \t '.repeat(2000)}\r\n`,
  },
  'bare LF line endings': { text: `${HEAD}Subject: bare LF\r\n\r\nline one\nline two  \n\nlast\n`.replace(/\r\n/g, '\n') },
};

describe('DKIM signing at submission', () => {
  let dns: DnsServer;
  let daemon: TestDaemon;
  let keyDir: string;
  let keys: TestKey[];

  before(async () => {
    dns = await DnsServer.start();
    keyDir = mkdtempSync(join(tmpdir(), 'smarthost-dkim-'));
    keys = [
      makeKey(keyDir, { domain: 'example.com', selector: 'r2026', algorithm: 'rsa' }),
      makeKey(keyDir, { domain: 'example.com', selector: 'e2026', algorithm: 'ed25519' }),
      makeKey(keyDir, { domain: 'example.com', selector: 'e2025', algorithm: 'ed25519', active: false }),
      makeKey(keyDir, { domain: 'example.org', selector: 'o1', algorithm: 'ed25519' }),
    ];
    publish(dns, keys);
    MESSAGES['multipart with attachments'] = { text: await multipartMessage() };
    daemon = await TestDaemon.start({ users: [USER], config: { dns: { servers: [dns.address] }, dkim: { keys: keys.map(keyEntry) } } });
  });
  after(async () => {
    await daemon.cleanup();
    await dns.close();
    rmSync(keyDir, { recursive: true, force: true });
  });

  const bothKeys = (algorithm?: string): Verdict[] => [
    { domain: 'example.com', selector: 'e2026', algorithm: algorithm ?? 'ed25519-sha256', result: 'pass' },
    { domain: 'example.com', selector: 'r2026', algorithm: algorithm ?? 'rsa-sha256', result: 'pass' },
  ];

  for (const name of [...Object.keys(MESSAGES), 'multipart with attachments']) {
    test(`${name}: RSA and Ed25519 signatures verify as pass with mailauth and python3-dkim`, async () => {
      const message = MESSAGES[name];
      assert.ok(message);
      const stored = await submitAndRead(daemon, 'alerts@example.com', message.text, message.params);
      assert.equal(stored.indexOf(0xa0), -1, 'fixture avoids byte 0xA0 (see the python-only test below)');
      const verdicts = await verifyDkim(stored, dns);
      assert.deepEqual(sorted(verdicts.mailauth), bothKeys(), 'mailauth');
      assert.deepEqual(sorted(verdicts.python), bothKeys(), 'python3-dkim');
    });
  }

  test('the signature: relaxed/relaxed, t=, From oversigned, no trace fields, inactive keys unused', async () => {
    const stored = (await submitAndRead(daemon, 'alerts@example.com', MESSAGES['plain ASCII']?.text ?? '')).toString('latin1');
    const fields =
      stored
        .split('\r\n\r\n')[0]
        ?.split(/\r\n(?![ \t])/)
        .filter((f) => /^DKIM-Signature:/i.test(f)) ?? [];
    assert.equal(fields.length, 2);
    for (const field of fields) {
      const tags = Object.fromEntries(
        field
          .replace(/^DKIM-Signature:/i, '')
          .split(';')
          .map((t) => t.trim().split('='))
          .map(([k, ...v]) => [k, v.join('=').replace(/\s+/g, '')]),
      );
      assert.equal(tags['c'], 'relaxed/relaxed');
      assert.ok(Math.abs(Number(tags['t']) - Date.now() / 1000) < 120, `t=${tags['t']}`);
      assert.deepEqual(
        tags['h']?.split(':').filter((h: string) => h === 'from'),
        ['from', 'from'],
      );
      assert.ok(!tags['h']?.includes('received'));
      assert.notEqual(tags['s'], 'e2025');
    }
  });

  test('a changed header or body after signing fails; a Received: added by a later hop does not', async () => {
    const stored = (await submitAndRead(daemon, 'alerts@example.com', MESSAGES['plain ASCII']?.text ?? '')).toString('latin1');
    const cases = {
      subject: stored.replace('Subject: disk space low', 'Subject: disk space fine'),
      body: stored.replace('91% full', '19% full'),
      'added From:': `From: ceo@example.com\r\n${stored}`,
    };
    for (const [what, text] of Object.entries(cases)) {
      const verdicts = await verifyDkim(Buffer.from(text, 'latin1'), dns);
      for (const [verifier, list] of Object.entries(verdicts)) {
        assert.equal(list.length, 2, `${what}/${verifier}`);
        for (const v of list) assert.match(v.result, /^(fail|neutral)$/, `${what}/${verifier}: ${v.result}`);
      }
    }
    const relayed = await verifyDkim(Buffer.from(`Received: from relay.test by mx.remote.test; now\r\n${stored}`, 'latin1'), dns);
    assert.deepEqual(sorted(relayed.mailauth), bothKeys());
    assert.deepEqual(sorted(relayed.python), bothKeys());
  });

  test('a UTF-8 header holding byte 0xA0 ("à") is canonicalised byte-exactly (python3-dkim passes)', async () => {
    // RFC 6376 relaxed canonicalisation treats only SP and HTAB as whitespace. mailauth 4.13's
    // verifier also collapses 0xA0, so it is not the reference for this one case.
    const text = `${HEAD}Subject: voilà, déjà vu\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nà bientôt\r\n`;
    const stored = await submitAndRead(daemon, 'alerts@example.com', text, ' SMTPUTF8');
    assert.deepEqual(sorted(await verifyWithPython(stored, dns)), bothKeys());
  });

  test('a From: domain without a key is signed with its nearest parent domain key (d=example.org)', async () => {
    const text = `${HEAD.replace('Alerts <alerts@example.com>', 'ops@mail.example.org')}Subject: parent\r\n\r\nbody\r\n`;
    const verdicts = await verifyDkim(await submitAndRead(daemon, 'ops@mail.example.org', text), dns);
    const expected = [{ domain: 'example.org', selector: 'o1', algorithm: 'ed25519-sha256', result: 'pass' }];
    assert.deepEqual(verdicts.mailauth, expected);
    assert.deepEqual(verdicts.python, expected);
  });

  test('a From: domain with no key at all is accepted unsigned, with a warning naming the queue ID', async () => {
    const text = `${HEAD.replace('Alerts <alerts@example.com>', 'news@example.net')}Subject: unsigned\r\n\r\nbody\r\n`;
    const { queueId, stored } = await submit(daemon, 'news@example.net', text);
    assert.ok(!/^DKIM-Signature:/im.test(stored.toString('latin1')));
    const warning = await daemon.waitForLog((l) => l.queueId === queueId && l.level === 'warn');
    assert.match(String(warning.msg), /no DKIM key/);
    assert.equal(warning['domain'], 'example.net');
  });
});

describe('DKIM with dkim.requireKey', () => {
  let daemon: TestDaemon;
  let keyDir: string;
  before(async () => {
    keyDir = mkdtempSync(join(tmpdir(), 'smarthost-dkim-'));
    const key = makeKey(keyDir, { domain: 'example.com', selector: 's1', algorithm: 'ed25519' });
    daemon = await TestDaemon.start({ users: [USER], config: { dkim: { requireKey: true, keys: [keyEntry(key)] } } });
  });
  after(async () => {
    await daemon.cleanup();
    rmSync(keyDir, { recursive: true, force: true });
  });

  test('a message from a domain without a key is refused with 550 5.7.1; one with a key is accepted', async () => {
    const client = await authenticatedClient(daemon.ports.submission, USER.name, USER.password);
    try {
      assert.equal((await client.send('MAIL FROM:<news@example.net>')).code, 250);
      assert.equal((await client.send('RCPT TO:<someone@remote.test>')).code, 250);
      const refused = await client.data('From: news@example.net\r\nSubject: x\r\n\r\nbody\r\n');
      assert.equal(refused.code, 550);
      assert.match(refused.text, /^5\.7\.1 .*no DKIM key.*example\.net/);
      assert.equal((await client.send('RSET')).code, 250);
      assert.equal((await client.send('MAIL FROM:<alerts@example.com>')).code, 250);
      assert.equal((await client.send('RCPT TO:<someone@remote.test>')).code, 250);
      assert.equal((await client.data('From: alerts@example.com\r\nSubject: x\r\n\r\nbody\r\n')).code, 250);
    } finally {
      await client.quit();
    }
  });
});

async function submit(daemon: TestDaemon, from: string, text: string, params = ''): Promise<{ queueId: string; stored: Buffer }> {
  const client = await authenticatedClient(daemon.ports.submission, USER.name, USER.password);
  try {
    assert.equal((await client.send(`MAIL FROM:<${from}>${params}`)).code, 250);
    assert.equal((await client.send('RCPT TO:<someone@remote.test>')).code, 250);
    const reply = await client.data(Buffer.from(text, 'utf8'));
    assert.equal(reply.code, 250, reply.text);
    const queueId = queueIdOf(reply.text) ?? '';
    return { queueId, stored: readSpooled(daemon, queueId) };
  } finally {
    await client.quit();
  }
}

async function submitAndRead(daemon: TestDaemon, from: string, text: string, params = ''): Promise<Buffer> {
  return (await submit(daemon, from, text, params)).stored;
}

function readSpooled(daemon: TestDaemon, queueId: string): Buffer {
  const db = daemon.openSpool();
  try {
    return (db.prepare('SELECT data FROM bodies WHERE message_id = ?').get(queueId) as { data: Buffer }).data;
  } finally {
    db.close();
  }
}

function sorted(verdicts: readonly Verdict[]): Verdict[] {
  return [...verdicts].sort((a, b) => a.selector.localeCompare(b.selector));
}

async function multipartMessage(): Promise<string> {
  const mail = new MailComposer({
    from: 'Alerts <alerts@example.com>',
    to: 'someone@remote.test',
    subject: 'report with attachments',
    date: new Date('2026-11-25T10:00:00Z'),
    messageId: '<m2@example.com>',
    text: 'Report attached.\n',
    html: '<p>Report <b>attached</b>.</p>',
    attachments: [
      { filename: 'report.csv', content: 'a,b\n1,2\n' },
      { filename: 'blob.bin', content: Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 37) % 256)) },
      { filename: 'naïve.txt', content: 'ünïcödé\n' },
    ],
  });
  return (await mail.compile().build()).toString('utf8');
}
