// The spool at scale: a spool holding N waiting recipients (default 1,000,000: 100,000 messages of
// ten recipients, as bench/backlog.ts writes them), and how long the daemon's hot-path queries and
// the operator's commands take on it, medians of 5:
//  - claiming due work (nothing due; 200 due among them) and finding the next due time,
//  - the recipient counts and oldest message behind `status` and the metrics gauges,
//  - the integrity check the daemon runs at start (schema and PRAGMA quick_check),
//  - `smarthost queue list --summary`, `status` and `check-spool` as the CLI runs them (whole process),
// and the query plan of each hot-path statement (an index search, never a scan of a table).
//   node --import tsx bench/scale.ts [--recipients 1000000]
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { openSpool } from '../src/spool/database.js';
import { DeliveryStore } from '../src/spool/delivery-store.js';
import { verifySpool } from '../src/spool/integrity.js';
import { QueueStats } from '../src/spool/queue-stats.js';
import { fillBacklog } from './backlog.js';
import { ROOT } from './targets.js';

const { values: args } = parseArgs({ options: { recipients: { type: 'string', default: '1000000' } } });
const RECIPIENTS = Number(args.recipients);
const dir = mkdtempSync(join(tmpdir(), 'smarthost-scale-'));
const spool = join(dir, 'spool.db');
const config = join(dir, 'smarthost.yaml');
writeFileSync(config, JSON.stringify({ spool: { path: spool }, metrics: { listen: false } }));

function median(runs: number, body: () => void): number {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    body();
    times.push(performance.now() - t0);
  }
  return times.sort((a, b) => a - b)[Math.floor(runs / 2)] ?? NaN;
}

const report = (what: string, ms: number): void =>
  void process.stdout.write(`${what.padEnd(58)} ${ms.toFixed(ms < 10 ? 2 : 0).padStart(8)} ms\n`);

const now = Date.now();
let t0 = performance.now();
fillBacklog(spool, RECIPIENTS, now);
process.stdout.write(
  `spool: ${RECIPIENTS} waiting recipients, ${(statSync(spool).size / 2 ** 20).toFixed(0)} MiB, filled in ${((performance.now() - t0) / 1000).toFixed(1)} s\n\n`,
);

const db = openSpool(spool);
const store = new DeliveryStore(db, { leaseMs: 3_600_000, keepDeliveredMs: 0 });
const stats = new QueueStats(db);
report(
  'claim due work, nothing due',
  median(5, () => store.claimDue(now, 200)),
);
report(
  'next due time',
  median(5, () => store.nextDue()),
);
// Make 1,000 recipients due; each claim takes 200 of them (and leases them, so the next takes others).
db.prepare('UPDATE recipients SET next_attempt_at = ? WHERE rowid IN (SELECT rowid FROM recipients LIMIT 1000)').run(now - 1000);
report(
  'claim 200 due recipients among them',
  median(5, () => store.claimDue(now, 200)),
);
report(
  'recipients by waiting state (status, metrics)',
  median(5, () => stats.recipientCounts()),
);
report(
  'oldest waiting message (status, metrics)',
  median(5, () => stats.oldestWaiting()),
);
report(
  'integrity check at daemon start (schema, quick_check)',
  median(3, () => verifySpool(db, spool)),
);
for (const statement of [
  "SELECT r.rowid FROM recipients r INDEXED BY recipients_due JOIN messages m ON m.id = r.message_id WHERE r.state IN ('queued', 'deferred') AND r.next_attempt_at <= 1 ORDER BY r.next_attempt_at LIMIT 200",
  "SELECT next_attempt_at FROM recipients INDEXED BY recipients_due WHERE state IN ('queued', 'deferred') ORDER BY next_attempt_at LIMIT 1",
  "SELECT state, count(*) FROM recipients WHERE state IN ('queued', 'deferred', 'held') GROUP BY state",
  'SELECT min(created_at) FROM messages WHERE done_at IS NULL',
]) {
  const plan = (db.prepare(`EXPLAIN QUERY PLAN ${statement}`).all() as Array<{ detail: string }>).map((r) => r.detail).join('; ');
  process.stdout.write(`  plan: ${plan}\n`);
}
db.close();

for (const command of [['queue', 'list', '--summary'], ['status'], ['check-spool']]) {
  const times: number[] = [];
  let out = '';
  for (let i = 0; i < 5; i++) {
    t0 = performance.now();
    const result = spawnSync(process.execPath, [join(ROOT, 'bin', 'smarthost.js'), ...command, '--config', config], { encoding: 'utf8' });
    times.push(performance.now() - t0);
    out = result.stdout.trim().split('\n').at(-1) ?? result.stderr;
  }
  report(`smarthost ${command.join(' ')} (process)`, times.sort((a, b) => a - b)[2] ?? NaN);
  process.stdout.write(`  ${out}\n`);
}
rmSync(dir, { recursive: true, force: true });
