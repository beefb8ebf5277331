// A spool with a message in every recipient state, made with smarthost's own spool code (the
// enqueuer, the delivery store's outcome recording and the administrator's hold), for the queue CLI
// tests: queued (never tried), deferred (two recipients), held, delivered, bounced, and a message
// with one recipient delivered and one deferred. Times are relative to `now`.
import { AdminLog } from '../../src/spool/admin-log.js';
import { openSpool } from '../../src/spool/database.js';
import { DeliveryStore, type RecipientResult } from '../../src/spool/delivery-store.js';
import { Enqueuer } from '../../src/spool/enqueue.js';
import { QueueAdmin } from '../../src/spool/queue-admin.js';
import { QueueIdGenerator } from '../../src/spool/queue-id.js';

export type FixtureName = 'queued' | 'deferred' | 'held' | 'delivered' | 'bounced' | 'mixed';

const MINUTE = 60_000;
const FIXTURE_ACTOR = { user: 'fixture', uid: 0, sudoUser: null };

interface Spec {
  readonly name: FixtureName;
  readonly sender: string;
  readonly recipients: readonly string[];
  readonly ageMs: number;
  readonly outcomes: ReadonlyArray<'deferred' | 'delivered' | 'bounced' | null>;
}

const SPECS: readonly Spec[] = [
  { name: 'bounced', sender: 'app@example.com', recipients: ['f@two.test'], ageMs: 240 * MINUTE, outcomes: ['bounced'] },
  { name: 'delivered', sender: 'app@example.com', recipients: ['e@one.test'], ageMs: 180 * MINUTE, outcomes: ['delivered'] },
  {
    name: 'deferred',
    sender: 'app@example.com',
    recipients: ['b@two.test', 'c@one.test'],
    ageMs: 120 * MINUTE,
    outcomes: ['deferred', 'deferred'],
  },
  { name: 'held', sender: 'ops@example.org', recipients: ['d@three.test'], ageMs: 60 * MINUTE, outcomes: ['deferred'] },
  {
    name: 'mixed',
    sender: 'App@Example.com',
    recipients: ['g@one.test', 'h@two.test'],
    ageMs: 30 * MINUTE,
    outcomes: ['delivered', 'deferred'],
  },
  { name: 'queued', sender: 'app@example.com', recipients: ['a@one.test'], ageMs: 10 * MINUTE, outcomes: [null] },
];

function fixtureBody(name: string): Buffer {
  return Buffer.from(`From: app@example.com\r\nSubject: fixture ${name}\r\nMessage-ID: <${name}@example.com>\r\n\r\nbody of ${name}\r\n`);
}

const REPLIES = { deferred: '451 4.3.0 Try again later', delivered: '250 2.0.0 Ok', bounced: '550 5.1.1 No such user here' } as const;

export async function fillSpool(path: string, now: number): Promise<Record<FixtureName, string>> {
  const db = openSpool(path);
  try {
    const enqueuer = new Enqueuer(db);
    const store = new DeliveryStore(db, { leaseMs: 3_600_000, keepDeliveredMs: 86_400_000 });
    const ids: Partial<Record<FixtureName, string>> = {};
    for (const spec of SPECS) {
      const createdAt = now - spec.ageMs;
      const id = new QueueIdGenerator(() => createdAt).next();
      ids[spec.name] = id;
      await enqueuer.enqueue({
        id,
        sender: spec.sender,
        username: 'app',
        clientAddress: '127.0.0.1',
        recipients: spec.recipients,
        body: fixtureBody(spec.name),
        createdAt,
        kind: 'message',
        smtputf8: false,
      });
      const results = spec.recipients.flatMap((address, i) => {
        const outcome = spec.outcomes[i];
        return outcome ? [result(id, address, outcome, createdAt + MINUTE, now + 10 * MINUTE)] : [];
      });
      store.record(results);
      if (spec.name === 'held') new QueueAdmin(db).apply('hold', [id], { now, actor: FIXTURE_ACTOR });
    }
    new AdminLog(db).removeThrough(Number.MAX_SAFE_INTEGER); // the hold's line: the fixture's own making, not an operator's
    return ids as Record<FixtureName, string>;
  } finally {
    db.close();
  }
}

function result(
  messageId: string,
  address: string,
  state: 'deferred' | 'delivered' | 'bounced',
  at: number,
  next: number,
): RecipientResult {
  return {
    messageId,
    address,
    state,
    at,
    nextAttemptAt: state === 'deferred' ? next : at,
    outcome: state,
    reply: REPLIES[state],
    mxHost: 'mx.remote.test',
    mxAddress: '127.0.0.2',
    relay: 'mx.remote.test[127.0.0.2]:25',
    tls: 'TLSv1.3 TLS_AES_256_GCM_SHA384 unverified',
  };
}
