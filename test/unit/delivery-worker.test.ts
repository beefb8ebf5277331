// The delivery worker in process: a real spool in a temporary directory, a fake clock, a stub DNS
// answering from a table, and scripted fake MX servers on 127.0.0.x. Time only moves when a test
// moves the clock and wakes the worker.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { Database } from '../../src/spool/sqlite.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, afterEach, before, describe, test } from 'node:test';
import { pino } from 'pino';
import { Bouncer } from '../../src/bounce/bouncer.js';
import { ConnectionPool } from '../../src/delivery/connection-pool.js';
import { SmtpDeliverer } from '../../src/delivery/deliver.js';
import { DestinationResolver } from '../../src/delivery/destinations.js';
import { DeliveryWorker } from '../../src/delivery/worker.js';
import type { Resolver } from '../../src/platform/resolver.js';
import { openSpool, type SpoolDatabase } from '../../src/spool/database.js';
import { DELIVERY_LEASE_MS, DeliveryStore } from '../../src/spool/delivery-store.js';
import { Enqueuer } from '../../src/spool/enqueue.js';
import { QueueIdGenerator } from '../../src/spool/queue-id.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { FakeMx, freePort } from '../helpers/fake-mx.js';

const MX = '127.0.0.2';
/** A second MX with a SIZE limit and without SMTPUTF8, for limited.test. */
const LIMITED = '127.0.0.3';

/** remote.test and example.com → the fake MX; nullmx.test publishes a null MX; nowhere.test does not exist. */
const resolver: Resolver = {
  resolveMx: (domain) => {
    if (domain === 'nullmx.test') return Promise.resolve([{ exchange: '', priority: 0 }]);
    if (domain === 'remote.test' || domain === 'other.test' || domain === 'example.com')
      return Promise.resolve([{ exchange: 'mx.remote.test', priority: 10 }]);
    if (domain === 'limited.test') return Promise.resolve([{ exchange: 'mx.limited.test', priority: 10 }]);
    return Promise.reject(Object.assign(new Error('not found'), { code: 'ENOTFOUND' }));
  },
  resolve4: (host) => Promise.resolve([host === 'mx.limited.test' ? LIMITED : MX]),
  resolve6: () => Promise.reject(Object.assign(new Error('no data'), { code: 'ENODATA' })),
  resolveTxt: () => Promise.reject(new Error('unused')),
};

interface Harness {
  readonly db: SpoolDatabase;
  readonly path: string;
  readonly clock: FakeClock;
  readonly worker: DeliveryWorker;
  readonly enqueuer: Enqueuer;
  readonly ids: QueueIdGenerator;
  readonly logs: Array<Record<string, unknown>>;
  claims: number;
  /** Submit a message as submission would; resolves with its queue ID once committed. */
  submit(recipients: string[], options?: { sender?: string; kind?: 'message' | 'bounce'; body?: Buffer }): Promise<string>;
  recipients(
    id: string,
  ): Array<{ address: string; state: string; attempts: number; next_attempt_at: number; lease_until: number | null; last_reply: string }>;
  /** Let everything started finish. */
  settle(): Promise<void>;
  /** Move the clock to the earliest next attempt and let that attempt finish. */
  nextRound(): Promise<void>;
}

interface HarnessOptions {
  readonly port: number;
  readonly concurrency?: number;
  readonly perDomain?: number;
  readonly retry?: { minBackoff: number; maxBackoff: number; maxLifetime: number };
  readonly keepDeliveredMs?: number;
}

/** A promise settled by calling `fire`, failing after timeoutMs so that no test can hang. */
function signal(timeoutMs = 5000): { fire: () => void; fired: Promise<void> } {
  let fire!: () => void;
  const fired = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('not signalled in time')), timeoutMs);
    fire = () => (clearTimeout(timer), resolve());
  });
  return { fire, fired };
}

const dirs: string[] = [];
const running: Array<{ worker: DeliveryWorker; db: SpoolDatabase }> = [];

function harness(options: HarnessOptions): Harness {
  const dir = mkdtempSync(join(tmpdir(), 'smarthost-worker-'));
  dirs.push(dir);
  const path = join(dir, 'spool.db');
  const db = openSpool(path);
  const clock = new FakeClock();
  const logs: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write: (chunk: Buffer, _e, done) => (logs.push(JSON.parse(chunk.toString()) as Record<string, unknown>), done()),
  });
  const logger = pino({ level: 'info' }, sink);
  const enqueuer = new Enqueuer(db, { leaseMs: DELIVERY_LEASE_MS });
  const ids = new QueueIdGenerator(() => clock.now());
  const h = { claims: 0 } as Harness;
  const store = new DeliveryStore(db, { leaseMs: DELIVERY_LEASE_MS, keepDeliveredMs: options.keepDeliveredMs ?? 0 });
  const claimDue = store.claimDue.bind(store);
  store.claimDue = (now, limit) => (h.claims++, claimDue(now, limit));
  const timeouts = { connect: 2000, greeting: 2000, command: 1000, data: 3000 };
  const pool = new ConnectionPool({ hostname: 'relay.test', timeouts, maxOpen: options.concurrency ?? 10 });
  const destinations = new DestinationResolver(resolver, { port: options.port, routes: {}, allowPrivateDestinations: true });
  const deliverer = new SmtpDeliverer({ destinations, pool });
  const bouncer = new Bouncer({ enqueuer, ids, clock, hostname: 'relay.test' });
  const worker = new DeliveryWorker(
    { store, deliver: deliverer.deliver, bouncer, clock, logger, closeConnections: () => pool.closeAll(), random: () => 0.5 },
    {
      concurrency: options.concurrency ?? 10,
      perDomainConcurrency: options.perDomain ?? 5,
      retry: options.retry ?? { minBackoff: 300, maxBackoff: 4000, maxLifetime: 432_000 },
    },
  );
  enqueuer.onCommitted((m) => worker.offer(m));
  worker.start();
  running.push({ worker, db });
  const settle = async (): Promise<void> => {
    await new Promise((r) => setImmediate(r));
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('worker not idle within 10 s')), 10_000)));
    await Promise.race([worker.whenIdle(), timeout]).finally(() => clearTimeout(timer));
  };
  return Object.assign(h, {
    db,
    path,
    clock,
    worker,
    enqueuer,
    ids,
    logs,
    settle,
    async submit(recipients: string[], o: { sender?: string; kind?: 'message' | 'bounce'; body?: Buffer } = {}): Promise<string> {
      const id = ids.next();
      const body = o.body ?? Buffer.from(`From: a@example.com\r\nSubject: ${id}\r\nMessage-ID: <${id}@example.com>\r\n\r\nHello.\r\n`);
      await enqueuer.enqueue({
        id,
        sender: o.sender ?? 'a@example.com',
        username: 'app',
        clientAddress: '127.0.0.1',
        recipients,
        body,
        createdAt: clock.now(),
        kind: o.kind ?? 'message',
        smtputf8: false,
      });
      return id;
    },
    recipients(id: string) {
      return db
        .prepare(
          'SELECT address, state, attempts, next_attempt_at, lease_until, last_reply FROM recipients WHERE message_id = ? ORDER BY address',
        )
        .all(id) as ReturnType<Harness['recipients']>;
    },
    async nextRound(): Promise<void> {
      const next = store.nextDue();
      assert.ok(next !== null, 'something is due later');
      clock.advance(Math.max(0, next - clock.now()));
      worker.wake();
      await settle();
    },
  });
}

describe('delivery worker', { timeout: 60_000 }, () => {
  let port: number;
  let mx: FakeMx;
  let limited: FakeMx;
  before(async () => {
    port = await freePort(MX);
    mx = await FakeMx.start(MX, port);
    limited = await FakeMx.start(LIMITED, port, {}, { size: 200, smtputf8: false });
  });
  afterEach(async () => {
    for (const { worker, db } of running.splice(0)) {
      await worker.stop(100);
      db.close();
    }
    mx.script = {};
    mx.received.length = 0;
    mx.maxOpen = mx.open;
  });
  after(async () => {
    await Promise.all([mx.close(), limited.close()]);
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  test('a fresh message is taken from the hand-off and delivered at once, without a claim query', async () => {
    const h = harness({ port });
    await h.settle();
    const claimsAtStart = h.claims;
    const ids = await Promise.all([h.submit(['a@remote.test', 'b@remote.test']), h.submit(['c@other.test'])]);
    await h.settle();
    assert.equal(h.claims, claimsAtStart);
    assert.equal(mx.received.length, 2);
    for (const id of ids) for (const r of h.recipients(id)) assert.deepEqual([r.state, r.attempts, r.lease_until], ['delivered', 1, null]);
    const done = h.db.prepare('SELECT done_at FROM messages WHERE id = ?').pluck().get(ids[0]);
    assert.equal(done, h.clock.now());
    assert.equal(h.db.prepare('SELECT count(*) FROM bodies').pluck().get(), 0, 'bodies are deleted once done (keepDelivered 0)');
    const line = h.logs.find((l) => l['to'] === 'a@remote.test');
    assert.deepEqual(
      {
        queueId: line?.['queueId'],
        from: line?.['from'],
        relay: line?.['relay'],
        attempts: line?.['attempts'],
        status: line?.['status'],
        delay: line?.['delay'],
      },
      { queueId: ids[0], from: 'a@example.com', relay: `mx.remote.test[${MX}]:${port}`, attempts: 1, status: 'sent', delay: 0 },
    );
    assert.match(String(line?.['tls']), /^TLSv1\.[23] \S+ unverified$/);
    assert.match(String(line?.['reply']), /^250 /);
  });

  test('451 then 250: deferred with backoff, delivered on the retry', async () => {
    const h = harness({ port });
    let tries = 0;
    mx.script = { rcpt: () => (++tries === 1 ? 'tempfail' : 'accept') };
    const id = await h.submit(['a@remote.test']);
    await h.settle();
    const [first] = h.recipients(id);
    assert.deepEqual(
      [first?.state, first?.attempts, first?.lease_until, first?.last_reply],
      ['deferred', 1, null, '451 4.3.0 Try again later'],
    );
    assert.equal(first?.next_attempt_at, h.clock.now() + 300_000);
    h.clock.advance(299_000);
    h.worker.wake();
    await h.settle();
    assert.equal(h.recipients(id)[0]?.state, 'deferred', 'not before it is due');
    await h.nextRound();
    assert.deepEqual(
      h.recipients(id).map((r) => [r.state, r.attempts]),
      [['delivered', 2]],
    );
    const attempts = h.db.prepare('SELECT outcome, mx_host, mx_address FROM attempts WHERE message_id = ? ORDER BY id').all(id);
    assert.deepEqual(attempts, [
      { outcome: 'deferred', mx_host: 'mx.remote.test', mx_address: MX },
      { outcome: 'delivered', mx_host: 'mx.remote.test', mx_address: MX },
    ]);
  });

  test('always 451: retried on the doubling schedule until maxLifetime, then expired with one DSN (4.4.7)', async () => {
    const h = harness({ port, retry: { minBackoff: 60, maxBackoff: 240, maxLifetime: 900 } });
    mx.script = { rcpt: (address) => (address === 'a@example.com' ? 'accept' : 'tempfail') };
    const start = h.clock.now();
    const id = await h.submit(['x@remote.test']);
    await h.settle();
    const times: number[] = [];
    while (h.recipients(id)[0]?.state === 'deferred') {
      times.push((h.recipients(id)[0]?.next_attempt_at ?? 0) - start);
      await h.nextRound();
    }
    assert.deepEqual(
      times.map((t) => t / 1000),
      [60, 180, 420, 660, 900],
    );
    const [r] = h.recipients(id);
    assert.deepEqual([r?.state, r?.attempts], ['bounced', 6]);
    assert.equal(h.logs.filter((l) => l['queueId'] === id && l['status'] === 'expired').length, 1);
    const dsns = h.db.prepare("SELECT id, sender FROM messages WHERE kind = 'bounce'").all() as Array<{ id: string; sender: string }>;
    assert.equal(dsns.length, 1);
    assert.equal(dsns[0]?.sender, '');
    await h.settle();
    const dsn = mx.received.find((m) => m.from === '');
    assert.ok(dsn, 'the DSN is delivered to the sender');
    assert.deepEqual(dsn.to, ['a@example.com']);
    assert.match(
      dsn.data.toString(),
      /Final-Recipient: rfc822; x@remote\.test\r\nAction: failed\r\nStatus: 4\.4\.7\r\nRemote-MTA: dns; mx\.remote\.test\r\nDiagnostic-Code: smtp; 451 4\.3\.0 Try again later/,
    );
  });

  test('one DSN per message per attempt, covering every failed recipient across domains', async () => {
    const h = harness({ port });
    mx.script = { rcpt: (address) => (address.startsWith('bad') ? 'reject' : 'accept') };
    const id = await h.submit(['bad@remote.test', 'good@remote.test', 'x@nullmx.test', 'y@nowhere.test']);
    await h.settle();
    assert.deepEqual(
      h.recipients(id).map((r) => [r.address, r.state]),
      [
        ['bad@remote.test', 'bounced'],
        ['good@remote.test', 'delivered'],
        ['x@nullmx.test', 'bounced'],
        ['y@nowhere.test', 'bounced'],
      ],
    );
    assert.match(h.recipients(id)[2]?.last_reply ?? '', /^550 5\.1\.10 /);
    assert.match(h.recipients(id)[3]?.last_reply ?? '', /^550 5\.1\.2 /);
    const dsns = mx.received.filter((m) => m.from === '');
    assert.equal(dsns.length, 1);
    const statuses = [...(dsns[0]?.data.toString().matchAll(/^Status: (\S+)/gm) ?? [])].map((m) => m[1]);
    assert.deepEqual(statuses.sort(), ['5.1.1', '5.1.10', '5.1.2']);
  });

  test('a null-sender message never causes a bounce', async () => {
    const h = harness({ port });
    mx.script = { rcpt: () => 'reject' };
    const id = await h.submit(['a@remote.test'], { sender: '', kind: 'bounce' });
    await h.settle();
    assert.deepEqual(
      h.recipients(id).map((r) => r.state),
      ['bounced'],
    );
    assert.equal(h.db.prepare('SELECT count(*) FROM messages').pluck().get(), 1);
  });

  test('perDomainConcurrency bounds the connections to one domain, and a healthy connection is reused', async () => {
    const h = harness({ port, perDomain: 1 });
    const before = mx.connections;
    await Promise.all([1, 2, 3, 4].map(() => h.submit(['a@remote.test'])));
    await h.settle();
    assert.equal(mx.received.length, 4);
    assert.equal(mx.maxOpen, 1);
    assert.equal(mx.connections - before, 1, 'four messages over one connection');
  });

  test("a message larger than the server's SIZE bounces with 5.3.4 before it is sent", async () => {
    const h = harness({ port });
    const id = await h.submit(['a@limited.test'], { body: Buffer.from(`Subject: big\r\n\r\n${'x'.repeat(300)}\r\n`) });
    await h.settle();
    assert.match(h.recipients(id)[0]?.last_reply ?? '', /^552 5\.3\.4 message size exceeds the fixed limit of mx\.limited\.test/);
    assert.equal(limited.received.length, 0);
  });

  test('non-ASCII addresses need SMTPUTF8: bounced with 5.6.7 where it is not offered, delivered where it is', async () => {
    const h = harness({ port });
    const id = await h.submit(['jürgen@limited.test', 'jürgen@remote.test']);
    await h.settle();
    assert.deepEqual(
      h.recipients(id).map((r) => [r.address, r.state, r.last_reply?.slice(0, 9)]),
      [
        ['jürgen@limited.test', 'bounced', '550 5.6.7'],
        ['jürgen@remote.test', 'delivered', '250 2.0.0'],
      ],
    );
  });

  test('claims hold a lease while in flight; stop() abandons the attempt and returns the lease', async () => {
    const h = harness({ port });
    const hanging = signal();
    mx.script = { data: () => (hanging.fire(), 'hang') };
    const id = await h.submit(['a@remote.test']);
    await hanging.fired;
    assert.equal(h.recipients(id)[0]?.lease_until, h.clock.now() + DELIVERY_LEASE_MS);
    const { worker, db } = running.pop() ?? assert.fail('running');
    await worker.stop(50);
    assert.deepEqual(
      h.recipients(id).map((r) => [r.state, r.attempts, r.lease_until]),
      [['queued', 0, null]],
    );
    db.close();
  });

  test('a restart returns the claims of a process that died, so they are due at once', async () => {
    const first = harness({ port });
    const hanging = signal();
    mx.script = { data: () => (hanging.fire(), 'hang') };
    await first.submit(['a@remote.test', 'b@remote.test']);
    await hanging.fired;
    // A second worker on the same spool returns the first one's claims, as the daemon does at start.
    const store = new DeliveryStore(first.db, { leaseMs: DELIVERY_LEASE_MS, keepDeliveredMs: 0 });
    assert.equal(store.returnLeases(first.clock.now()), 2);
    assert.deepEqual(
      store
        .claimDue(first.clock.now(), 10)
        .map((r) => r.address)
        .sort(),
      ['a@remote.test', 'b@remote.test'],
    );
  });

  test('a change made by another process (the CLI) wakes the worker within a second', async () => {
    const h = harness({ port });
    let tries = 0;
    mx.script = { rcpt: () => (++tries === 1 ? 'tempfail' : 'accept') };
    const id = await h.submit(['a@remote.test']);
    await h.settle();
    assert.equal(h.recipients(id)[0]?.state, 'deferred');
    const cli = new Database(h.path);
    cli.prepare('UPDATE recipients SET next_attempt_at = ? WHERE message_id = ?').run(h.clock.now(), id);
    cli.close();
    const deadline = Date.now() + 5000;
    while (h.recipients(id)[0]?.state !== 'delivered' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(
      h.recipients(id).map((r) => [r.state, r.attempts]),
      [['delivered', 2]],
    );
  });

  test('spool.keepDelivered keeps a finished body that long', async () => {
    const h = harness({ port, keepDeliveredMs: 60_000 });
    const id = await h.submit(['a@remote.test']);
    await h.settle();
    const body = h.db.prepare('SELECT count(*) FROM bodies WHERE message_id = ?').pluck();
    assert.equal(body.get(id), 1);
    h.clock.advance(59_000);
    h.worker.wake();
    await h.settle();
    assert.equal(body.get(id), 1);
    h.clock.advance(2000);
    h.worker.wake();
    await h.settle();
    assert.equal(body.get(id), 0);
    assert.equal(h.db.prepare('SELECT count(*) FROM recipients WHERE message_id = ?').pluck().get(id), 1, 'the record stays');
  });
});
