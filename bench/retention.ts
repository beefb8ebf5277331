// The spool under a steady load with retention (spool.keepHistory): every round accepts N messages
// (2 KB, 2 recipients, written as the daemon writes them), delivers them (claim, record both outcomes,
// the body dropped at once as with keepDelivered 0) and moves the clock on an hour; the history sweep
// deletes what finished more than `window` rounds ago, in batches of 100 messages as the daemon does.
// Prints, per round, the spool's size (file and WAL), its pages and free pages, and the sweep's batch
// times; the file grows while the window fills and is flat after that. Bounded: rounds x messages.
//   node --import tsx bench/retention.ts [--rounds 24] [--messages 5000] [--window 6] [--batch 100]
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { openSpool } from '../src/spool/database.js';
import { DeliveryStore, type RecipientResult } from '../src/spool/delivery-store.js';
import { Enqueuer, type NewMessage } from '../src/spool/enqueue.js';
import { QueueIdGenerator } from '../src/spool/queue-id.js';
import { HistorySweeper } from '../src/spool/retention.js';

const { values: args } = parseArgs({
  options: {
    rounds: { type: 'string', default: '24' },
    messages: { type: 'string', default: '5000' },
    window: { type: 'string', default: '6' },
    batch: { type: 'string' },
  },
});
const ROUNDS = Number(args.rounds);
const MESSAGES = Number(args.messages);
const WINDOW = Number(args.window);
const HOUR = 3_600_000;

const dir = mkdtempSync(join(tmpdir(), 'smarthost-retention-'));
const path = join(dir, 'spool.db');
const db = openSpool(path, { synchronous: 'NORMAL' });
let now = Date.parse('2026-01-01T00:00:00Z');
const enqueuer = new Enqueuer(db, { leaseMs: HOUR });
const store = new DeliveryStore(db, { leaseMs: HOUR, keepDeliveredMs: 0 });
const sweeper = new HistorySweeper(db, WINDOW * HOUR, args.batch === undefined ? undefined : Number(args.batch));
const ids = new QueueIdGenerator(() => now);
const body = Buffer.alloc(2048, 'x');

function message(i: number): NewMessage {
  return {
    id: ids.next(),
    sender: 'app@bench.example',
    username: 'bench',
    clientAddress: '127.0.0.1',
    recipients: [`a${i}@d${i % 100}.bench.example`, `b${i}@d${(i + 1) % 100}.bench.example`],
    body,
    createdAt: now,
    kind: 'message',
    smtputf8: false,
  };
}

function delivered(m: NewMessage, address: string): RecipientResult {
  return {
    messageId: m.id,
    address,
    state: 'delivered',
    at: now,
    nextAttemptAt: now,
    outcome: 'delivered',
    reply: '250 2.0.0 Ok: queued as ABCDEF',
    mxHost: 'mx.bench.example',
    mxAddress: '127.0.0.2',
    relay: 'mx.bench.example[127.0.0.2]:25',
    tls: 'TLSv1.3',
  };
}

async function round(): Promise<void> {
  const batch: NewMessage[] = [];
  for (let i = 0; i < MESSAGES; i++) batch.push(message(i));
  for (let i = 0; i < batch.length; i += 100) await Promise.all(batch.slice(i, i + 100).map((m) => enqueuer.enqueue(m)));
  for (let i = 0; i < batch.length; i += 250)
    store.record(batch.slice(i, i + 250).flatMap((m) => m.recipients.map((r) => delivered(m, r))));
}

function sweep(): { deleted: number; batches: number[] } {
  const batches: number[] = [];
  let deleted = 0;
  for (;;) {
    const t0 = performance.now();
    const n = sweeper.sweepBatch(now);
    batches.push(performance.now() - t0);
    deleted += n;
    if (n < sweeper.batch) return { deleted, batches };
  }
}

const MiB = (bytes: number): string => (bytes / 2 ** 20).toFixed(1).padStart(7);
const size = (file: string): number => statSync(file, { throwIfNoEntry: false })?.size ?? 0;
process.stdout.write(`${ROUNDS} rounds of ${MESSAGES} messages (2 recipients, 2 KB); history kept ${WINDOW} rounds\n\n`);
process.stdout.write('round  file MiB  WAL MiB   pages  free pages  messages  swept  batch ms (median / max)\n');
const allBatches: number[] = [];
const t0 = performance.now();
for (let r = 1; r <= ROUNDS; r++) {
  await round();
  now += HOUR;
  const { deleted, batches } = sweep();
  allBatches.push(...batches);
  db.pragma('wal_checkpoint(PASSIVE)');
  const sorted = [...batches].sort((a, b) => a - b);
  const messages = db.prepare('SELECT count(*) FROM messages').pluck().get() as number;
  process.stdout.write(
    `${String(r).padStart(5)} ${MiB(size(path))}  ${MiB(size(`${path}-wal`))} ${String(db.pragma('page_count', { simple: true })).padStart(7)} ${String(db.pragma('freelist_count', { simple: true })).padStart(11)} ${String(messages).padStart(9)} ${String(deleted).padStart(6)}  ${(sorted[Math.floor(sorted.length / 2)] ?? 0).toFixed(1)} / ${(sorted.at(-1) ?? 0).toFixed(1)}\n`,
  );
}
const sorted = allBatches.filter((ms) => ms > 0).sort((a, b) => a - b);
process.stdout.write(
  `\n${allBatches.length} sweep transactions; per batch of ${sweeper.batch} messages: median ${(sorted[Math.floor(sorted.length / 2)] ?? 0).toFixed(1)} ms, p99 ${(sorted[Math.floor(sorted.length * 0.99)] ?? 0).toFixed(1)} ms, max ${(sorted.at(-1) ?? 0).toFixed(1)} ms; ${((performance.now() - t0) / 1000).toFixed(0)} s in all\n`,
);
db.close();
rmSync(dir, { recursive: true, force: true });
