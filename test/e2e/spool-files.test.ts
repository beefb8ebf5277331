// The spool's files and who may use them: private modes whatever the umask (and loose ones tightened
// at start), one daemon per spool (a second `serve` exits 1 naming the first, which goes on as if
// nothing happened), the CLI run as root leaving a spool the daemon's user can write, and the
// daemon's error on a spool it cannot write naming the file, its owner and its mode. The tests that
// need a second user run as root (as CI does) and use `nobody`; they are skipped otherwise.
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Database } from '../../src/spool/sqlite.js';
import { queueIdOf, sendWithNodemailer } from '../helpers/clients.js';
import { DEFAULT_USER, ROOT, TestDaemon, runCli, type CliResult } from '../helpers/daemon.js';
import { FakeMx, freePort } from '../helpers/fake-mx.js';

process.umask(0o022); // what a shell, a container or a cron job commonly has; the daemon and CLI inherit it

const mode = (path: string): string => (statSync(path).mode & 0o777).toString(8).padStart(4, '0');

/** The spool's files in `dir` and their modes. */
function modes(dir: string): Record<string, string> {
  return Object.fromEntries(
    readdirSync(dir)
      .filter((f) => f.startsWith('spool.db'))
      .map((f) => [f, mode(join(dir, f))]),
  );
}

async function send(daemon: TestDaemon, to = 'x@remote.test'): Promise<string> {
  const outcome = await sendWithNodemailer({
    port: daemon.ports.submission,
    implicitTls: false,
    user: DEFAULT_USER.name,
    password: DEFAULT_USER.password,
    from: 'app@example.com',
    to: [to],
    message: `From: app@example.com\r\nTo: ${to}\r\nSubject: files\r\n\r\nbody\r\n`,
  });
  const id = queueIdOf(outcome.response);
  assert.ok(outcome.ok && id, outcome.response);
  return id;
}

/** `smarthost serve` run to its exit (or killed after timeoutMs), as `user` if given. */
function serveToExit(configPath: string, timeoutMs: number, user?: { uid: number; gid: number }): Promise<CliResult & { ms: number }> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const child = spawn(process.execPath, [join(ROOT, 'bin', 'smarthost.js'), 'serve', '--config', configPath], { stdio: 'pipe', ...user });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, ms: Date.now() - started });
    });
  });
}

describe('spool file modes', () => {
  test('under umask 022, a new spool directory is 0700 and every spool file 0600', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'smarthost-modes-'));
    const spoolDir = join(dir, 'spool');
    const daemon = await TestDaemon.start({ dir, users: [], config: { spool: { path: join(spoolDir, 'spool.db') } } });
    try {
      await daemon.addUser(DEFAULT_USER); // the CLI while the daemon runs
      await send(daemon);
      assert.equal(mode(spoolDir), '0700');
      const files = modes(spoolDir);
      for (const name of ['spool.db', 'spool.db-wal', 'spool.db-shm', 'spool.db.lock'])
        assert.equal(files[name], '0600', `${name}: ${files[name]}`);
      assert.deepEqual(
        Object.entries(files).filter(([, m]) => m !== '0600'),
        [],
      );
    } finally {
      await daemon.cleanup();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a spool first created by the CLI is private too', async () => {
    const daemon = await TestDaemon.start(); // `user add` creates the spool, then the daemon starts
    try {
      assert.deepEqual(
        Object.entries(modes(daemon.dir)).filter(([, m]) => m !== '0600'),
        [],
      );
    } finally {
      await daemon.cleanup();
    }
  });

  test('existing spool files readable by group or others are tightened at start, and the daemon says so', async () => {
    const daemon = await TestDaemon.start();
    try {
      await daemon.stop();
      chmodSync(daemon.spoolPath, 0o644);
      chmodSync(`${daemon.spoolPath}.lock`, 0o664);
      await daemon.launch();
      const files = modes(daemon.dir);
      assert.equal(files['spool.db'], '0600');
      assert.equal(files['spool.db.lock'], '0600');
      const logged = daemon.logs.filter((l) => l.msg?.startsWith('tightened the permissions of a spool file'));
      assert.deepEqual(logged.map((l) => [l['file'], l['from'], l['to']]).sort(), [
        [daemon.spoolPath, '0644', '0600'],
        [`${daemon.spoolPath}.lock`, '0664', '0600'],
      ]);
    } finally {
      await daemon.cleanup();
    }
  });
});

describe('one daemon per spool', { timeout: 120_000 }, () => {
  let mx: FakeMx;
  let daemon: TestDaemon;
  let release: (() => void) | null = null;

  before(async () => {
    const port = await freePort('127.0.0.2');
    // The first DATA waits until the test lets it go: a delivery in flight, its recipient leased.
    const held = new Promise<'accept'>((resolve) => (release = () => resolve('accept')));
    mx = await FakeMx.start('127.0.0.2', port, { data: (n) => (n === 1 ? held : 'accept') });
    daemon = await TestDaemon.start({
      config: { delivery: { routes: { '*': `127.0.0.2:${port}` }, allowPrivateDestinations: true }, spool: { keepDelivered: 3600 } },
    });
  });
  after(async () => {
    release?.();
    await daemon.cleanup();
    await mx.close();
  });

  const leases = (): unknown[] => {
    const db = daemon.openSpool();
    try {
      return db.prepare('SELECT message_id, address, lease_until FROM recipients ORDER BY message_id').all();
    } finally {
      db.close();
    }
  };

  test('a second serve exits 1 at once naming the holder; the first keeps its claims and delivers each message once', async () => {
    const first = await send(daemon, 'a@remote.test');
    const deadline = Date.now() + 10_000;
    while (mx.connections === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const before = leases();
    assert.ok((before[0] as { lease_until: number | null }).lease_until !== null, 'the first daemon holds a claim');

    const second = await serveToExit(daemon.configPath, 20_000);
    assert.equal(second.code, 1, second.stderr);
    assert.ok(second.ms < 10_000, `exited after ${second.ms} ms`);
    assert.match(second.stderr, new RegExp(`another smarthost daemon \\(pid ${daemon.pid}\\) is running on the spool ${daemon.spoolPath}`));
    assert.deepEqual(leases(), before, 'the claim is untouched');

    release?.();
    await mx.waitFor(1);
    const next = await send(daemon, 'b@remote.test');
    await mx.waitFor(2);
    assert.deepEqual(
      mx.received.map((m) => m.to),
      [['a@remote.test'], ['b@remote.test']],
    );
    // And after a restart nothing is due again: each message arrived once.
    await daemon.stop();
    await daemon.launch();
    const db = daemon.openSpool();
    try {
      const rows = db.prepare('SELECT message_id, state FROM recipients ORDER BY message_id').all();
      assert.deepEqual(rows, [
        { message_id: first, state: 'delivered' },
        { message_id: next, state: 'delivered' },
      ]);
    } finally {
      db.close();
    }
    assert.equal(mx.received.length, 2);
  });

  test('the lock goes with the process: after kill -9 a new daemon starts at once', async () => {
    await daemon.kill();
    await daemon.launch();
    assert.ok(daemon.logs.some((l) => l.msg === 'ready'));
  });
});

/** The uid and gid of `nobody`, when this runs as root and `nobody` can run the program; else why not. */
function otherUser(): { uid: number; gid: number } | string {
  if (process.getuid?.() !== 0) return 'needs root (to switch to another user)';
  try {
    const uid = Number(execFileSync('id', ['-u', 'nobody'], { encoding: 'utf8' }));
    const gid = Number(execFileSync('id', ['-g', 'nobody'], { encoding: 'utf8' }));
    const probe = spawnSync(process.execPath, [join(ROOT, 'bin', 'smarthost.js'), '--help'], { uid, gid, stdio: 'ignore' });
    if (probe.status !== 0) return `user nobody cannot run ${ROOT}/bin/smarthost.js`;
    return { uid, gid };
  } catch {
    return 'no user nobody';
  }
}

describe('the CLI as root and a spool the daemon cannot write', () => {
  const user = otherUser();
  const skip = typeof user === 'string' ? user : false;
  const dirs: string[] = [];
  after(() => {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  /** A directory owned by the other user, as a service's state directory is. */
  function ownedDir(): string {
    const dir = mkdtempSync(join(tmpdir(), 'smarthost-owner-'));
    dirs.push(dir);
    if (typeof user !== 'string') chownSync(dir, user.uid, user.gid);
    return dir;
  }

  test('`user add` as root on a fresh spool: every file belongs to the directory owner, and the daemon runs as that user', {
    skip,
  }, async () => {
    if (typeof user === 'string') return;
    const dir = ownedDir();
    const daemon = await TestDaemon.start({ dir, user }); // the CLI runs as root, the daemon as nobody
    try {
      for (const name of readdirSync(dir).filter((f) => f.startsWith('spool.db'))) {
        const st = statSync(join(dir, name));
        assert.deepEqual([name, st.uid, st.gid, mode(join(dir, name))], [name, user.uid, user.gid, '0600']);
      }
      const id = await send(daemon);
      const users = await daemon.cli(['user', 'list']);
      assert.equal(users.code, 0, users.stderr);
      const held = await daemon.cli(['queue', 'hold', id]);
      assert.equal(held.code, 0, held.stderr);
      const logged = await daemon.waitForLog((l) => l['queueId'] === id && l['by'] !== undefined);
      assert.deepEqual([logged['by'], logged['uid']], ['root', 0], 'the change is logged as made by root, who ran the command');
    } finally {
      await daemon.cleanup();
    }
  });

  test('as root, the CLI will not create a missing spool directory', { skip }, async () => {
    const dir = ownedDir();
    const config = join(dir, 'smarthost.yaml');
    writeFileSync(config, JSON.stringify({ spool: { path: join(dir, 'missing', 'spool.db') } }));
    const result = await runCli(['user', 'list', '--config', config]);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /the spool directory .*missing does not exist/);
    assert.equal(existsSync(join(dir, 'missing')), false);
  });

  test("the daemon's error on a spool it cannot write names the file, its owner and mode", { skip }, async () => {
    if (typeof user === 'string') return;
    const dir = ownedDir();
    const path = join(dir, 'spool.db');
    new Database(path).exec('CREATE TABLE t (x)'); // root's file, 0644: what the CLI as root used to leave
    chmodSync(path, 0o644);
    const daemon = await TestDaemon.start({ dir, users: [], user }).catch((err: Error) => err);
    assert.ok(daemon instanceof Error, 'the daemon does not start');
    assert.match(daemon.message, /exit=1/);
    assert.match(
      daemon.message,
      new RegExp(`cannot read and write ${path} \\(owner root \\(uid 0\\), group root \\(gid 0\\), mode 0644\\) as user nobody`),
    );
  });

  test('a spool directory the daemon cannot create files in is named with its owner and mode', { skip }, async () => {
    if (typeof user === 'string') return;
    const dir = ownedDir();
    const spoolDir = join(dir, 'spool');
    mkdirSync(spoolDir, { mode: 0o755 }); // root's
    const daemon = await TestDaemon.start({ dir, users: [], user, config: { spool: { path: join(spoolDir, 'spool.db') } } }).catch(
      (err: Error) => err,
    );
    assert.ok(daemon instanceof Error, 'the daemon does not start');
    assert.match(
      daemon.message,
      new RegExp(`cannot create files in ${spoolDir} \\(owner root \\(uid 0\\), group root \\(gid 0\\), mode 0755\\)`),
    );
  });
});
