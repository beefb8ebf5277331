// The queue as the administrator sees it, without a daemon: listing filters, `show`, the
// administrator's transitions, how the delivery store treats recipients changed while their attempt
// runs, the administrative bounce, and the counts behind `status` and the metrics.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { bounceNow } from '../../src/bounce/administrative.js';
import { Bouncer } from '../../src/bounce/bouncer.js';
import { openSpool, type SpoolDatabase } from '../../src/spool/database.js';
import { DeliveryStore, type RecipientResult } from '../../src/spool/delivery-store.js';
import { Enqueuer } from '../../src/spool/enqueue.js';
import { AdminLog, type Actor } from '../../src/spool/admin-log.js';
import { QueueAdmin, type QueueChange } from '../../src/spool/queue-admin.js';
import { QueueIdGenerator } from '../../src/spool/queue-id.js';
import { listMessageIds, listMessages, showMessage, type ListFilter } from '../../src/spool/queue-read.js';
import { QueueStats } from '../../src/spool/queue-stats.js';
import { fillSpool, type FixtureName } from '../helpers/queue-fixture.js';

const NOW = 1_795_600_000_000;
const ACTOR: Actor = { user: 'alice', uid: 1001, sudoUser: 'bob' };
const dir = mkdtempSync(join(tmpdir(), 'smarthost-queue-'));
after(() => rmSync(dir, { recursive: true, force: true }));

async function fixture(name: string): Promise<{ db: SpoolDatabase; ids: Record<FixtureName, string> }> {
  const path = join(dir, `${name}.db`);
  const ids = await fillSpool(path, NOW);
  return { db: openSpool(path), ids };
}

function states(db: SpoolDatabase, id: string): Array<[string, string]> {
  return (
    db.prepare('SELECT address, state FROM recipients WHERE message_id = ? ORDER BY address').all(id) as Array<{
      address: string;
      state: string;
    }>
  ).map((r) => [r.address, r.state]);
}

describe('listing and showing', () => {
  let db: SpoolDatabase;
  let ids: Record<FixtureName, string>;
  before(async () => ({ db, ids } = await fixture('list')));
  after(() => db.close());

  const listed = (filter: ListFilter): string[] => [...listMessages(db, filter)].map((m) => m.id);

  test('by default the messages still waiting, oldest first, with every recipient', () => {
    const messages = [...listMessages(db, {})];
    assert.deepEqual(
      messages.map((m) => m.id),
      [ids.deferred, ids.held, ids.mixed, ids.queued],
    );
    const mixed = messages.find((m) => m.id === ids.mixed);
    assert.deepEqual(
      mixed?.recipients.map((r) => [r.address, r.state, r.attempts]),
      [
        ['g@one.test', 'delivered', 1],
        ['h@two.test', 'deferred', 1],
      ],
    );
    assert.equal(messages[0]?.recipients[0]?.lastReply, '451 4.3.0 Try again later');
  });

  test('--status: every message with a recipient in that state, finished ones included', () => {
    assert.deepEqual(listed({ state: 'delivered' }), [ids.delivered, ids.mixed]);
    assert.deepEqual(listed({ state: 'bounced' }), [ids.bounced]);
    assert.deepEqual(listed({ state: 'deferred' }), [ids.deferred, ids.mixed]);
    assert.deepEqual(listed({ state: 'held' }), [ids.held]);
    assert.deepEqual(listed({ state: 'queued' }), [ids.queued]);
  });

  test('--domain, --sender (address in any case, or @domain) and --older-than', () => {
    assert.deepEqual(listed({ domain: 'ONE.test' }), [ids.deferred, ids.queued], 'g@one.test of "mixed" is delivered, not waiting');
    assert.deepEqual(listed({ domain: 'one.test', state: 'delivered' }), [ids.delivered, ids.mixed]);
    assert.deepEqual(listed({ sender: 'APP@example.com' }), [ids.deferred, ids.mixed, ids.queued]);
    assert.deepEqual(listed({ sender: '@example.org' }), [ids.held]);
    assert.deepEqual(listed({ arrivedBefore: NOW - 45 * 60_000 }), [ids.deferred, ids.held]);
    assert.deepEqual(listed({ sender: "x' OR 1=1 --" }), []);
  });

  test('show: envelope, recipients with their attempt history, body', () => {
    const shown = showMessage(db, ids.mixed);
    assert.ok(shown);
    assert.equal(shown.sender, 'App@Example.com');
    assert.equal(shown.doneAt, null);
    assert.deepEqual(
      shown.recipients.map((r) => [r.address, r.state, r.history.map((a) => a.outcome)]),
      [
        ['g@one.test', 'delivered', ['delivered']],
        ['h@two.test', 'deferred', ['deferred']],
      ],
    );
    assert.equal(shown.recipients[0]?.history[0]?.mxHost, 'mx.remote.test');
    assert.match(shown.body?.toString() ?? '', /Subject: fixture mixed/);
    assert.equal(showMessage(db, '0000000000000A'), null);
  });

  test('counts: waiting recipients by state, all states, the oldest waiting message, recent outcomes', () => {
    const stats = new QueueStats(db);
    assert.deepEqual(stats.recipientCounts(), { queued: 1, deferred: 3, held: 1, delivered: 0, bounced: 0 });
    assert.deepEqual(stats.recipientCounts(true), { queued: 1, deferred: 3, held: 1, delivered: 2, bounced: 1 });
    assert.equal(stats.oldestWaiting(), NOW - 120 * 60_000);
    assert.deepEqual(stats.outcomesSince(NOW - 100 * 60_000), { delivered: 1, deferred: 2 });
  });
});

describe('administrative transitions', () => {
  let db: SpoolDatabase;
  let ids: Record<FixtureName, string>;
  let admin: QueueAdmin;
  before(async () => {
    ({ db, ids } = await fixture('admin'));
    admin = new QueueAdmin(db);
  });
  after(() => db.close());

  const due = (id: string): number[] =>
    db.prepare('SELECT next_attempt_at FROM recipients WHERE message_id = ? ORDER BY address').pluck().all(id) as number[];
  /** How many recipients `change` changed, per message asked. */
  const apply = (change: QueueChange, list: readonly string[], now: number, more: { domain?: string; dryRun?: boolean } = {}): number[] =>
    admin.apply(change, list, { now, actor: ACTOR, ...more }).messages.map((m) => m.recipients.length);

  test('retry one message, one domain and all: queued and deferred recipients become due; held ones stay, and are reported', () => {
    assert.deepEqual(apply('retry', [ids.deferred], NOW + 1), [2]);
    assert.deepEqual(due(ids.deferred), [NOW + 1, NOW + 1]);
    const waiting = listMessageIds(db, {});
    assert.deepEqual(
      apply('retry', listMessageIds(db, { domain: 'TWO.test' }), NOW + 2, { domain: 'TWO.test' }),
      [1, 1],
      'b@ and h@two.test',
    );
    assert.deepEqual(apply('retry', waiting, NOW + 2, { domain: 'two.test.' }), [1, 0, 1, 0], 'a trailing dot names the same domain');
    const all = admin.apply('retry', waiting, { now: NOW + 3, actor: ACTOR });
    assert.deepEqual(
      all.messages.map((m) => [m.recipients.length, m.held]),
      [
        [2, []],
        [0, ['d@three.test']],
        [1, []],
        [1, []],
      ],
    );
    assert.deepEqual(states(db, ids.held), [['d@three.test', 'held']]);
    assert.ok(due(ids.held)[0] !== NOW + 3);
  });

  test('hold, then release: due now, deferred after an attempt, queued before any', () => {
    assert.deepEqual(apply('hold', [ids.queued], NOW), [1]);
    assert.deepEqual(apply('hold', [ids.queued], NOW), [0], 'already held');
    assert.deepEqual(apply('hold', [ids.delivered], NOW), [0], 'nothing waiting');
    assert.deepEqual(apply('release', [ids.queued], NOW + 5), [1]);
    assert.deepEqual(states(db, ids.queued), [['a@one.test', 'queued']]);
    assert.deepEqual(apply('release', [ids.held], NOW + 5), [1]);
    assert.deepEqual(states(db, ids.held), [['d@three.test', 'deferred']]);
    assert.deepEqual(due(ids.held), [NOW + 5]);
  });

  test("with a domain, only that domain's recipients change; a dry run reports the same and changes nothing", () => {
    const dry = admin.apply('hold', [ids.deferred], { now: NOW, actor: ACTOR, domain: 'one.test', dryRun: true });
    assert.deepEqual(dry.messages[0]?.recipients, ['c@one.test']);
    assert.deepEqual(states(db, ids.deferred), [
      ['b@two.test', 'deferred'],
      ['c@one.test', 'deferred'],
    ]);
    assert.deepEqual(
      new AdminLog(db).take(1000).filter((l) => l.fields['queueId'] === ids.deferred && l.msg === 'admin hold'),
      [],
    );
    assert.deepEqual(apply('hold', [ids.deferred], NOW, { domain: 'one.test' }), [1]);
    assert.deepEqual(states(db, ids.deferred), [
      ['b@two.test', 'deferred'],
      ['c@one.test', 'held'],
    ]);
    assert.deepEqual(apply('release', [ids.deferred], NOW), [1]);
  });

  test('every change leaves one admin log line per message changed, with the recipients and the Unix user', () => {
    const log = new AdminLog(db);
    log.removeThrough(Number.MAX_SAFE_INTEGER);
    apply('hold', [ids.mixed, ids.delivered], NOW + 7);
    const lines = log.take(10);
    assert.deepEqual(
      lines.map((l) => [l.at, l.msg, l.fields]),
      [
        [
          NOW + 7,
          'admin hold',
          { queueId: ids.mixed, from: 'App@Example.com', rcpts: 1, recipients: ['h@two.test'], by: 'alice', uid: 1001, sudoUser: 'bob' },
        ],
      ],
      'nothing logged for a message with nothing to hold',
    );
    apply('release', [ids.mixed], NOW + 8);
  });

  test('delete removes the message, its body, recipients and attempts; unknown IDs are reported', () => {
    const result = admin.apply('delete', [ids.bounced, '0000000000000A'], { now: NOW, actor: ACTOR });
    assert.deepEqual(
      result.messages.map((m) => [m.id, m.recipients]),
      [[ids.bounced, ['f@two.test']]],
    );
    assert.deepEqual(result.missing, ['0000000000000A']);
    assert.deepEqual(admin.apply('delete', [ids.bounced], { now: NOW, actor: ACTOR }).missing, [ids.bounced]);
    const left = db
      .prepare(`SELECT (SELECT count(*) FROM bodies WHERE message_id = @id) + (SELECT count(*) FROM recipients WHERE message_id = @id)
      + (SELECT count(*) FROM attempts WHERE message_id = @id) AS n`)
      .pluck()
      .get({ id: ids.bounced });
    assert.equal(left, 0);
  });
});

describe('an attempt that ends after the administrator changed its recipient', () => {
  let db: SpoolDatabase;
  let store: DeliveryStore;
  let ids: Record<FixtureName, string>;
  before(async () => {
    ({ db, ids } = await fixture('race'));
    store = new DeliveryStore(db, { leaseMs: 3_600_000, keepDeliveredMs: 0 });
  });
  after(() => db.close());

  const outcome = (messageId: string, address: string, state: RecipientResult['state']): RecipientResult => ({
    messageId,
    address,
    state,
    at: NOW,
    nextAttemptAt: NOW + 60_000,
    outcome: state,
    reply: '451 4.3.0 later',
    mxHost: null,
    mxAddress: null,
    relay: null,
    tls: null,
  });

  test('held while deferred stays held; a delivery still counts', () => {
    new QueueAdmin(db).apply('hold', [ids.deferred], { now: NOW, actor: ACTOR });
    store.record([outcome(ids.deferred, 'b@two.test', 'deferred'), outcome(ids.deferred, 'c@one.test', 'delivered')]);
    assert.deepEqual(states(db, ids.deferred), [
      ['b@two.test', 'held'],
      ['c@one.test', 'delivered'],
    ]);
  });

  test("a deleted message's outcome is dropped without failing the others in the batch", () => {
    new QueueAdmin(db).apply('delete', [ids.queued], { now: NOW, actor: ACTOR });
    store.record([outcome(ids.queued, 'a@one.test', 'delivered'), outcome(ids.mixed, 'h@two.test', 'delivered')]);
    assert.deepEqual(states(db, ids.mixed), [
      ['g@one.test', 'delivered'],
      ['h@two.test', 'delivered'],
    ]);
    assert.equal(db.prepare('SELECT count(*) FROM attempts WHERE message_id = ?').pluck().get(ids.queued), 0);
  });
});

describe('queue bounce', () => {
  test('waiting recipients bounce with one DSN to the sender; the message is finished', async () => {
    const { db, ids } = await fixture('bounce');
    try {
      const store = new DeliveryStore(db, { leaseMs: 3_600_000, keepDeliveredMs: 0 });
      const bouncer = new Bouncer({
        enqueuer: new Enqueuer(db),
        ids: new QueueIdGenerator(),
        clock: { now: () => NOW },
        hostname: 'relay.test',
      });
      const result = await bounceNow({ db, store, bouncer, clock: { now: () => NOW } }, ids.mixed, { actor: ACTOR });
      assert.ok(result.found);
      assert.deepEqual(result.bounced, ['h@two.test']);
      assert.deepEqual(states(db, ids.mixed), [
        ['g@one.test', 'delivered'],
        ['h@two.test', 'bounced'],
      ]);
      const shown = showMessage(db, ids.mixed);
      assert.equal(shown?.doneAt, NOW);
      assert.equal(shown?.recipients[1]?.history.at(-1)?.reply, '550 5.0.0 message returned to the sender by the mail administrator');
      const dsn = result.dsn ? showMessage(db, result.dsn) : null;
      assert.equal(dsn?.kind, 'bounce');
      assert.equal(dsn?.sender, '');
      assert.deepEqual(
        dsn?.recipients.map((r) => [r.address, r.state]),
        [['App@Example.com', 'queued']],
      );
      assert.match(dsn?.body?.toString() ?? '', /Final-Recipient: rfc822; h@two\.test\r\nAction: failed\r\nStatus: 5\.0\.0/);
      assert.match(dsn?.body?.toString() ?? '', /Subject: fixture mixed/, 'the original header is attached');
      const again = await bounceNow({ db, store, bouncer, clock: { now: () => NOW } }, ids.mixed, { actor: ACTOR });
      assert.deepEqual(again, { found: true, sender: 'App@Example.com', bounced: [], dsn: null });
      assert.deepEqual(await bounceNow({ db, store, bouncer, clock: { now: () => NOW } }, '0000000000000A', { actor: ACTOR }), {
        found: false,
      });
      const lines = new AdminLog(db).take(10).map((l) => [l.msg, l.fields]);
      assert.deepEqual(
        lines,
        [
          [
            'admin bounce',
            {
              queueId: ids.mixed,
              from: 'App@Example.com',
              rcpts: 1,
              recipients: ['h@two.test'],
              dsn: result.dsn,
              by: 'alice',
              uid: 1001,
              sudoUser: 'bob',
            },
          ],
          [
            'delivery bounced',
            {
              queueId: ids.mixed,
              from: 'App@Example.com',
              to: 'h@two.test',
              relay: 'none',
              delay: 1800,
              attempts: 2,
              tls: 'none',
              status: 'bounced',
              reply: '550 5.0.0 message returned to the sender by the mail administrator',
            },
          ],
          ['sender non-delivery notification', { queueId: ids.mixed, dsn: result.dsn, to: 'App@Example.com', rcpts: 1 }],
          ['removed', { queueId: ids.mixed }],
        ],
        'the same lines as any bounce, after the admin line',
      );
    } finally {
      db.close();
    }
  });
});
