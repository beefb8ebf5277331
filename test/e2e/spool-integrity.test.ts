// A spool that is not whole is refused, not started as a new and empty one: truncated to 0 bytes
// (with its write-ahead log beside it, or after a clean stop), with pages overwritten, or with part of
// its schema gone; the CLI refuses it too and leaves it as it is. `smarthost check-spool` reports the
// same checks and the counts (exit 1 on damage), and `smarthost backup-spool` makes a copy, taken while
// the daemon runs, that restores to a working spool: users, queued mail and all.
import assert from 'node:assert/strict';
import { copyFileSync, openSync, closeSync, rmSync, statSync, truncateSync, writeSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Database } from '../../src/spool/sqlite.js';
import { queueIdOf, sendWithNodemailer } from '../helpers/clients.js';
import { DEFAULT_USER, TestDaemon } from '../helpers/daemon.js';
import { FakeMx, freePort } from '../helpers/fake-mx.js';

async function send(daemon: TestDaemon, to: string): Promise<string> {
  const outcome = await sendWithNodemailer({
    port: daemon.ports.submission,
    implicitTls: false,
    user: DEFAULT_USER.name,
    password: DEFAULT_USER.password,
    from: 'app@example.com',
    to: [to],
    message: `From: app@example.com\r\nTo: ${to}\r\nSubject: integrity\r\n\r\nbody\r\n`,
  });
  const id = queueIdOf(outcome.response);
  assert.ok(outcome.ok && id, outcome.response);
  return id;
}

/** Start (again) and expect a refusal: the launch error carries the exit status and stderr. */
async function refusedStart(daemon: TestDaemon): Promise<string> {
  const err = await daemon.launch().then(
    () => null,
    (e: Error) => e,
  );
  assert.ok(err, 'the daemon refuses to start');
  assert.match(err.message, /exit=1/);
  return err.message;
}

describe('damaged spools are refused', { timeout: 120_000 }, () => {
  test('truncated to 0 bytes with its WAL beside it (killed, then truncated): refused, and the CLI leaves it alone', async () => {
    const daemon = await TestDaemon.start();
    try {
      await send(daemon, 'x@remote.test');
      await daemon.kill();
      truncateSync(daemon.spoolPath, 0);
      assert.ok(statSync(`${daemon.spoolPath}-wal`).size > 0);
      const message = await refusedStart(daemon);
      assert.match(
        message,
        new RegExp(
          `the spool ${daemon.spoolPath} is empty \\(0 bytes\\) while its write-ahead log ${daemon.spoolPath}-wal holds \\d+ bytes`,
        ),
      );
      const cli = await daemon.cli(['user', 'list']);
      assert.equal(cli.code, 1);
      assert.match(cli.stderr, /is empty \(0 bytes\)/);
      assert.equal(statSync(daemon.spoolPath).size, 0, 'no new schema was written into it');
    } finally {
      await daemon.cleanup();
    }
  });

  test('truncated to 0 bytes after a clean stop (no WAL): refused', async () => {
    const daemon = await TestDaemon.start();
    try {
      await daemon.stop();
      truncateSync(daemon.spoolPath, 0);
      assert.match(await refusedStart(daemon), /is empty \(0 bytes\): it was truncated; restore the spool from a backup/);
    } finally {
      await daemon.cleanup();
    }
  });

  test('pages overwritten in the middle of the file: refused by the integrity check at start, and check-spool exits 1', async () => {
    const daemon = await TestDaemon.start();
    try {
      for (let i = 0; i < 3; i++) await send(daemon, `r${i}@remote.test`);
      await daemon.stop();
      const db = new Database(daemon.spoolPath);
      const page = db.prepare("SELECT pageno FROM dbstat WHERE name = 'recipients' ORDER BY pageno DESC LIMIT 1").pluck().get() as number;
      const size = db.pragma('page_size', { simple: true }) as number;
      db.close();
      const fd = openSync(daemon.spoolPath, 'r+');
      writeSync(fd, Buffer.alloc(size, 0xa5), 0, size, (page - 1) * size);
      closeSync(fd);

      assert.match(await refusedStart(daemon), /failed its integrity check: .*(malformed|page|Page|tree|Tree)/);
      const check = await daemon.cli(['check-spool', '--json']);
      assert.equal(check.code, 1, check.stderr);
      const report = JSON.parse(check.stdout) as { ok: boolean; problems: string[] };
      assert.equal(report.ok, false);
      assert.ok(report.problems.length > 0);
    } finally {
      await daemon.cleanup();
    }
  });

  test('a table missing from the schema (the users are gone): refused, naming it', async () => {
    const daemon = await TestDaemon.start();
    try {
      await daemon.stop();
      const db = new Database(daemon.spoolPath);
      db.exec('DROP TABLE users');
      db.close();
      assert.match(await refusedStart(daemon), /failed its integrity check: missing table users/);
    } finally {
      await daemon.cleanup();
    }
  });
});

describe('check-spool, backup and restore', { timeout: 120_000 }, () => {
  let mx: FakeMx;
  let daemon: TestDaemon;
  let accept = false;

  before(async () => {
    const port = await freePort('127.0.0.2');
    mx = await FakeMx.start('127.0.0.2', port, { rcpt: () => (accept ? 'accept' : 'tempfail') });
    daemon = await TestDaemon.start({
      config: {
        delivery: { routes: { '*': `127.0.0.2:${port}` }, allowPrivateDestinations: true, retry: { minBackoff: 3600, maxBackoff: 3600 } },
      },
    });
  });
  after(async () => {
    await daemon.cleanup();
    await mx.close();
  });

  test('check-spool on the running daemon: ok, with what the spool holds', async () => {
    const id = await send(daemon, 'waiting@remote.test');
    for (let deadline = Date.now() + 10_000; mx.connections === 0 && Date.now() < deadline; ) await new Promise((r) => setTimeout(r, 20));
    const check = await daemon.cli(['check-spool', '--json']);
    assert.equal(check.code, 0, check.stderr);
    const report = JSON.parse(check.stdout) as Record<string, unknown>;
    assert.equal(report['ok'], true);
    assert.deepEqual(report['problems'], []);
    assert.equal(report['path'], daemon.spoolPath);
    assert.equal(report['users'], 1);
    assert.deepEqual(report['messages'], { total: 1, open: 1, bodies: 1 });
    const text = await daemon.cli(['check-spool']);
    assert.equal(text.code, 0);
    assert.match(text.stdout, new RegExp(`^spool ${daemon.spoolPath}: ok\n`));
    assert.match(text.stdout, /users: 1\n/);
    assert.ok(id);
  });

  test('backup-spool while the daemon runs, restore after a stop: users and queued mail come back and are delivered', async () => {
    const waiting = await send(daemon, 'later@remote.test');
    const backup = join(daemon.dir, 'backup.db');
    const made = await daemon.cli(['backup-spool', backup]);
    assert.equal(made.code, 0, made.stderr);
    assert.equal((statSync(backup).mode & 0o777).toString(8), '600');
    const again = await daemon.cli(['backup-spool', backup]);
    assert.equal(again.code, 1, 'an existing file is never overwritten');

    const checked = await daemon.cli(['check-spool', '--file', backup, '--json']);
    assert.equal(checked.code, 0, checked.stderr);
    assert.equal((JSON.parse(checked.stdout) as { users: number }).users, 1);

    // Disaster: the spool is lost. Restore as docs/operations.md says: stop, put the copy in place, start.
    await daemon.stop();
    for (const suffix of ['', '-wal', '-shm']) rmSync(`${daemon.spoolPath}${suffix}`, { force: true });
    copyFileSync(backup, daemon.spoolPath);
    chmodSync(daemon.spoolPath, 0o600);
    accept = true;
    await daemon.launch();
    const queued = await daemon.cli(['queue', 'list', '--json']);
    const ids = (JSON.parse(queued.stdout) as { messages: Array<{ id: string }> }).messages.map((m) => m.id);
    assert.ok(ids.includes(waiting), `${waiting} is in the restored queue: ${queued.stdout}`);
    assert.equal((await daemon.cli(['queue', 'retry', '--all'])).code, 0);
    await mx.waitFor(2);
    assert.deepEqual(mx.received.map((m) => m.to[0]).sort(), ['later@remote.test', 'waiting@remote.test']);
    await send(daemon, 'after@remote.test'); // the restored user logs in
    await mx.waitFor(3);
  });
});
