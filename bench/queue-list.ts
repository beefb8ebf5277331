// The queue commands on a large spool: fills one with N messages (default 100,000; 1-3 recipients
// each over 1,000 domains; 70% deferred, 10% held, 20% queued, bodies of 2 KB) through smarthost's own
// enqueuer and outcome recording, then times `queue list` (text and --json), filtered listings and
// `status` as the CLI runs them (a process each, output to /dev/null), median of 3. Also the cost of
// what the running daemon does to notice CLI changes (PRAGMA data_version, once a second) and of one
// /healthz spool write probe. With --bulk, then the commands that change many messages in one call
// (hold, release, retry and delete of every message, and hold/release of IDs read from stdin).
//
//   npm run build && node --import tsx bench/queue-list.ts [--messages 100000] [--bulk]
//   npm run build && node --import tsx bench/queue-list.ts --messages 10000 --bulk
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { AdminLog } from '../src/spool/admin-log.js';
import { openSpool } from '../src/spool/database.js';
import { createWriteProbe, recordDaemonStart } from '../src/spool/daemon-state.js';
import { DeliveryStore, type RecipientResult } from '../src/spool/delivery-store.js';
import { Enqueuer } from '../src/spool/enqueue.js';
import { QueueAdmin } from '../src/spool/queue-admin.js';
import { QueueIdGenerator } from '../src/spool/queue-id.js';
import { ROOT } from './targets.js';

const { values: args } = parseArgs({
  options: { messages: { type: 'string', default: '100000' }, bulk: { type: 'boolean', default: false } },
});
const MESSAGES = Number(args.messages);
const dir = mkdtempSync(join(tmpdir(), 'smarthost-bench-queue-'));
const spool = join(dir, 'spool.db');
const config = join(dir, 'smarthost.yaml');

async function fill(): Promise<void> {
  const db = openSpool(spool);
  const now = Date.now();
  const enqueuer = new Enqueuer(db);
  const store = new DeliveryStore(db, { leaseMs: 3_600_000, keepDeliveredMs: 0 });
  const admin = new QueueAdmin(db);
  const body = Buffer.from(`From: app@example.com\r\nSubject: bench\r\n\r\n${'x'.repeat(2000)}\r\n`);
  for (let start = 0; start < MESSAGES; start += 10_000) {
    const pending: Array<Promise<void>> = [];
    const results: RecipientResult[] = [];
    const held: string[] = [];
    for (let i = start; i < Math.min(MESSAGES, start + 10_000); i++) {
      const createdAt = now - (MESSAGES - i) * 1000;
      const id = new QueueIdGenerator(() => createdAt).next();
      const recipients = Array.from({ length: 1 + (i % 3) }, (_, r) => `r${r}@d${(i + r) % 1000}.example`);
      pending.push(
        enqueuer.enqueue({
          id,
          sender: `app${i % 50}@example.com`,
          username: 'bench',
          clientAddress: '127.0.0.1',
          recipients,
          body,
          createdAt,
          kind: 'message',
          smtputf8: false,
        }),
      );
      if (i % 10 < 8) {
        for (const address of recipients) {
          results.push({
            messageId: id,
            address,
            state: 'deferred',
            at: createdAt + 60_000,
            nextAttemptAt: now + 600_000,
            outcome: 'deferred',
            reply: '451 4.3.0 Try again later',
            mxHost: 'mx.example',
            mxAddress: '192.0.2.1',
            relay: 'mx.example[192.0.2.1]:25',
            tls: 'none',
          });
        }
      }
      if (i % 10 === 7) held.push(id);
    }
    await Promise.all(pending);
    store.record(results);
    admin.apply('hold', held, { now, actor: { user: 'bench', uid: 0, sudoUser: null } });
    new AdminLog(db).removeThrough(Number.MAX_SAFE_INTEGER);
  }
  recordDaemonStart(db, { pid: 1, version: 'bench', startedAt: now, listeners: [], metrics: null });
  db.pragma('wal_checkpoint(TRUNCATE)');
  db.close();
}

function time(label: string, cliArgs: string[]): void {
  const runs: number[] = [];
  for (let i = 0; i < 3; i++) {
    const start = performance.now();
    const result = spawnSync(process.execPath, [join(ROOT, 'bin', 'smarthost.js'), ...cliArgs, '--config', config], {
      stdio: ['ignore', 'ignore', 'pipe'],
      maxBuffer: 1 << 20,
    });
    runs.push(performance.now() - start);
    if (result.status !== 0 && !(cliArgs[0] === 'status' && result.status === 1))
      throw new Error(`${label}: exit ${result.status}: ${String(result.stderr)}`);
  }
  runs.sort((a, b) => a - b);
  console.log(`${label.padEnd(42)} ${(runs[1] ?? 0).toFixed(0).padStart(6)} ms   (runs: ${runs.map((r) => r.toFixed(0)).join(', ')})`);
}

function once(label: string, cliArgs: string[], stdin = ''): void {
  const start = performance.now();
  const result = spawnSync(process.execPath, [join(ROOT, 'bin', 'smarthost.js'), ...cliArgs, '--config', config], {
    input: stdin,
    stdio: ['pipe', 'pipe', 'pipe'],
    maxBuffer: 1 << 26,
  });
  const ms = performance.now() - start;
  if (result.status !== 0) throw new Error(`${label}: exit ${result.status}: ${String(result.stderr)}`);
  console.log(`${label.padEnd(42)} ${ms.toFixed(0).padStart(6)} ms   ${String(result.stdout).trim().split('\n').at(-1)}`);
}

function perCall(label: string, n: number, fn: () => void): void {
  const start = process.hrtime.bigint();
  for (let i = 0; i < n; i++) fn();
  const us = Number(process.hrtime.bigint() - start) / 1000 / n;
  console.log(`${label.padEnd(42)} ${us.toFixed(1).padStart(8)} µs per call`);
}

writeFileSync(config, JSON.stringify({ hostname: 'bench.test', spool: { path: spool }, dkim: { keyDir: join(dir, 'dkim') } }));
const filling = performance.now();
await fill();
console.log(
  `spool: ${MESSAGES} messages, ${(statSync(spool).size / 1e6).toFixed(0)} MB, filled in ${((performance.now() - filling) / 1000).toFixed(1)} s`,
);
time('smarthost --help (process start)', ['--help']);
time('queue list (text)', ['queue', 'list']);
time('queue list --json', ['queue', 'list', '--json']);
time('queue list --status held', ['queue', 'list', '--status', 'held']);
time('queue list --domain d7.example', ['queue', 'list', '--domain', 'd7.example']);
time('queue list --sender app7@example.com', ['queue', 'list', '--sender', 'app7@example.com']);
time('queue list --older-than 1d', ['queue', 'list', '--older-than', '1d']);
time('status', ['status']);
if (args.bulk) {
  // Each once (they change the spool): every message held, released, its IDs held again from stdin,
  // released, retried, then deleted, each in one call.
  const ids = spawnSync(process.execPath, [join(ROOT, 'bin', 'smarthost.js'), 'queue', 'list', '--json', '--config', config], {
    maxBuffer: 1 << 30,
  });
  const stdin = `${(JSON.parse(String(ids.stdout)) as { messages: Array<{ id: string }> }).messages.map((m) => m.id).join('\n')}\n`;
  once(`queue hold --all (${MESSAGES} messages)`, ['queue', 'hold', '--all']);
  once('queue release --all', ['queue', 'release', '--all']);
  once(`queue hold - (${MESSAGES} IDs on stdin)`, ['queue', 'hold', '-'], stdin);
  once('queue release -', ['queue', 'release', '-'], stdin);
  once('queue retry --all', ['queue', 'retry', '--all']);
  once('queue delete --all --yes', ['queue', 'delete', '--all', '--yes']);
}
const db = openSpool(spool);
perCall('PRAGMA data_version (daemon, once a second)', 100_000, () => db.pragma('data_version', { simple: true }));
const probe = createWriteProbe(db, 1);
perCall('/healthz spool write probe (fsync)', 200, () => probe(Date.now()));
db.close();
rmSync(dir, { recursive: true, force: true });
