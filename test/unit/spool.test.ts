// Spool pieces that need no daemon: queue IDs, migrations and the group-commit enqueuer.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { openSpool } from '../../src/spool/database.js';
import { Enqueuer, type NewMessage } from '../../src/spool/enqueue.js';
import { QUEUE_ID_PATTERN, QueueIdGenerator, queueIdTime } from '../../src/spool/queue-id.js';
import { runtimeProblem } from '../../src/spool/sqlite.js';

describe('queue IDs', () => {
  test('14 characters, strictly increasing within one process, decodable to the time', () => {
    let now = 1_795_600_000_000;
    const ids = new QueueIdGenerator(() => now);
    const made: string[] = [];
    for (let i = 0; i < 1000; i++) {
      if (i % 100 === 0) now += 1;
      made.push(ids.next());
    }
    for (const id of made) assert.match(id, QUEUE_ID_PATTERN);
    assert.deepEqual([...made].sort(), made);
    assert.equal(new Set(made).size, made.length);
    assert.equal(queueIdTime(made.at(-1) ?? ''), now);
  });
  test('a clock that steps back never produces a smaller ID', () => {
    let now = 2_000_000_000_000;
    const ids = new QueueIdGenerator(() => now);
    const first = ids.next();
    now -= 60_000;
    assert.ok(ids.next() > first);
  });
});

describe('the SQLite binding', () => {
  test('refuses the Node.js releases that abort better-sqlite3 (24.19 to 24.21), and only those', () => {
    for (const bad of ['24.19.0', '24.20.0', '24.21.0', '24.21.9']) assert.match(runtimeProblem(bad) ?? '', /use Node\.js 24\.22 or later/);
    for (const good of ['20.18.1', '20.20.2', '22.23.2', '24.18.1', '24.22.0', '24.22.3', '26.1.0'])
      assert.equal(runtimeProblem(good), null, good);
    assert.equal(runtimeProblem(), null, 'the running Node.js');
  });
});

describe('spool database', () => {
  const dir = mkdtempSync(join(tmpdir(), 'smarthost-spool-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  const message = (id: string, recipients: string[]): NewMessage => ({
    id,
    sender: 'a@example.com',
    username: 'app',
    clientAddress: '127.0.0.1',
    recipients,
    body: Buffer.from('Subject: x\r\n\r\nbody\r\n'),
    createdAt: 1000,
    kind: 'message',
    smtputf8: false,
  });

  test('WAL, synchronous=FULL, foreign keys and the schema version are set', () => {
    const db = openSpool(join(dir, 'a.db'));
    assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
    assert.equal(db.pragma('synchronous', { simple: true }), 2);
    assert.equal(db.pragma('foreign_keys', { simple: true }), 1);
    assert.ok((db.pragma('user_version', { simple: true }) as number) >= 1);
    db.close();
    const again = openSpool(join(dir, 'a.db'));
    again.close();
  });

  test('concurrent enqueues share a commit, each with all its recipients', async () => {
    const db = openSpool(join(dir, 'b.db'));
    const enqueuer = new Enqueuer(db);
    const commits: number[] = [];
    enqueuer.onCommitted((messages) => commits.push(messages.length));
    await Promise.all([
      enqueuer.enqueue(message('M1', ['x@a.test', 'y@b.test'])),
      enqueuer.enqueue(message('M2', ['z@c.test'])),
      enqueuer.enqueue(message('M3', ['z@c.test', 'z@c.test'])),
    ]);
    assert.deepEqual(commits, [3]);
    const rows = db.prepare('SELECT message_id, address, domain, state FROM recipients ORDER BY message_id, address').all();
    assert.deepEqual(rows, [
      { message_id: 'M1', address: 'x@a.test', domain: 'a.test', state: 'queued' },
      { message_id: 'M1', address: 'y@b.test', domain: 'b.test', state: 'queued' },
      { message_id: 'M2', address: 'z@c.test', domain: 'c.test', state: 'queued' },
      { message_id: 'M3', address: 'z@c.test', domain: 'c.test', state: 'queued' },
    ]);
    db.close();
  });

  test('a failing message in a batch is rolled back alone; the others commit', async () => {
    const db = openSpool(join(dir, 'c.db'));
    const enqueuer = new Enqueuer(db);
    await enqueuer.enqueue(message('DUP', ['a@a.test']));
    const results = await Promise.allSettled([
      enqueuer.enqueue(message('OK1', ['a@a.test'])),
      enqueuer.enqueue(message('DUP', ['b@b.test'])),
      enqueuer.enqueue(message('OK2', ['a@a.test'])),
    ]);
    assert.deepEqual(
      results.map((r) => r.status),
      ['fulfilled', 'rejected', 'fulfilled'],
    );
    const failed = results[1] as PromiseRejectedResult;
    assert.equal((failed.reason as { responseCode: number }).responseCode, 451);
    assert.deepEqual(db.prepare("SELECT address FROM recipients WHERE message_id = 'DUP'").all(), [{ address: 'a@a.test' }]);
    assert.equal((db.prepare('SELECT count(*) AS n FROM messages').get() as { n: number }).n, 3);
    db.close();
  });
});
