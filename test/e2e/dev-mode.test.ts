// Development mode as `npm start` runs it (config/dev.yaml's settings, on free ports): on the first
// start the daemon creates the DKIM key (create: true) and the initial user, printing its password
// with a hint that works as printed; a message submitted with that password arrives in the dev
// sink's directory, DKIM-signed with the created key (verified against the record `dkim dns`
// prints); and a configuration whose dev sink is not the only destination is refused.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { sendWithNodemailer } from '../helpers/clients.js';
import { runCli, TestDaemon } from '../helpers/daemon.js';
import { verifyDkim } from '../helpers/dkim.js';
import { DnsServer } from '../helpers/dns-server.js';
import { freePort } from '../helpers/fake-mx.js';

describe('development mode: a signed message arrives in the dev sink', { timeout: 60_000 }, () => {
  let daemon: TestDaemon;
  let dns: DnsServer;
  let sink = '';
  let mail = '';

  before(async () => {
    dns = await DnsServer.start();
    sink = `127.0.0.1:${await freePort('127.0.0.1')}`;
    daemon = await TestDaemon.start({
      users: [],
      config: {
        hostname: 'localhost',
        delivery: { routes: { '*': sink } },
        dkim: {
          keys: [{ domain: 'example.com', selector: 'dev', algorithm: 'ed25519', privateKey: 'dkim/example.com.dev.key', create: true }],
        },
        devSink: { listen: sink, dir: 'mail' },
        initialUser: { name: 'dev', allow: ['@example.com', '@localhost'] },
      },
    });
    mail = join(daemon.dir, 'mail');
  });
  after(async () => {
    await daemon.cleanup();
    await dns.close();
  });

  test('the first start creates the DKIM key and the user, and prints a hint that works as printed', async () => {
    const key = join(daemon.dir, 'dkim', 'example.com.dev.key');
    assert.equal(statSync(key).mode & 0o777, 0o600);
    await daemon.waitForLog((l) => l.msg?.startsWith('created a DKIM key') === true && l['file'] === key);
    assert.match(daemon.stderr, /smarthost: password: [A-Za-z0-9]{24}\n/);
    const hint = /change it with: (.+)\n/.exec(daemon.stderr)?.[1] ?? '';
    // The tests run in the checkout (npx smarthost); the configuration is outside it (absolute).
    assert.equal(hint, `npx smarthost user passwd dev --config ${daemon.configPath}`);
    const changed = await runCli([...hint.split(' ').slice(2), '--password-stdin'], { stdin: 'new password for dev\n' });
    assert.equal(changed.code, 0, changed.stderr);
  });

  test('a message from the dev user arrives in the sink directory, signed for example.com (verified)', async () => {
    const sent = await sendWithNodemailer({
      port: daemon.ports.submission,
      implicitTls: false,
      user: 'dev',
      password: 'new password for dev',
      from: 'app@example.com',
      to: ['someone@example.net'],
      message: 'From: app@example.com\r\nTo: someone@example.net\r\nSubject: Hello\r\n\r\nIt works.\r\n',
    });
    assert.match(sent.response ?? '', /^250 /, JSON.stringify(sent));
    const logged = await daemon.waitForLog((l) => l.msg === 'dev sink received');
    assert.equal(logged['dkim'], true);
    const files = readdirSync(mail);
    assert.equal(files.length, 1);
    const message = readFileSync(join(mail, files[0] ?? ''));
    assert.match(
      message.toString(),
      /^Return-Path: <app@example\.com>\r\nX-Envelope-To: someone@example\.net\r\nDKIM-Signature: v=1; a=ed25519-sha256;/,
    );
    const records = JSON.parse((await daemon.cli(['dkim', 'dns', 'example.com', '--json'])).stdout) as {
      records: Array<{ purpose: string; name: string; value: string }>;
    };
    const dkim = records.records.find((r) => r.purpose === 'dkim');
    assert.ok(dkim, 'dkim dns prints the record for the created key');
    dns.add(dkim.name.replace(/\.$/, ''), { type: 'TXT', data: dkim.value });
    const verdicts = await verifyDkim(message, dns);
    assert.deepEqual(
      [...verdicts.mailauth, ...verdicts.python].map((v) => [v.domain, v.selector, v.result]),
      [
        ['example.com', 'dev', 'pass'],
        ['example.com', 'dev', 'pass'],
      ],
    );
  });
});
