// SMTP smuggling (CVE-2023-51764 class), spool side: every end-of-data look-alike from the published
// research, with and without SMTP commands after it, sent raw (and split across TCP writes), must
// leave exactly one message in the spool, with CRLF-only line ends and the would-be commands as
// plain content; no smuggled command may run (the next reply after the one 250 is the answer to our
// own NOOP), and no second message may appear.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { queueIdOf } from '../helpers/clients.js';
import { DEFAULT_USER, TestDaemon } from '../helpers/daemon.js';
import { authenticatedClient, type SmtpClient } from '../helpers/smtp-client.js';
import { END_OF_DATA_VARIANTS, hasBareLineBreak, smugglingPayload, splitAround } from '../helpers/smuggling.js';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

interface Row {
  id: string;
  data: Buffer;
}

describe('SMTP smuggling: what reaches the spool', () => {
  let daemon: TestDaemon;
  before(async () => {
    daemon = await TestDaemon.start({ config: { limits: { perUser: { messagesPerHour: 0, recipientsPerHour: 0 } } } });
  });
  after(() => daemon.cleanup());

  const rows = (): Row[] => {
    const db = daemon.openSpool();
    try {
      return db.prepare('SELECT m.id, b.data FROM messages m JOIN bodies b ON b.message_id = m.id ORDER BY m.id').all() as Row[];
    } finally {
      db.close();
    }
  };
  const recipients = (id: string): string[] => {
    const db = daemon.openSpool();
    try {
      return (db.prepare('SELECT address FROM recipients WHERE message_id = ?').all(id) as { address: string }[]).map((r) => r.address);
    } finally {
      db.close();
    }
  };

  /** One transaction whose DATA is written raw, in the given pieces; the replies it got. */
  async function send(client: SmtpClient, pieces: readonly string[]): Promise<{ data: number; next: number; id: string }> {
    assert.equal((await client.send('MAIL FROM:<a@example.com>')).code, 250);
    assert.equal((await client.send('RCPT TO:<legit@remote.test>')).code, 250);
    assert.equal((await client.send('DATA')).code, 354);
    for (const piece of pieces) {
      client.write(piece);
      if (pieces.length > 1) await sleep(15);
    }
    const reply = await client.read();
    const next = await client.send('NOOP');
    return { data: reply.code, next: next.code, id: queueIdOf(reply.text) ?? '' };
  }

  for (const variant of END_OF_DATA_VARIANTS) {
    for (const withCommands of [false, true]) {
      for (const split of [false, true]) {
        const name = `${JSON.stringify(variant)}${withCommands ? ' + commands' : ''}${split ? ', split across writes' : ''}`;
        test(name, async () => {
          const client = await authenticatedClient(daemon.ports.submission, DEFAULT_USER.name, DEFAULT_USER.password);
          const before = rows().length;
          const payload = smugglingPayload(variant, withCommands);
          const pieces = split ? splitAround(payload, variant) : [payload];
          const result = await send(client, pieces);
          assert.equal(result.data, 250, 'one 250 for the one message');
          assert.equal(result.next, 250, 'the next reply answers our NOOP: nothing smuggled ran');
          await client.quit();
          const after = rows();
          assert.equal(after.length, before + 1, 'exactly one new message');
          const stored = after.find((r) => r.id === result.id);
          assert.ok(stored, 'the message that got 250');
          assert.equal(hasBareLineBreak(stored.data), false, 'CRLF-only line ends');
          assert.ok(stored.data.includes('after the look-alike'), 'the text after the look-alike stays in the message');
          if (withCommands) assert.ok(stored.data.includes('RCPT TO:<victim@remote.test>'), 'the would-be commands are content');
          assert.deepEqual(recipients(result.id), ['legit@remote.test']);
        });
      }
    }
  }

  test('a lone dot line sent as ".." in its own segment at the start of DATA is content, not the end', async () => {
    const client = await authenticatedClient(daemon.ports.submission, DEFAULT_USER.name, DEFAULT_USER.password);
    const before = rows().length;
    const result = await send(client, [
      '..',
      '\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<victim@remote.test>\r\nDATA\r\n',
      'smuggled\r\n.\r\n',
    ]);
    assert.equal(result.data, 250);
    assert.equal(result.next, 250);
    await client.quit();
    assert.equal(rows().length, before + 1);
    assert.deepEqual(recipients(result.id), ['legit@remote.test']);
  });
});
