// A full disk never turns into a second delivery. On a small tmpfs (needs root, as CI runs; skipped
// otherwise) the spool keeps spool.minFree free: below it new mail gets 452 4.3.1 (at MAIL when SIZE
// says the message would cross it, at DATA when the data does) and /healthz says "degraded", while
// delivery goes on and records its outcomes; once space returns mail is accepted again, and no message
// arrives twice, across a restart too. And when the spool takes no write at all (an injected ENOSPC),
// the outcome of a delivery is kept and written once it can be, so a restart does not deliver again.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { queueIdOf } from '../helpers/clients.js';
import { DEFAULT_USER, TestDaemon } from '../helpers/daemon.js';
import { FakeMx, freePort } from '../helpers/fake-mx.js';
import { buildFaultLibrary, fill, freeBytes, mountTmpfs, unmountTmpfs } from '../helpers/faults.js';
import { authenticatedClient, type SmtpClient } from '../helpers/smtp-client.js';

const MiB = 1024 * 1024;
const MIN_FREE = 8 * MiB;

function message(to: string, bytes = 0): string {
  return `From: app@example.com\r\nTo: ${to}\r\nSubject: reserve\r\n\r\n${`${'z'.repeat(78)}\r\n`.repeat(Math.ceil(bytes / 80))}end\r\n`;
}

/** MAIL (with an optional SIZE), RCPT and DATA; the replies to MAIL and to the end of DATA (or null). */
async function transaction(client: SmtpClient, to: string, body: string, size?: number): Promise<{ mail: string; data: string | null }> {
  const mail = await client.send(`MAIL FROM:<app@example.com>${size === undefined ? '' : ` SIZE=${size}`}`);
  if (mail.code !== 250) return { mail: `${mail.code} ${mail.text}`, data: null };
  assert.equal((await client.send(`RCPT TO:<${to}>`)).code, 250);
  const data = await client.data(body);
  return { mail: `${mail.code} ${mail.text}`, data: `${data.code} ${data.text}` };
}

function queued(reply: string | null): string {
  const id = queueIdOf(reply ?? '');
  assert.ok(id, String(reply));
  return id;
}

async function health(base: string): Promise<{ code: number; status: string; disk: { free: number; minFree: number } }> {
  const response = await fetch(`${base}/healthz`);
  const body = (await response.json()) as { status: string; disk: { free: number; minFree: number } };
  return { code: response.status, ...body };
}

async function until(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  for (const deadline = Date.now() + timeoutMs; !condition(); ) {
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function states(daemon: TestDaemon): Record<string, string> {
  const db = daemon.openSpool();
  try {
    const rows = db.prepare('SELECT address, state, lease_until FROM recipients').all() as Array<{
      address: string;
      state: string;
      lease_until: number | null;
    }>;
    return Object.fromEntries(rows.map((r) => [r.address, r.lease_until === null ? r.state : `${r.state} (leased)`]));
  } finally {
    db.close();
  }
}

describe('the free-space reserve', { timeout: 150_000 }, () => {
  const mounts: string[] = [];
  after(() => {
    for (const dir of mounts) unmountTmpfs(dir);
  });

  test('below spool.minFree: 452 4.3.1 at MAIL and DATA, /healthz degraded, delivery recorded; then recovery, each message once', {
    skip: process.getuid?.() !== 0 && 'needs root to mount a tmpfs',
  }, async () => {
    const dir = mountTmpfs(32 * 1024);
    assert.ok(dir, 'tmpfs mounted');
    mounts.push(dir);
    const port = await freePort('127.0.0.2');
    let accept = false;
    const mx = await FakeMx.start('127.0.0.2', port, { rcpt: () => (accept ? 'accept' : 'tempfail') });
    const daemon = await TestDaemon.start({
      dir,
      config: {
        spool: { minFree: MIN_FREE },
        metrics: { listen: '127.0.0.1:0' },
        delivery: { routes: { '*': `127.0.0.2:${port}` }, allowPrivateDestinations: true, retry: { minBackoff: 3600, maxBackoff: 3600 } },
      },
    });
    try {
      const metrics = daemon.logs.find((l) => l.msg === 'listening' && l['listener'] === 'metrics');
      const base = `http://127.0.0.1:${String(metrics?.['port'])}`;
      const client = await authenticatedClient(daemon.ports.submission, DEFAULT_USER.name, DEFAULT_USER.password);
      const waiting = queued((await transaction(client, 'waiting@remote.test', message('waiting@remote.test'))).data);
      await until(() => states(daemon)['waiting@remote.test'] === 'deferred', 'the first attempt is deferred');

      // 512 KiB above the reserve: a message of 1 MiB would cross it.
      const filler = fill(dir, MIN_FREE + 512 * 1024);
      const big = message('big@remote.test', MiB);
      assert.match((await transaction(client, 'big@remote.test', big, big.length)).mail, /^452 4\.3\.1 /, 'MAIL with SIZE');
      const unsized = await transaction(client, 'big@remote.test', big);
      assert.match(unsized.mail, /^250 /, 'MAIL without SIZE is still accepted');
      assert.match(unsized.data ?? '', /^452 4\.3\.1 /, 'DATA crosses the reserve');

      // Below the reserve: any MAIL is refused, the health check says degraded.
      const below = fill(dir, MIN_FREE - MiB, 'filler2');
      assert.match((await transaction(client, 'small@remote.test', message('small@remote.test'))).mail, /^452 4\.3\.1 /);
      const degraded = await health(base);
      assert.equal(degraded.code, 503);
      assert.equal(degraded.status, 'degraded');
      assert.equal(degraded.disk.minFree, MIN_FREE);
      assert.ok(degraded.disk.free < MIN_FREE);
      await daemon.waitForLog((l) => l.msg?.startsWith('the spool file system has less free space than spool.minFree') === true);

      // Delivery goes on below the reserve, and its outcome is recorded.
      accept = true;
      assert.equal((await daemon.cli(['queue', 'retry', '--all'])).code, 0);
      await mx.waitFor(1);
      await until(() => states(daemon)['waiting@remote.test'] === 'delivered', 'the delivery is recorded');
      assert.ok(freeBytes(dir) > 0);

      // Space returns: accepted again, healthy again.
      unlinkSync(below);
      unlinkSync(filler);
      const after = queued((await transaction(client, 'after@remote.test', message('after@remote.test'))).data);
      await mx.waitFor(2);
      assert.equal((await health(base)).status, 'ok');
      await client.quit();

      await daemon.stop();
      await daemon.launch();
      await until(() => states(daemon)['after@remote.test'] === 'delivered', 'the second delivery is recorded');
      assert.deepEqual(states(daemon), { 'waiting@remote.test': 'delivered', 'after@remote.test': 'delivered' });
      assert.deepEqual(
        mx.received.map((m) => m.to[0]),
        ['waiting@remote.test', 'after@remote.test'],
        'each message arrived once',
      );
      assert.ok(waiting && after);
    } finally {
      await daemon.cleanup();
      await mx.close();
    }
  });

  test('outcomes the spool cannot take (ENOSPC on every write) are written once it can; a restart does not deliver again', async () => {
    const faults = mkdtempSync(join(tmpdir(), 'smarthost-faults-'));
    const faultFile = join(faults, 'fault');
    const library = buildFaultLibrary(faults);
    const port = await freePort('127.0.0.2');
    // The disk "fills" while the remote server takes the message: recording its outcome fails.
    const mx = await FakeMx.start('127.0.0.2', port, {
      data: () => {
        writeFileSync(faultFile, 'ENOSPC');
        return 'accept';
      },
    });
    const daemon = await TestDaemon.start({
      env: { LD_PRELOAD: library, SMARTHOST_FAULT_FILE: faultFile },
      config: { delivery: { routes: { '*': `127.0.0.2:${port}` }, allowPrivateDestinations: true } },
    });
    try {
      const client = await authenticatedClient(daemon.ports.submission, DEFAULT_USER.name, DEFAULT_USER.password);
      queued((await transaction(client, 'once@remote.test', message('once@remote.test'))).data);
      await client.quit();
      await mx.waitFor(1);
      await daemon.waitForLog((l) => l.msg?.startsWith('cannot record delivery outcomes') === true);
      assert.equal(states(daemon)['once@remote.test'], 'queued (leased)');
      unlinkSync(faultFile);
      await until(() => states(daemon)['once@remote.test'] === 'delivered', 'the outcome is written once the spool takes it');

      await daemon.stop();
      await daemon.launch();
      assert.deepEqual(states(daemon), { 'once@remote.test': 'delivered' });
      assert.equal(mx.received.length, 1, 'delivered once');
    } finally {
      rmSync(faultFile, { force: true });
      await daemon.cleanup();
      await mx.close();
      rmSync(faults, { recursive: true, force: true });
    }
  });
});
