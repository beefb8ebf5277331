// Retention: with a short spool.keepHistory the daemon deletes finished messages (their recipients and
// attempts with them) and keeps the ones still waiting, and over repeated rounds of filling the spool
// and delivering it all, the spool stops growing once the window is full: the pages freed by the sweep
// are filled again (bench/retention.ts measures it at scale).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { queueIdOf } from '../helpers/clients.js';
import { DEFAULT_USER, TestDaemon } from '../helpers/daemon.js';
import { FakeMx, freePort } from '../helpers/fake-mx.js';
import { authenticatedClient } from '../helpers/smtp-client.js';

const ROUNDS = 4;
const PER_ROUND = 25;
const BODY = `From: app@example.com\r\nSubject: retention\r\n\r\n${`${'r'.repeat(78)}\r\n`.repeat(25)}`;

async function until(condition: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  for (const deadline = Date.now() + timeoutMs; !condition(); ) {
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('the history sweep', { timeout: 120_000 }, () => {
  test('keeps only unfinished messages, and the spool stays the same size over rounds of fill and deliver', async () => {
    const port = await freePort('127.0.0.2');
    const mx = await FakeMx.start('127.0.0.2', port, { rcpt: (address) => (address.startsWith('stuck@') ? 'tempfail' : 'accept') });
    const daemon = await TestDaemon.start({
      config: {
        spool: { keepHistory: 1, keepDelivered: 0 },
        delivery: { routes: { '*': `127.0.0.2:${port}` }, allowPrivateDestinations: true, retry: { minBackoff: 3600, maxBackoff: 3600 } },
        log: { level: 'info' },
      },
    });
    const spool = (): { finished: number; open: string[]; attempts: number; pages: number } => {
      const db = daemon.openSpool();
      try {
        return {
          finished: db.prepare('SELECT count(*) FROM messages WHERE done_at IS NOT NULL').pluck().get() as number,
          open: db.prepare('SELECT id FROM messages WHERE done_at IS NULL ORDER BY id').pluck().all() as string[],
          attempts: db.prepare('SELECT count(*) FROM attempts').pluck().get() as number,
          pages: db.pragma('page_count', { simple: true }) as number,
        };
      } finally {
        db.close();
      }
    };
    try {
      const client = await authenticatedClient(daemon.ports.submission, DEFAULT_USER.name, DEFAULT_USER.password);
      const send = async (to: string): Promise<string> => {
        assert.equal((await client.send('MAIL FROM:<app@example.com>')).code, 250);
        assert.equal((await client.send(`RCPT TO:<${to}>`)).code, 250);
        const reply = await client.data(BODY);
        const id = queueIdOf(reply.text);
        assert.ok(id, reply.text);
        return id;
      };
      const stuck = await send('stuck@remote.test');
      const pages: number[] = [];
      for (let round = 1; round <= ROUNDS; round++) {
        for (let i = 0; i < PER_ROUND; i++) await send(`r${round}-${i}@remote.test`);
        await mx.waitFor(round * PER_ROUND, 20_000);
        await until(() => spool().finished === 0, `round ${round}: the finished messages are swept`);
        const now = spool();
        assert.deepEqual(now.open, [stuck], 'only the unfinished message stays');
        assert.equal(now.attempts, 1, "only the unfinished message's attempt stays");
        pages.push(now.pages);
      }
      await client.quit();
      const [, second = 0] = pages;
      const last = pages.at(-1) ?? 0;
      assert.ok(last <= second * 1.1, `pages after each round: ${pages.join(', ')}`);
      assert.ok(daemon.logs.some((l) => l.msg === 'deleted the records of finished messages'));
    } finally {
      await daemon.cleanup();
      await mx.close();
    }
  });
});
