// Bad input against the running daemon: a bounded run of generated command lines and DATA bodies
// (test/helpers/fuzz.ts) over several parallel sessions, authenticated and not. The daemon must
// never crash, its memory must stay bounded, every message that got 250 must be in the spool and
// nothing else: a refused transaction leaves no row. And a 50 MB message over a 10 MB limit is
// refused with 552 5.3.4 without the daemon ever holding it whole.
//
// FUZZ_INPUTS (default 4000) sets the number of inputs, FUZZ_SEED the seed; the figures of a long
// run are in docs/hardening.md.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { queueIdOf } from '../helpers/clients.js';
import { DEFAULT_USER, TestDaemon } from '../helpers/daemon.js';
import { dataPayload, Fuzzer, prng } from '../helpers/fuzz.js';
import { authenticatedClient, SmtpClient } from '../helpers/smtp-client.js';

const INPUTS = Number(process.env['FUZZ_INPUTS'] ?? 4000);
const SEED = Number(process.env['FUZZ_SEED'] ?? 20260601);
const WORKERS = 4;
const TIME_LIMIT_MS = Math.max(60_000, INPUTS * 20);
const MAX_SIZE = 1024 * 1024;

/** Resident and peak memory of a process, in MiB (Linux /proc). */
function memory(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string): number => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0);
  return { rss: kb('VmRSS') / 1024, peak: kb('VmHWM') / 1024 };
}

interface Tally {
  inputs: number;
  commands: number;
  bodies: number;
  accepted: string[];
  refused: number;
  sessions: number;
  noReply: number;
  /** The lines that got no reply (for a failing run's report). */
  unanswered: string[];
}

describe('fuzz: bad input against the running daemon', () => {
  let daemon: TestDaemon;
  before(async () => {
    daemon = await TestDaemon.start({
      config: {
        log: { level: 'info' },
        limits: { maxMessageSize: MAX_SIZE, junkCommandLimit: 1_000_000, perUser: { messagesPerHour: 0, recipientsPerHour: 0 } },
        authFailures: { maxPerClient: 1_000_000, maxPerUser: 1_000_000, slowAfter: 1_000_000 },
      },
    });
  });
  after(() => daemon.cleanup());

  async function session(fz: Fuzzer, tally: Tally): Promise<{ client: SmtpClient; authed: boolean }> {
    tally.sessions += 1;
    if (fz.chance(0.2)) {
      const client = await SmtpClient.connect(daemon.ports.submission);
      return { client, authed: false };
    }
    return { client: await authenticatedClient(daemon.ports.submissions, DEFAULT_USER.name, DEFAULT_USER.password, true), authed: true };
  }

  async function transaction(fz: Fuzzer, client: SmtpClient, tally: Tally): Promise<void> {
    if ((await client.send('MAIL FROM:<fuzz@example.com>')).code !== 250) return void (await client.send('RSET'));
    await client.send('RCPT TO:<sink@remote.test>');
    const go = await client.send('DATA');
    if (go.code !== 354) return;
    client.write(dataPayload(fz.body('fuzz@example.com')));
    tally.bodies += 1;
    const reply = await client.read(20_000);
    const id = queueIdOf(reply.text);
    if (reply.code === 250 && id) tally.accepted.push(id);
    else tally.refused += 1;
  }

  async function worker(index: number, tally: Tally, deadline: number): Promise<void> {
    const fz = new Fuzzer(prng(SEED + index));
    let current: { client: SmtpClient; authed: boolean } | null = null;
    while (tally.inputs < INPUTS && Date.now() < deadline) {
      tally.inputs += 1;
      try {
        current ??= await session(fz, tally);
        if (current.authed && fz.chance(0.15)) await transaction(fz, current.client, tally);
        else {
          const line = Buffer.concat([fz.command(), Buffer.from(fz.lineEnd())]);
          current.client.write(line);
          tally.commands += 1;
          // The server answers each line; a line with LFs inside is several lines (pipelining).
          for (let lines = line.filter((byte) => byte === 0x0a).length; lines > 0; lines--) {
            const reply = await current.client.read(10_000).catch((err: Error) => {
              if (/no reply within/.test(err.message)) tally.unanswered.push(line.subarray(0, 300).toString('latin1'));
              throw err;
            });
            // A STARTTLS that got 220 starts a handshake this client does not do: start afresh.
            if (reply.code === 220) throw new Error('TLS handshake started');
          }
        }
      } catch (err) {
        if (/no reply within/.test(String(err))) tally.noReply += 1;
        current?.client.close();
        current = null;
      }
    }
    current?.client.close();
  }

  test(`${INPUTS} generated inputs: no crash, bounded memory, a spool row for each 250 and for nothing else`, async (t) => {
    const pid = daemon.pid ?? 0;
    const start = memory(pid);
    const tally: Tally = { inputs: 0, commands: 0, bodies: 0, accepted: [], refused: 0, sessions: 0, noReply: 0, unanswered: [] };
    const started = Date.now();
    await Promise.all(Array.from({ length: WORKERS }, (_, i) => worker(i, tally, started + TIME_LIMIT_MS)));
    const end = memory(pid);
    const figures = {
      seed: SEED,
      ...tally,
      accepted: tally.accepted.length,
      unanswered: tally.unanswered.length,
      seconds: (Date.now() - started) / 1000,
      rssStartMiB: start.rss,
      rssEndMiB: end.rss,
      peakMiB: end.peak,
    };
    t.diagnostic(`fuzz figures: ${JSON.stringify(figures)}`);

    assert.ok(tally.inputs >= INPUTS, `all inputs sent within the time limit (${tally.inputs})`);
    assert.doesNotThrow(() => process.kill(pid, 0), 'the daemon is still running');
    const probe = await authenticatedClient(daemon.ports.submissions, DEFAULT_USER.name, DEFAULT_USER.password, true);
    assert.equal((await probe.send('NOOP')).code, 250, 'and still serving');
    await probe.quit();
    assert.ok(end.peak < 400, `peak memory ${end.peak} MiB`);
    assert.deepEqual(
      daemon.logs.filter((l) => l.level === 'fatal' || l.level === 'raw' || /uncaught|unhandled/i.test(l.msg ?? '')),
      [],
    );
    assert.deepEqual(tally.unanswered, [], 'every command got a reply or a close');

    const db = daemon.openSpool();
    try {
      const ids = (db.prepare('SELECT id FROM messages').all() as { id: string }[]).map((r) => r.id).sort();
      assert.deepEqual(ids, [...tally.accepted].sort(), 'spool rows = messages that got 250');
      assert.equal(db.pragma('integrity_check', { simple: true }), 'ok');
    } finally {
      db.close();
    }
  });

  test('a 50 MB message over a 10 MB limit: 552 5.3.4, never held whole, nothing spooled', async (t) => {
    const big = await TestDaemon.start({ config: { limits: { maxMessageSize: 10 * 1024 * 1024 } } });
    try {
      const pid = big.pid ?? 0;
      const client = await authenticatedClient(big.ports.submissions, DEFAULT_USER.name, DEFAULT_USER.password, true);
      const before = memory(pid);
      await client.send('MAIL FROM:<a@example.com>');
      await client.send('RCPT TO:<x@remote.test>');
      assert.equal((await client.send('DATA')).code, 354);
      client.write('From: a@example.com\r\nSubject: big\r\n\r\n');
      const line = Buffer.from(`${'z'.repeat(998)}\r\n`);
      const chunk = Buffer.concat(Array.from({ length: 1024 }, () => line));
      for (let sent = 0; sent < 50; sent++) await client.writeDrained(chunk);
      client.write('.\r\n');
      const reply = await client.read(60_000);
      assert.equal(reply.code, 552);
      assert.match(reply.text, /^5\.3\.4 /);
      const after = memory(pid);
      t.diagnostic(`50 MB message: peak memory ${before.peak.toFixed(1)} -> ${after.peak.toFixed(1)} MiB`);
      assert.ok(after.peak - before.peak < 40, `peak grew by ${after.peak - before.peak} MiB (a whole message is 50)`);
      assert.equal((await client.send('NOOP')).code, 250);
      await client.quit();
      const db = big.openSpool();
      try {
        assert.equal((db.prepare('SELECT count(*) AS n FROM messages').get() as { n: number }).n, 0);
      } finally {
        db.close();
      }
    } finally {
      await big.cleanup();
    }
  });
});
