// Signals as an operator sends them: SIGHUP after a certificate renewal (the next handshake gets the
// new certificate, a session opened before keeps working), with new DKIM keys, log level and limits,
// and with a broken configuration (refused, the old one kept); SIGTERM in the middle of a large DATA
// (the message ends up fully spooled or refused, never half) and with a client that goes away.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import tls from 'node:tls';
import { describe, test } from 'node:test';
import { Database } from '../../src/spool/sqlite.js';
import { selfSignedCertificate } from '../../src/tls/self-signed.js';
import { queueIdOf } from '../helpers/clients.js';
import { DEFAULT_USER, merge, TestDaemon } from '../helpers/daemon.js';
import { keyEntry, makeKey } from '../helpers/dkim.js';
import { authenticatedClient, SmtpClient, type SmtpReply } from '../helpers/smtp-client.js';

const MESSAGE = 'From: a@example.com\r\nSubject: signals\r\n\r\nbody\r\n';

async function submit(client: SmtpClient, message: string = MESSAGE): Promise<SmtpReply> {
  assert.equal((await client.send('MAIL FROM:<a@example.com>')).code, 250);
  assert.equal((await client.send('RCPT TO:<x@remote.test>')).code, 250);
  return client.data(message);
}

function fingerprint(pem: string): string {
  return new X509Certificate(pem).fingerprint256;
}

/** The certificate a new implicit-TLS connection is given. */
async function servedOn465(port: number): Promise<string> {
  const socket = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false });
  await new Promise<void>((resolve, reject) => socket.once('secureConnect', resolve).once('error', reject));
  const served = socket.getPeerCertificate().fingerprint256;
  socket.destroy();
  return served;
}

/** The certificate a new STARTTLS session on 587 is given. */
async function servedOn587(port: number): Promise<string> {
  const client = await SmtpClient.connect(port);
  await client.ehlo();
  await client.starttls();
  const served = client.tlsSocket?.getPeerCertificate().fingerprint256 ?? '';
  await client.quit();
  return served;
}

/** Rewrite the daemon's configuration file, send SIGHUP, and wait for the reload's verdict. */
async function reload(daemon: TestDaemon, over: Record<string, unknown>): Promise<string> {
  writeFileSync(daemon.configPath, JSON.stringify(merge(daemon.config, over), null, 2));
  const from = daemon.logs.length;
  process.kill(daemon.pid ?? 0, 'SIGHUP');
  const verdict = await daemon.waitForLog(
    (l) => l.msg === 'configuration reloaded' || String(l.msg).startsWith('reload refused'),
    10_000,
    from,
  );
  return String(verdict.msg);
}

function spooledSize(path: string, id: string): number | null {
  const db = new Database(path, { readonly: true });
  try {
    return (db.prepare('SELECT length(data) FROM bodies WHERE message_id = ?').pluck().get(id) as number | undefined) ?? null;
  } finally {
    db.close();
  }
}

describe('SIGHUP', { timeout: 60_000 }, () => {
  test('a renewed certificate, DKIM keys, log level and limits apply without dropping a session', async () => {
    const daemon = await TestDaemon.start();
    try {
      const tlsDir = join(daemon.dir, 'tls');
      const before = await servedOn465(daemon.ports.submissions);
      const open = await authenticatedClient(daemon.ports.submissions, DEFAULT_USER.name, DEFAULT_USER.password, true);

      const renewed = selfSignedCertificate('relay.test');
      writeFileSync(join(tlsDir, 'key.pem'), renewed.key);
      writeFileSync(join(tlsDir, 'cert.pem'), renewed.cert);
      const key = makeKey(join(daemon.dir, 'dkim'), { domain: 'example.com', selector: 'renewed', algorithm: 'ed25519' });
      const verdict = await reload(daemon, {
        dkim: { keys: [keyEntry(key)] },
        log: { level: 'warn' },
        limits: { maxMessageSize: 100_000 },
        delivery: { concurrency: 7 },
      });
      assert.equal(verdict, 'configuration reloaded');
      const later = await daemon.waitForLog((l) => l.msg === 'configuration changes that take effect only at the next restart');
      assert.deepEqual(later['keys'], ['delivery.concurrency']);

      assert.notEqual(fingerprint(renewed.cert), before);
      assert.equal(await servedOn465(daemon.ports.submissions), fingerprint(renewed.cert), 'implicit TLS: the new certificate');
      assert.equal(await servedOn587(daemon.ports.submission), fingerprint(renewed.cert), 'STARTTLS: the new certificate');

      const logged = daemon.logs.length;
      const reply = await submit(open);
      assert.equal(reply.code, 250, `the session opened before the reload still works: ${reply.text}`);
      assert.equal(open.tlsSocket?.getPeerCertificate().fingerprint256, before, 'and keeps its TLS session');
      await open.quit();
      const id = queueIdOf(reply.text) ?? '';
      const db = daemon.openSpool();
      const body = (db.prepare('SELECT data FROM bodies WHERE message_id = ?').pluck().get(id) as Buffer | undefined)?.toString() ?? '';
      db.close();
      assert.match(body, /^DKIM-Signature: [\s\S]*s=renewed;/, 'signed with the new key');
      assert.ok(!daemon.logs.slice(logged).some((l) => l.level === 'info' || l.level === 'debug'), 'log.level warn: no info lines');

      const client = await SmtpClient.connect(daemon.ports.submission);
      assert.match((await client.ehlo()).text, /\nSIZE 100000(\n|$)/, 'the new size limit is advertised');
      await client.quit();
    } finally {
      await daemon.cleanup();
    }
  });

  test('a broken configuration or certificate is refused and the running one kept', async () => {
    const daemon = await TestDaemon.start();
    try {
      const served = await servedOn465(daemon.ports.submissions);
      assert.equal(await reload(daemon, { limits: { maxMesageSize: 10 } }), 'reload refused; the running configuration stays in force');
      const refusal = daemon.logs.findLast((l) => String(l.msg).startsWith('reload refused'));
      assert.deepEqual(refusal?.['problems'], ['limits.maxMesageSize: unknown key']);

      const other = selfSignedCertificate('relay.test');
      writeFileSync(join(daemon.dir, 'tls', 'cert.pem'), other.cert); // the key no longer matches
      assert.match(await reload(daemon, {}), /^reload refused/);
      assert.match(
        String(daemon.logs.findLast((l) => String(l.msg).startsWith('reload refused'))?.['problems']),
        /tls\.cert\/tls\.key: .* not a usable certificate and key/,
      );

      assert.match(
        await reload(daemon, {
          dkim: { keys: [{ domain: 'example.com', selector: 's1', algorithm: 'ed25519', privateKey: join(daemon.dir, 'missing.key') }] },
        }),
        /^reload refused/,
      );
      assert.equal(await servedOn465(daemon.ports.submissions), served, 'the old certificate is still served');
      const client = await authenticatedClient(daemon.ports.submission, DEFAULT_USER.name, DEFAULT_USER.password);
      assert.equal((await submit(client)).code, 250, 'and mail is still accepted, unsigned as before');
      await client.quit();
    } finally {
      await daemon.cleanup();
    }
  });
});

describe('SIGTERM during DATA', { timeout: 60_000 }, () => {
  test('a large DATA in flight is spooled whole (or refused), never half; exit status 0', async () => {
    const daemon = await TestDaemon.start();
    try {
      const client = await authenticatedClient(daemon.ports.submission, DEFAULT_USER.name, DEFAULT_USER.password);
      assert.equal((await client.send('MAIL FROM:<a@example.com>')).code, 250);
      assert.equal((await client.send('RCPT TO:<x@remote.test>')).code, 250);
      assert.equal((await client.send('DATA')).code, 354);
      const line = `${'z'.repeat(998)}\r\n`;
      const chunk = `From: a@example.com\r\nSubject: large\r\n\r\n${line.repeat(1000)}`;
      client.write(chunk);
      const exited = daemon.stop('SIGTERM', 40_000);
      await daemon.waitForLog((l) => l.msg === 'shutting down');
      for (let i = 0; i < 7; i++) client.write(line.repeat(1000)); // 8 MB in all
      client.write('.\r\n');
      let reply: SmtpReply | null = null;
      try {
        reply = await client.read(30_000);
      } catch {
        reply = null; // closed without a reply: must not be spooled either
      }
      client.close();
      assert.equal(await exited, 0);
      const id = reply?.code === 250 ? (queueIdOf(reply.text) ?? '') : null;
      if (id) {
        const size = spooledSize(daemon.spoolPath, id);
        assert.ok(size !== null && size > 8 * 1000 * 1000, `spooled whole: ${size} bytes`);
      } else {
        assert.equal(
          new Database(daemon.spoolPath, { readonly: true }).prepare('SELECT count(*) FROM messages').pluck().get(),
          0,
          `refused (${reply?.code}): nothing spooled`,
        );
      }
    } finally {
      await daemon.cleanup();
    }
  });

  test('a client that goes away mid-DATA during the drain leaves nothing behind; exit status 0', async () => {
    const daemon = await TestDaemon.start();
    try {
      const client = await authenticatedClient(daemon.ports.submission, DEFAULT_USER.name, DEFAULT_USER.password);
      await client.send('MAIL FROM:<a@example.com>');
      await client.send('RCPT TO:<x@remote.test>');
      assert.equal((await client.send('DATA')).code, 354);
      client.write('From: a@example.com\r\nSubject: cut\r\n\r\nthe first half\r\n');
      const exited = daemon.stop('SIGTERM');
      await daemon.waitForLog((l) => l.msg === 'shutting down');
      client.close();
      assert.equal(await exited, 0);
      const db = new Database(daemon.spoolPath, { readonly: true });
      assert.equal(db.prepare('SELECT count(*) FROM messages').pluck().get(), 0);
      db.close();
    } finally {
      await daemon.cleanup();
    }
  });
});
