// The spool's lifecycle pieces that need no daemon: the one-daemon lock (held against a second taker
// in another process, recovered from a damaged lock file, its holder read from /proc/locks), the
// free-space reserve's arithmetic, the history sweep (only what finished keepHistory ago, with its
// recipients and attempts, in batches) and the backup copy.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { openSpool } from '../../src/spool/database.js';
import { DeliveryStore } from '../../src/spool/delivery-store.js';
import { Enqueuer } from '../../src/spool/enqueue.js';
import { spoolPaths } from '../../src/spool/files.js';
import { backupSpool, inspectSpool } from '../../src/spool/integrity.js';
import { lockHolder, lockSpool } from '../../src/spool/lock.js';
import { DiskReserve } from '../../src/spool/reserve.js';
import { HistorySweeper } from '../../src/spool/retention.js';

const dir = mkdtempSync(join(tmpdir(), 'smarthost-lifecycle-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Try the lock from another process; its exit status and stderr. */
function tryLockElsewhere(db: string): { status: number | null; stderr: string } {
  const script = `import { lockSpool } from ${JSON.stringify(join(import.meta.dirname, '..', '..', 'src', 'spool', 'lock.ts'))};
import { spoolPaths } from ${JSON.stringify(join(import.meta.dirname, '..', '..', 'src', 'spool', 'files.ts'))};
try { lockSpool(spoolPaths(${JSON.stringify(db)})); } catch (err) { process.stderr.write(err.message); process.exit(3); }`;
  const result = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8' });
  return { status: result.status, stderr: result.stderr };
}

describe('the spool lock', () => {
  test('held until released; another process is refused, naming this pid', () => {
    const paths = spoolPaths(join(dir, 'locked.db'));
    const lock = lockSpool(paths);
    assert.equal((statSync(paths.lock).mode & 0o777).toString(8), '600');
    assert.equal(lockHolder(paths.lock), process.pid);
    const refused = tryLockElsewhere(paths.db);
    assert.equal(refused.status, 3);
    assert.match(refused.stderr, new RegExp(`another smarthost daemon \\(pid ${process.pid}\\) is running on the spool ${paths.db}`));
    lock.release();
    assert.equal(tryLockElsewhere(paths.db).status, 0);
  });

  test('a lock file a crash left unreadable is taken anyway', () => {
    const paths = spoolPaths(join(dir, 'garbage.db'));
    writeFileSync(paths.lock, Buffer.alloc(8192, 0x5a));
    const lock = lockSpool(paths);
    assert.equal(lockHolder(paths.lock), process.pid);
    lock.release();
  });
});

describe('the free-space reserve', () => {
  const reserve = (free: number, minFree: number, changes: boolean[] = []): DiskReserve =>
    new DiskReserve(
      '/',
      minFree,
      (space) => changes.push(space.ok),
      () => ({ bavail: free / 4096, bsize: 4096 }),
    );

  test('a message is allowed while the free space after it stays at or above minFree', () => {
    assert.equal(reserve(10 * 4096, 4 * 4096).allows(6 * 4096), true);
    assert.equal(reserve(10 * 4096, 4 * 4096).allows(6 * 4096 + 1), false);
    assert.equal(reserve(0, 0).allows(1e9), true, 'minFree 0: no reserve');
  });

  test('crossing the line either way is reported once', () => {
    let free = 100 * 4096;
    const changes: boolean[] = [];
    const r = new DiskReserve(
      '/',
      50 * 4096,
      (space) => changes.push(space.ok),
      () => ({ bavail: free / 4096, bsize: 4096 }),
    );
    r.space();
    free = 10 * 4096;
    r.space();
    r.space();
    free = 60 * 4096;
    r.space();
    assert.deepEqual(changes, [false, true]);
  });
});

describe('the history sweep and the backup', () => {
  test('deletes messages finished keepHistory ago with their recipients and attempts, in batches; keeps the rest', async () => {
    const db = openSpool(join(dir, 'history.db'));
    const enqueuer = new Enqueuer(db);
    const store = new DeliveryStore(db, { leaseMs: 60_000, keepDeliveredMs: 0 });
    const base = { sender: 'a@example.com', username: 'app', clientAddress: null, kind: 'message' as const, smtputf8: false };
    for (let i = 0; i < 5; i++) {
      const id = `OLD${i}`;
      await enqueuer.enqueue({ ...base, id, recipients: [`x${i}@a.test`], body: Buffer.from('x'), createdAt: 1000 });
      store.record([
        {
          messageId: id,
          address: `x${i}@a.test`,
          state: 'delivered',
          at: 2000,
          nextAttemptAt: 2000,
          outcome: 'delivered',
          reply: '250 ok',
          mxHost: null,
          mxAddress: null,
          relay: null,
          tls: null,
        },
      ]);
    }
    await enqueuer.enqueue({ ...base, id: 'WAITING', recipients: ['w@a.test'], body: Buffer.from('w'), createdAt: 1000 });
    const sweeper = new HistorySweeper(db, 10_000, 2);
    assert.equal(sweeper.sweepBatch(11_999), 0, 'not yet keepHistory after done_at');
    assert.deepEqual([sweeper.sweepBatch(12_000), sweeper.sweepBatch(12_000), sweeper.sweepBatch(12_000)], [2, 2, 1]);
    assert.deepEqual(db.prepare('SELECT id FROM messages').pluck().all(), ['WAITING']);
    assert.equal(db.prepare('SELECT count(*) FROM recipients').pluck().get(), 1);
    assert.equal(db.prepare('SELECT count(*) FROM attempts').pluck().get(), 0);

    const copy = join(dir, 'history-copy.db');
    backupSpool(db, copy);
    assert.equal((statSync(copy).mode & 0o777).toString(8), '600');
    assert.throws(() => backupSpool(db, copy), /exists/);
    db.close();
    const restored = openSpool(copy);
    const report = inspectSpool(restored, copy);
    assert.deepEqual(report.problems, []);
    assert.deepEqual(report.messages, { total: 1, open: 1, bodies: 1 });
    restored.close();
  });
});
