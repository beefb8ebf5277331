// The 250 promise and the spool under stress: a message that got 250 survives SIGKILL; a full disk,
// a read-only or failing file system or a lock held past the busy timeout give 4xx (not a crash, nothing
// half-written) and the next message after recovery is accepted; SIGTERM lets a DATA in flight
// finish and exits 0.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { Database } from '../../src/spool/sqlite.js';
import { queueIdOf } from '../helpers/clients.js';
import { DEFAULT_USER, TestDaemon } from '../helpers/daemon.js';
import { buildFaultLibrary, fill, mountTmpfs, unmountTmpfs } from '../helpers/faults.js';
import { authenticatedClient, type SmtpClient, type SmtpReply } from '../helpers/smtp-client.js';

const MESSAGE = 'From: a@example.com\r\nSubject: durable\r\n\r\nbody\r\n';

async function submit(client: SmtpClient, message = MESSAGE, rcpts = ['x@remote.test', 'y@other.test']): Promise<SmtpReply> {
  assert.equal((await client.send('MAIL FROM:<a@example.com>')).code, 250);
  for (const r of rcpts) assert.equal((await client.send(`RCPT TO:<${r}>`)).code, 250);
  return client.data(message);
}

function queueId(reply: SmtpReply): string {
  const id = queueIdOf(reply.text);
  assert.ok(id, `${reply.code} ${reply.text}`);
  return id;
}

function spooled(path: string, id: string): { recipients: unknown[]; body: string } | null {
  const db = new Database(path, { readonly: true });
  try {
    const body = db.prepare('SELECT data FROM bodies WHERE message_id = ?').get(id) as { data: Buffer } | undefined;
    const recipients = db.prepare('SELECT address, state FROM recipients WHERE message_id = ? ORDER BY address').all(id);
    return body ? { recipients, body: body.data.toString() } : null;
  } finally {
    db.close();
  }
}

function messageCount(path: string): number {
  const db = new Database(path, { readonly: true });
  try {
    return (db.prepare('SELECT (SELECT count(*) FROM messages) + (SELECT count(*) FROM bodies) AS n').get() as { n: number }).n;
  } finally {
    db.close();
  }
}

describe('the 250 promise', () => {
  test('a message that got 250 is on disk with its recipients after SIGKILL at once', async () => {
    const daemon = await TestDaemon.start();
    try {
      const client = await authenticatedClient(daemon.ports.submission, DEFAULT_USER.name, DEFAULT_USER.password);
      const reply = await submit(client);
      await daemon.kill();
      client.close();
      const id = queueId(reply);
      const row = spooled(daemon.spoolPath, id);
      assert.ok(row, 'message is in the spool');
      assert.deepEqual(row.recipients, [
        { address: 'x@remote.test', state: 'queued' },
        { address: 'y@other.test', state: 'queued' },
      ]);
      assert.ok(row.body.endsWith(MESSAGE));
      await daemon.launch();
      const again = await authenticatedClient(daemon.ports.submission, DEFAULT_USER.name, DEFAULT_USER.password);
      assert.equal((await submit(again)).code, 250);
      await again.quit();
    } finally {
      await daemon.cleanup();
    }
  });

  test('a write lock held past spool.busyTimeout: 451 4.3.0, then accepted once released', async () => {
    const daemon = await TestDaemon.start({ config: { spool: { busyTimeout: 300 } } });
    try {
      const client = await authenticatedClient(daemon.ports.submission, DEFAULT_USER.name, DEFAULT_USER.password);
      const holder = new Database(daemon.spoolPath);
      holder.exec('BEGIN IMMEDIATE');
      const refused = await submit(client);
      assert.equal(refused.code, 451);
      assert.match(refused.text, /^4\.3\.0 /);
      holder.exec('COMMIT');
      holder.close();
      assert.equal((await submit(client)).code, 250);
      await client.quit();
      await daemon.waitForLog((l) => l.msg === 'message refused' && l['code'] === 'SMARTHOST_E_SPOOL_WRITE');
    } finally {
      await daemon.cleanup();
    }
  });
});

describe('storage faults', () => {
  const mounts: string[] = [];
  after(() => {
    for (const dir of mounts) unmountTmpfs(dir);
  });
  const canMount = process.getuid?.() === 0;

  test('disk full during DATA: 452 4.3.1, nothing half-written, accepted after space returns', {
    skip: !canMount && 'needs root to mount a tmpfs',
  }, async () => {
    const dir = mountTmpfs(8192);
    assert.ok(dir, 'tmpfs mounted');
    mounts.push(dir);
    // No free-space reserve: this is the spool's own answer when a write finds the disk full
    // (test/e2e/spool-reserve.test.ts has the reserve).
    const daemon = await TestDaemon.start({ dir, config: { spool: { minFree: 0 } } });
    try {
      const client = await authenticatedClient(daemon.ports.submission, DEFAULT_USER.name, DEFAULT_USER.password);
      const before = messageCount(daemon.spoolPath);
      const filler = fill(dir);
      const big = `From: a@example.com\r\nSubject: big\r\n\r\n${'y'.repeat(76)}\r\n`.repeat(3000);
      const refused = await submit(client, big);
      assert.equal(refused.code, 452, refused.text);
      assert.match(refused.text, /^4\.3\.1 /);
      unlinkSync(filler);
      assert.equal(messageCount(daemon.spoolPath), before, 'nothing half-written');
      const accepted = await submit(client, big);
      assert.equal(accepted.code, 250, accepted.text);
      assert.ok(spooled(daemon.spoolPath, queueId(accepted)));
      await client.quit();
    } finally {
      await daemon.cleanup();
    }
  });

  test('read-only spool (writes fail with EROFS): 451 4.3.0, accepted again once writable', async () => {
    const faults = mkdtempSync(join(tmpdir(), 'smarthost-faults-'));
    const library = buildFaultLibrary(faults);
    const faultFile = join(faults, 'fault');
    const daemon = await TestDaemon.start({ env: { LD_PRELOAD: library, SMARTHOST_FAULT_FILE: faultFile } });
    try {
      const client = await authenticatedClient(daemon.ports.submission, DEFAULT_USER.name, DEFAULT_USER.password);
      assert.equal((await submit(client)).code, 250);
      const before = messageCount(daemon.spoolPath);
      for (const errno of ['EROFS', 'EIO']) {
        writeFileSync(faultFile, errno);
        const refused = await submit(client);
        assert.equal(refused.code, 451, `${errno}: ${refused.text}`);
        assert.match(refused.text, /^4\.3\.0 /);
        unlinkSync(faultFile);
        assert.equal(messageCount(daemon.spoolPath), before, 'nothing half-written');
      }
      const accepted = await submit(client);
      assert.equal(accepted.code, 250, accepted.text);
      assert.ok(spooled(daemon.spoolPath, queueId(accepted)));
      await client.quit();
    } finally {
      await daemon.cleanup();
      rmSync(faults, { recursive: true, force: true });
    }
  });
});

describe('SIGTERM', () => {
  test('a DATA in flight finishes and is spooled; idle sessions get 421; exit status 0', async () => {
    const daemon = await TestDaemon.start();
    try {
      const idle = await authenticatedClient(daemon.ports.submissions, DEFAULT_USER.name, DEFAULT_USER.password, true);
      const busy = await authenticatedClient(daemon.ports.submission, DEFAULT_USER.name, DEFAULT_USER.password);
      await busy.send('MAIL FROM:<a@example.com>');
      await busy.send('RCPT TO:<x@remote.test>');
      assert.equal((await busy.send('DATA')).code, 354);
      busy.write('From: a@example.com\r\nSubject: in flight\r\n\r\nfirst half\r\n');
      const exited = daemon.stop('SIGTERM');
      await daemon.waitForLog((l) => l.msg === 'shutting down');
      const bye = await idle.read();
      assert.equal(bye.code, 421);
      busy.write('second half\r\n.\r\n');
      const reply = await busy.read();
      assert.equal(reply.code, 250, reply.text);
      busy.close();
      assert.equal(await exited, 0);
      const row = spooled(daemon.spoolPath, queueId(reply));
      assert.ok(row?.body.endsWith('first half\r\nsecond half\r\n'));
    } finally {
      await daemon.cleanup();
    }
  });
});
