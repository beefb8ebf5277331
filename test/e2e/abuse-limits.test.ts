// Resource limits against the real daemon: connections in total (over both listeners) and per
// client address; per-user hourly quotas of messages and recipients (451 4.7.1, nothing spooled,
// other users unaffected); the deadlines that end idle, slow-drip and junk-command sessions; and a
// reload (SIGHUP) that changes them all in place.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { DEFAULT_USER, merge, TestDaemon } from '../helpers/daemon.js';
import { authenticatedClient, SmtpClient, type SmtpReply } from '../helpers/smtp-client.js';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function spooled(daemon: TestDaemon): number {
  const db = daemon.openSpool();
  try {
    return (db.prepare('SELECT count(*) AS n FROM messages').get() as { n: number }).n;
  } finally {
    db.close();
  }
}

/** Write `data` a few bytes at a time until the server replies or closes (bounded by limitMs). */
async function drip(client: SmtpClient, data: string, bytes: number, everyMs: number, limitMs: number): Promise<SmtpReply | null> {
  const reply = client.read(limitMs).catch(() => null);
  let settled = false;
  void reply.then(() => (settled = true));
  for (let i = 0; i < data.length && !settled; i += bytes) {
    client.write(data.slice(i, i + bytes));
    await sleep(everyMs);
  }
  return reply;
}

describe('connection limits', () => {
  let daemon: TestDaemon;
  before(async () => {
    daemon = await TestDaemon.start({ config: { limits: { maxClients: 4, maxClientsPerAddress: 2 } } });
  });
  after(() => daemon.cleanup());

  test('per client address: the third connection from one address gets 421 4.7.0; other addresses connect', async () => {
    const first = await SmtpClient.connect(daemon.ports.submission, { localAddress: '127.0.0.2' });
    const second = await SmtpClient.connect(daemon.ports.submissions, { implicitTls: true, localAddress: '127.0.0.2' });
    const third = await SmtpClient.connect(daemon.ports.submission, { localAddress: '127.0.0.2' });
    assert.equal(third.greeting.code, 421);
    assert.match(third.greeting.text, /^4\.7\.0 Error: too many connections from 127\.0\.0\.2/);
    const other = await SmtpClient.connect(daemon.ports.submission, { localAddress: '127.0.0.3' });
    assert.equal(other.greeting.code, 220);
    await daemon.waitForLog((l) => l.msg === 'connection refused: client=127.0.0.2 limit address');
    await first.quit();
    let fourth = third;
    for (let i = 0; i < 20 && fourth.greeting.code !== 220; i++) {
      await sleep(100);
      fourth = await SmtpClient.connect(daemon.ports.submission, { localAddress: '127.0.0.2' });
    }
    assert.equal(fourth.greeting.code, 220, 'a closed connection frees its slot');
    for (const c of [second, third, other, fourth]) c.close();
  });

  test('in total, over both listeners: the fifth connection gets 421 4.7.0', async () => {
    await sleep(1000);
    const open = [
      await SmtpClient.connect(daemon.ports.submission, { localAddress: '127.0.0.4' }),
      await SmtpClient.connect(daemon.ports.submission, { localAddress: '127.0.0.5' }),
      await SmtpClient.connect(daemon.ports.submissions, { implicitTls: true, localAddress: '127.0.0.6' }),
      await SmtpClient.connect(daemon.ports.submissions, { implicitTls: true, localAddress: '127.0.0.7' }),
    ];
    assert.deepEqual(
      open.map((c) => c.greeting.code),
      [220, 220, 220, 220],
    );
    const fifth = await SmtpClient.connect(daemon.ports.submissions, { implicitTls: true, localAddress: '127.0.0.8' });
    assert.equal(fifth.greeting.code, 421);
    assert.match(fifth.greeting.text, /^4\.7\.0 Error: too many connections/);
    for (const c of [...open, fifth]) c.close();
  });
});

describe('per-user hourly quotas', () => {
  const BULK = { name: 'bulk', password: 'bulk password 1', allow: ['@bulk.example'] };
  let daemon: TestDaemon;
  before(async () => {
    const limits = {
      perUser: { messagesPerHour: 2, recipientsPerHour: 5 },
      users: { bulk: { messagesPerHour: 100, recipientsPerHour: 100 } },
    };
    daemon = await TestDaemon.start({ config: { limits }, users: [DEFAULT_USER, BULK] });
  });
  after(() => daemon.cleanup());

  const transaction = async (client: SmtpClient, from: string, rcpts: number): Promise<SmtpReply> => {
    const mail = await client.send(`MAIL FROM:<${from}>`);
    if (mail.code !== 250) return mail;
    for (let i = 0; i < rcpts; i++) {
      const rcpt = await client.send(`RCPT TO:<r${i}@remote.test>`);
      if (rcpt.code !== 250) return rcpt;
    }
    return client.data(`From: ${from}\r\nSubject: quota\r\n\r\nbody\r\n`);
  };

  test("recipients past the hour's quota: 451 4.7.1 at RCPT TO; messages past it: 451 4.7.1 at MAIL FROM; nothing spooled", async () => {
    const client = await authenticatedClient(daemon.ports.submission, DEFAULT_USER.name, DEFAULT_USER.password);
    assert.equal((await transaction(client, 'a@example.com', 3)).code, 250);
    const before = spooled(daemon);
    const tooMany = await transaction(client, 'a@example.com', 3);
    assert.equal(tooMany.code, 451, 'the third recipient would make 6 of 5');
    assert.match(tooMany.text, /^4\.7\.1 Error: user app may send to 5 recipients per hour/);
    assert.equal((await client.send('RSET')).code, 250);
    assert.equal((await transaction(client, 'a@example.com', 2)).code, 250, 'what is left of the quota can be used');
    const over = await transaction(client, 'a@example.com', 1);
    assert.equal(over.code, 451);
    assert.match(over.text, /^4\.7\.1 Error: user app may send 2 messages per hour/);
    assert.equal(spooled(daemon), before + 1);
    await client.quit();
  });

  test('a message that reached DATA before another session used up the quota: 451 4.7.1 after DATA, nothing spooled', async () => {
    const BULK2 = { name: 'race', password: 'race password 1', allow: ['@race.example'] };
    await daemon.addUser(BULK2);
    const first = await authenticatedClient(daemon.ports.submission, BULK2.name, BULK2.password);
    const second = await authenticatedClient(daemon.ports.submissions, BULK2.name, BULK2.password, true);
    for (const c of [first, second]) {
      assert.equal((await c.send('MAIL FROM:<a@race.example>')).code, 250);
      assert.equal((await c.send('RCPT TO:<x@remote.test>')).code, 250);
    }
    assert.equal((await first.data('From: a@race.example\r\n\r\nfirst\r\n')).code, 250);
    assert.equal((await transaction(first, 'a@race.example', 1)).code, 250, 'the quota of 2 is used up');
    const before = spooled(daemon);
    const late = await second.data('From: a@race.example\r\n\r\nlate\r\n');
    assert.equal(late.code, 451);
    assert.match(late.text, /^4\.7\.1 /);
    assert.equal(spooled(daemon), before);
    await first.quit();
    await second.quit();
  });

  test('other users have their own quota, and a per-user override raises it', async () => {
    const client = await authenticatedClient(daemon.ports.submission, BULK.name, BULK.password);
    for (let i = 0; i < 5; i++) assert.equal((await transaction(client, 'news@bulk.example', 2)).code, 250);
    await client.quit();
  });
});

describe('deadlines', () => {
  let daemon: TestDaemon;
  before(async () => {
    const limits = { socketTimeout: 30, commandTimeout: 2, dataTimeout: 2, minDataRate: 100, junkCommandLimit: 5 };
    daemon = await TestDaemon.start({ config: { limits } });
  });
  after(() => daemon.cleanup());

  test('an idle client is disconnected with 421 4.4.2 after commandTimeout', async () => {
    const client = await SmtpClient.connect(daemon.ports.submission, { localAddress: '127.0.0.9' });
    await client.ehlo();
    const bye = await client.read(10_000);
    assert.equal(bye.code, 421);
    assert.match(bye.text, /^4\.4\.2 Error: timeout exceeded/);
    client.close();
  });

  test('a command dripped a byte at a time (each byte resetting the idle timer) is cut off', async () => {
    const client = await SmtpClient.connect(daemon.ports.submission, { localAddress: '127.0.0.10' });
    const reply = await drip(client, `EHLO ${'x'.repeat(100)}\r\n`, 1, 200, 15_000);
    assert.equal(reply?.code, 421);
    assert.match(reply?.text ?? '', /^4\.4\.2 /);
    client.close();
    await daemon.waitForLog((l) => l.msg === 'session ended: command timeout' && l['client'] === '127.0.0.10');
  });

  test('a message dripped slower than minDataRate is cut off: 421 4.4.2, nothing spooled', async () => {
    const before = spooled(daemon);
    const client = await authenticatedClient(daemon.ports.submission, DEFAULT_USER.name, DEFAULT_USER.password, false, '127.0.0.11');
    await client.send('MAIL FROM:<a@example.com>');
    await client.send('RCPT TO:<x@remote.test>');
    assert.equal((await client.send('DATA')).code, 354);
    const body = `From: a@example.com\r\n\r\n${'slow line\r\n'.repeat(200)}.\r\n`;
    const reply = await drip(client, body, 10, 200, 20_000);
    assert.equal(reply?.code, 421);
    assert.match(reply?.text ?? '', /^4\.4\.2 /);
    client.close();
    await daemon.waitForLog((l) => l.msg === 'session ended: data timeout' && l['client'] === '127.0.0.11');
    assert.equal(spooled(daemon), before);
  });

  test('a message sent steadily faster than minDataRate may take longer than dataTimeout', async () => {
    const client = await authenticatedClient(daemon.ports.submission, DEFAULT_USER.name, DEFAULT_USER.password, false, '127.0.0.12');
    await client.send('MAIL FROM:<a@example.com>');
    await client.send('RCPT TO:<x@remote.test>');
    assert.equal((await client.send('DATA')).code, 354);
    const body = `From: a@example.com\r\n\r\n${`${'y'.repeat(98)}\r\n`.repeat(30)}.\r\n`;
    const reply = await drip(client, body, 500, 500, 20_000);
    assert.equal(reply?.code, 250, `${reply?.code} ${reply?.text}`);
    await client.quit();
  });

  test('more than junkCommandLimit NOOP/RSET/VRFY/HELP: 421 4.7.0; a message resets the count', async () => {
    const client = await authenticatedClient(daemon.ports.submission, DEFAULT_USER.name, DEFAULT_USER.password, false, '127.0.0.13');
    for (let i = 0; i < 4; i++) assert.equal((await client.send(i % 2 ? 'NOOP' : 'RSET')).code, 250);
    await client.send('MAIL FROM:<a@example.com>');
    await client.send('RCPT TO:<x@remote.test>');
    assert.equal((await client.data('From: a@example.com\r\n\r\nx\r\n')).code, 250);
    for (let i = 0; i < 5; i++) assert.equal((await client.send('NOOP')).code, 250);
    const reply = await client.send('NOOP');
    assert.equal(reply.code, 421);
    assert.match(reply.text, /^4\.7\.0 Error: too many NOOP/);
    client.close();
  });
});

describe('reload', () => {
  test('SIGHUP applies new limits and authFailures values, keeping the quota already used', async () => {
    const limits = { maxClientsPerAddress: 1, perUser: { messagesPerHour: 1, recipientsPerHour: 100 } };
    const daemon = await TestDaemon.start({ config: { limits } });
    try {
      const send = async (client: SmtpClient): Promise<number> => {
        const mail = await client.send('MAIL FROM:<a@example.com>');
        if (mail.code !== 250) return mail.code;
        await client.send('RCPT TO:<x@remote.test>');
        return (await client.data('From: a@example.com\r\n\r\nx\r\n')).code;
      };
      const first = await authenticatedClient(daemon.ports.submission, DEFAULT_USER.name, DEFAULT_USER.password);
      assert.equal(await send(first), 250);
      assert.equal(await send(first), 451, 'one message an hour');
      const refused = await SmtpClient.connect(daemon.ports.submission);
      assert.equal(refused.greeting.code, 421, 'one connection per address');
      refused.close();

      writeFileSync(
        daemon.configPath,
        JSON.stringify(
          merge(daemon.config, {
            limits: { maxClientsPerAddress: 2, perUser: { messagesPerHour: 2 } },
            authFailures: { maxPerClient: 50 },
          }),
        ),
      );
      const from = daemon.logs.length;
      process.kill(daemon.pid ?? 0, 'SIGHUP');
      await daemon.waitForLog((l) => l.msg === 'configuration reloaded', 10_000, from);
      const restart = daemon.logs.slice(from).find((l) => l.msg === 'configuration changes that take effect only at the next restart');
      assert.equal(restart, undefined, 'nothing waits for a restart');

      const second = await SmtpClient.connect(daemon.ports.submission);
      assert.equal(second.greeting.code, 220, 'two connections per address now');
      second.close();
      assert.equal(await send(first), 250, 'a second message this hour (the first one still counts)');
      assert.equal(await send(first), 451);
      await first.quit();
    } finally {
      await daemon.cleanup();
    }
  });
});
