// The queue commands through the front door: `smarthost queue …` and `status` as processes, first on a
// spool with a message in every state (no daemon), then against a running daemon delivering to a
// fake MX, where retry, hold, release and bounce must take effect within about a second.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { baseConfig, merge, runCli, TestDaemon, type CliResult, type LogLine } from '../helpers/daemon.js';
import { allFinal, deliveryConfig, recipientsOf, submit, waitForRecipients } from '../helpers/delivery.js';
import { DnsServer } from '../helpers/dns-server.js';
import { FakeMx, freePort } from '../helpers/fake-mx.js';
import { fillSpool, type FixtureName } from '../helpers/queue-fixture.js';

interface ListJson {
  messages: Array<{
    id: string;
    sender: string;
    size: number;
    createdAt: string;
    user: string | null;
    recipients: Array<{ address: string; state: string; attempts: number; nextAttemptAt: string | null; lastReply: string | null }>;
  }>;
  summary: { messages: number; bytes: number; recipients: Record<string, number> };
}

describe('queue commands on a spool with every state', { timeout: 180_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'smarthost-queue-cli-'));
  const config = join(dir, 'smarthost.yaml');
  let ids: Record<FixtureName, string>;
  const cli = (...args: string[]): Promise<CliResult> => runCli([...args, '--config', config]);
  const cliIn = (stdin: string, ...args: string[]): Promise<CliResult> => runCli([...args, '--config', config], { stdin });
  const list = async (...args: string[]): Promise<ListJson> => {
    const result = await cli('queue', 'list', '--json', ...args);
    assert.equal(result.code, 0, result.stderr);
    return JSON.parse(result.stdout) as ListJson;
  };

  before(async () => {
    writeFileSync(config, JSON.stringify(merge(baseConfig(dir), {})));
    ids = await fillSpool(join(dir, 'spool.db'), Date.now());
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('list --json: the documented shape, waiting messages oldest first, a summary', async () => {
    const json = await list();
    assert.deepEqual(
      json.messages.map((m) => m.id),
      [ids.deferred, ids.held, ids.mixed, ids.queued],
    );
    const deferred = json.messages[0];
    assert.deepEqual(Object.keys(deferred ?? {}), ['id', 'sender', 'size', 'createdAt', 'user', 'recipients']);
    assert.deepEqual(Object.keys(deferred?.recipients[0] ?? {}), ['address', 'state', 'attempts', 'nextAttemptAt', 'lastReply']);
    assert.deepEqual(
      deferred?.recipients.map((r) => [r.address, r.state, r.attempts, r.lastReply]),
      [
        ['b@two.test', 'deferred', 1, '451 4.3.0 Try again later'],
        ['c@one.test', 'deferred', 1, '451 4.3.0 Try again later'],
      ],
    );
    assert.ok(!Number.isNaN(Date.parse(deferred?.recipients[0]?.nextAttemptAt ?? '')));
    assert.equal(json.messages[1]?.recipients[0]?.nextAttemptAt, null, 'held: no next attempt');
    assert.equal(deferred?.user, 'app');
    assert.deepEqual(json.summary.recipients, { queued: 1, deferred: 3, held: 1, delivered: 1, bounced: 0 });
    assert.equal(json.summary.messages, 4);
    assert.equal(
      json.summary.bytes,
      json.messages.reduce((sum, m) => sum + m.size, 0),
    );
  });

  test('list --summary: the same summary as the full listing, counted without listing', async () => {
    for (const filter of [[], ['--status', 'delivered', '--domain', 'one.test'], ['--older-than', '45m']]) {
      const full = await list(...filter);
      const summary = await cli('queue', 'list', '--summary', '--json', ...filter);
      assert.equal(summary.code, 0, summary.stderr);
      assert.deepEqual(JSON.parse(summary.stdout), { summary: full.summary }, filter.join(' '));
    }
    const text = await cli('queue', 'list', '--summary');
    assert.match(text.stdout, /^-- 4 messages, \d+ B; recipients: 1 queued, 3 deferred, 1 held, 1 delivered, 0 bounced\n$/);
  });

  test('list filters: --status, --domain, --sender, --older-than', async () => {
    const idsOf = (json: ListJson): string[] => json.messages.map((m) => m.id);
    assert.deepEqual(idsOf(await list('--status', 'bounced')), [ids.bounced]);
    assert.deepEqual(idsOf(await list('--status', 'delivered', '--domain', 'one.test')), [ids.delivered, ids.mixed]);
    assert.deepEqual(idsOf(await list('--sender', '@example.org')), [ids.held]);
    assert.deepEqual(idsOf(await list('--older-than', '45m')), [ids.deferred, ids.held]);
    assert.deepEqual((await list('--domain', 'nowhere.test')).messages, []);
  });

  test('list as text: one block per message and a summary line', async () => {
    const result = await cli('queue', 'list');
    assert.equal(result.code, 0, result.stderr);
    assert.match(
      result.stdout,
      new RegExp(
        `^${ids.deferred}  2h  \\d+ B  app@example\\.com  \\(user app\\)\\n  deferred  b@two\\.test  \\(1 attempt, next in \\d+m[^)]*\\): 451 4\\.3\\.0 Try again later\\n`,
      ),
    );
    assert.match(result.stdout, /\n  held      d@three\.test  \(1 attempt\): 451 4\.3\.0 Try again later\n/);
    assert.match(result.stdout, /\n-- 4 messages, \d+ B; recipients: 1 queued, 3 deferred, 1 held, 1 delivered, 0 bounced\n$/);
  });

  test('summary: waiting recipients by domain and age bucket, largest domains first (qshape)', async () => {
    const result = await cli('queue', 'summary', '--json');
    assert.equal(result.code, 0, result.stderr);
    const shape = JSON.parse(result.stdout) as {
      buckets: string[];
      total: { recipients: number; byAge: number[] };
      domains: Array<{ domain: string; recipients: number; byAge: number[] }>;
    };
    assert.deepEqual(shape.buckets, ['5', '10', '20', '40', '80', '160', '320', '640', '1280', '1280+']);
    // Ages: a@one.test 10 min (and the seconds since: bucket 20), h@two.test 30, d@three.test 60 (held),
    // b@two.test and c@one.test 120 min.
    assert.deepEqual(
      shape.domains.map((d) => [d.domain, d.recipients, d.byAge]),
      [
        ['one.test', 2, [0, 0, 1, 0, 0, 1, 0, 0, 0, 0]],
        ['two.test', 2, [0, 0, 0, 1, 0, 1, 0, 0, 0, 0]],
        ['three.test', 1, [0, 0, 0, 0, 1, 0, 0, 0, 0, 0]],
      ],
    );
    assert.deepEqual(shape.total, { recipients: 5, byAge: [0, 0, 1, 1, 1, 2, 0, 0, 0, 0] });
    const text = await cli('queue', 'summary');
    assert.equal(
      text.stdout,
      [
        '           T 5 10 20 40 80 160 320 640 1280 1280+',
        '     TOTAL 5 0  0  1  1  1   2   0   0    0     0',
        '  one.test 2 0  0  1  0  0   1   0   0    0     0',
        '  two.test 2 0  0  0  1  0   1   0   0    0     0',
        'three.test 1 0  0  0  0  1   0   0   0    0     0',
        '',
      ].join('\n'),
    );
    const held = JSON.parse((await cli('queue', 'summary', '--status', 'held', '--json')).stdout) as typeof shape;
    assert.deepEqual(
      held.domains.map((d) => [d.domain, d.recipients]),
      [['three.test', 1]],
    );
  });

  test('list --user: the messages a user submitted', async () => {
    assert.equal((await list('--user', 'app')).messages.length, 4);
    assert.deepEqual((await list('--user', 'someone-else')).messages, []);
  });

  test('show: text with the attempt history, --headers, --body, --json', async () => {
    const text = await cli('queue', 'show', ids.mixed);
    assert.equal(text.code, 0, text.stderr);
    assert.match(
      text.stdout,
      /g@one\.test: delivered  \(1 attempt\)\n    \S+ delivered via mx\.remote\.test\[127\.0\.0\.2\] \(TLSv1\.3 [^)]+\): 250 2\.0\.0 Ok\n/,
    );
    assert.doesNotMatch(text.stdout, /Subject:/);
    const headers = await cli('queue', 'show', ids.mixed.toLowerCase(), '--headers');
    assert.match(headers.stdout, /\nFrom: app@example\.com\nSubject: fixture mixed\nMessage-ID: <mixed@example\.com>\n$/);
    const body = await cli('queue', 'show', ids.mixed, '--body');
    assert.match(body.stdout, /Subject: fixture mixed\nMessage-ID: <mixed@example\.com>\n\nbody of mixed\n$/);
    const json = JSON.parse((await cli('queue', 'show', ids.deferred, '--json', '--body')).stdout) as {
      id: string;
      recipients: Array<{ history: Array<{ outcome: string; reply: string }> }>;
      message: string;
    };
    assert.equal(json.id, ids.deferred);
    assert.deepEqual(
      json.recipients.map((r) => r.history.map((a) => [a.outcome, a.reply])),
      [[['deferred', '451 4.3.0 Try again later']], [['deferred', '451 4.3.0 Try again later']]],
    );
    assert.match(json.message, /body of deferred/);
  });

  test('exit status: 1 for an unknown message, 2 for usage errors', async () => {
    for (const command of ['show', 'hold', 'release', 'delete', 'bounce', 'retry']) {
      const result = await cli('queue', command, '0000000000000A', ...(command === 'delete' ? ['--yes'] : []));
      assert.equal(result.code, 1, `${command}: ${result.stderr}`);
      assert.match(result.stderr, /no such message: 0000000000000A/);
    }
    assert.equal((await cli('queue', 'show', 'not-an-id')).code, 2);
    assert.equal((await cli('queue', 'list', '--status', 'lost')).code, 2);
    assert.equal((await cli('queue', 'list', '--older-than', 'yesterday')).code, 2);
    assert.equal((await cli('queue', 'retry')).code, 2, 'retry needs a target');
    assert.equal((await cli('queue', 'retry', ids.queued, '--all')).code, 2, 'IDs or selectors, not both');
    assert.equal((await cli('queue', 'show', ids.queued, '--headers', '--body')).code, 2);
  });

  test('selectors with --dry-run list what would change and change nothing; delete and bounce on a selection need --yes', async () => {
    const before = await list();
    const hold = await cli('queue', 'hold', '--domain', 'two.test', '--dry-run');
    assert.equal(hold.code, 0, hold.stderr);
    assert.equal(
      hold.stdout,
      `${ids.deferred}: would hold 1 recipient: b@two.test\n${ids.mixed}: would hold 1 recipient: h@two.test\n` +
        'dry run: would hold 2 recipients of 2 messages\n',
    );
    const remove = await cli('queue', 'delete', '--older-than', '45m', '--dry-run');
    assert.equal(
      remove.stdout,
      `${ids.deferred}: would delete the message from <app@example.com> to b@two.test, c@one.test\n` +
        `${ids.held}: would delete the message from <ops@example.org> to d@three.test\n` +
        'dry run: would delete 2 messages (3 recipients)\n',
    );
    const bounce = await cli('queue', 'bounce', '--sender', '@example.org', '--user', 'app', '--dry-run');
    assert.equal(bounce.stdout, `${ids.held}: would bounce 1 recipient: d@three.test\ndry run: would bounce 1 recipient of 1 message\n`);
    assert.deepEqual(await list(), before, 'nothing changed');
    for (const command of ['delete', 'bounce']) {
      const refused = await cli('queue', command, '--all');
      assert.equal(refused.code, 2, command);
      assert.match(refused.stderr, /needs --yes/);
      const fromStdin = await cliIn(`${ids.queued}\n`, 'queue', command, '-');
      assert.equal(fromStdin.code, 2, `${command} -`);
    }
    assert.equal((await cli('queue', 'hold', ids.queued, '--all')).code, 2, 'IDs and selectors together');
    assert.equal((await cli('queue', 'hold')).code, 2, 'nothing named');
    assert.deepEqual(await list(), before);
  });

  test('many IDs at once, and "-" for IDs on standard input; an unknown one is reported, the others changed', async () => {
    const named = await cli('queue', 'hold', ids.queued, ids.mixed.toLowerCase(), '0000000000000A');
    assert.equal(named.code, 1);
    assert.equal(named.stdout, `${ids.queued}: 1 recipient held\n${ids.mixed}: 1 recipient held\nheld 2 recipients of 2 messages\n`);
    assert.equal(named.stderr, 'smarthost: no such message: 0000000000000A\n');
    const released = await cliIn(`${ids.queued}\n\n${ids.mixed}\r\n`, 'queue', 'release', '-');
    assert.equal(released.code, 0, released.stderr);
    assert.equal(released.stdout, 'released 2 recipients of 2 messages\n');
    assert.equal((await cliIn('not-an-id\n', 'queue', 'hold', '-')).code, 2);
  });

  test('retry of a held message says that it is held, and how to release it', async () => {
    const result = await cli('queue', 'retry', ids.held);
    assert.equal(result.code, 0, result.stderr);
    assert.match(
      result.stdout,
      new RegExp(
        `^${ids.held}: 1 recipient held, not retried; release with: \\S+( smarthost)? queue release ${ids.held} --config \\S+\\n$`,
      ),
    );
  });

  test('retry, hold and release change the spool and say what they did', async () => {
    assert.equal((await cli('queue', 'retry', '--domain', 'two.test')).stdout, '2 recipients of 2 messages due now\n');
    assert.equal((await cli('queue', 'hold', ids.queued)).stdout, `${ids.queued}: 1 recipient held\n`);
    assert.equal(
      (await cli('queue', 'hold', ids.delivered)).stdout,
      `${ids.delivered}: nothing to hold (no queued or deferred recipient)\n`,
    );
    assert.deepEqual(
      (await list('--status', 'held')).messages.map((m) => m.id),
      [ids.held, ids.queued],
    );
    assert.equal((await cli('queue', 'release', ids.queued)).stdout, `${ids.queued}: 1 recipient released, due now\n`);
    assert.equal(
      (await cli('queue', 'retry', '--all')).stdout,
      '4 recipients of 3 messages due now; 1 held recipient left alone (release them first)\n',
    );
  });

  test('delete asks unless --yes; a declined deletion exits 1 and keeps the message', async () => {
    const declined = await cliIn('n\n', 'queue', 'delete', ids.bounced);
    assert.equal(declined.code, 1);
    assert.match(declined.stderr, /^delete \S+ from <app@example\.com> to 1 recipient\? \[y\/N\] smarthost: not deleted\n$/);
    assert.equal((await list('--status', 'bounced')).messages.length, 1);
    const confirmed = await cliIn('y\n', 'queue', 'delete', ids.bounced);
    assert.equal(confirmed.stdout, `${ids.bounced}: deleted\n`);
    assert.equal((await list('--status', 'bounced')).messages.length, 0);
    assert.equal((await cli('queue', 'delete', ids.delivered, '--yes')).code, 0);
  });

  test('bounce: waiting recipients bounced, a DSN queued for the sender', async () => {
    const result = await cli('queue', 'bounce', ids.deferred);
    assert.equal(result.code, 0, result.stderr);
    const dsn = /delivery status notification (\S{14}) queued/.exec(result.stdout)?.[1];
    assert.ok(dsn, result.stdout);
    const bounced = await list('--status', 'bounced');
    assert.deepEqual(
      bounced.messages.map((m) => [m.id, m.recipients.map((r) => r.state)]),
      [[ids.deferred, ['bounced', 'bounced']]],
    );
    const waiting = await list('--sender', '');
    assert.deepEqual(
      waiting.messages.map((m) => [m.id, m.recipients.map((r) => r.address)]),
      [[dsn, ['app@example.com']]],
    );
  });

  test('status without a daemon: the counts, and exit status 1', async () => {
    const result = await cli('status', '--json');
    assert.equal(result.code, 1);
    const status = JSON.parse(result.stdout) as {
      daemon: unknown;
      recipients: Record<string, number>;
      oldestWaitingAge: number;
      lastHour: Record<string, number>;
    };
    assert.equal(status.daemon, null);
    assert.deepEqual(Object.keys(status.recipients), ['queued', 'deferred', 'held', 'delivered', 'bounced']);
    assert.ok(status.oldestWaitingAge >= 3000, 'the held message, an hour old');
    const text = await cli('status');
    assert.match(text.stdout, /^smarthost \S+\ndaemon: not running\nrecipients: /);
    const health = await cli('healthcheck');
    assert.equal(health.code, 1);
    assert.match(health.stderr, /unhealthy: the daemon is not running/);
  });
});

describe('queue commands act on a running daemon', { timeout: 90_000 }, () => {
  let dns: DnsServer;
  let mx: FakeMx;
  let daemon: TestDaemon;
  const accept = new Set<string>();

  before(async () => {
    dns = await DnsServer.start();
    const port = await freePort('127.0.0.4');
    mx = await FakeMx.start('127.0.0.4', port, { rcpt: (address) => (accept.has(address) ? 'accept' : 'tempfail') });
    for (const domain of ['remote.test', 'example.com']) dns.add(domain, { type: 'MX', exchange: 'mx.remote.test', preference: 10 });
    dns.add('mx.remote.test', { type: 'A', address: '127.0.0.4' });
    // Retries an hour apart: only the CLI makes anything due again during the test.
    daemon = await TestDaemon.start({
      config: deliveryConfig(dns, port, { delivery: { retry: { minBackoff: 3600, maxBackoff: 7200, maxLifetime: 86_400 } } }),
    });
  });
  after(async () => {
    await daemon.cleanup();
    await Promise.all([mx.close(), dns.close()]);
  });

  const deferredOnce = (rows: ReturnType<typeof recipientsOf>): boolean =>
    rows.every((r) => r.state === 'deferred' && r.attempts === 1 && r.lease_until === null);

  test('retry: a deferred message is delivered at once', async () => {
    const id = await submit(daemon, ['later@remote.test']);
    await waitForRecipients(daemon, id, deferredOnce);
    accept.add('later@remote.test');
    const retry = await daemon.cli(['queue', 'retry', id]);
    assert.equal(retry.stdout, `${id}: 1 recipient due now\n`);
    const rows = await waitForRecipients(daemon, id, allFinal, 10_000);
    assert.deepEqual(
      rows.map((r) => [r.state, r.attempts]),
      [['delivered', 2]],
    );
  });

  test('hold keeps a message from retry --all; release delivers it', async () => {
    const id = await submit(daemon, ['held@remote.test']);
    await waitForRecipients(daemon, id, deferredOnce);
    accept.add('held@remote.test');
    assert.equal((await daemon.cli(['queue', 'hold', id])).code, 0);
    const other = await submit(daemon, ['other@remote.test']);
    await waitForRecipients(daemon, other, deferredOnce);
    accept.add('other@remote.test');
    assert.equal(
      (await daemon.cli(['queue', 'retry', '--all'])).stdout,
      '1 recipient of 1 message due now; 1 held recipient left alone (release them first)\n',
    );
    await waitForRecipients(daemon, other, allFinal, 10_000);
    assert.deepEqual(
      recipientsOf(daemon, id).map((r) => [r.state, r.attempts]),
      [['held', 1]],
      'not retried while held',
    );
    assert.ok(!mx.received.some((m) => m.to.includes('held@remote.test')));
    assert.equal((await daemon.cli(['queue', 'release', id])).code, 0);
    const rows = await waitForRecipients(daemon, id, allFinal, 10_000);
    assert.deepEqual(
      rows.map((r) => [r.state, r.attempts]),
      [['delivered', 2]],
    );
  });

  test('bounce: the DSN the CLI queued is delivered by the daemon', async () => {
    const id = await submit(daemon, ['never@remote.test']);
    await waitForRecipients(daemon, id, deferredOnce);
    accept.add('alerts@example.com');
    const result = await daemon.cli(['queue', 'bounce', id]);
    assert.equal(result.code, 0, result.stderr);
    const dsn = /notification (\S{14}) queued/.exec(result.stdout)?.[1] ?? '';
    await waitForRecipients(daemon, dsn, allFinal, 10_000);
    const received = mx.received.find((m) => m.from === '' && m.to.includes('alerts@example.com'));
    assert.match(received?.data.toString() ?? '', /X-Smarthost-Queue-ID: \S+[\s\S]*Final-Recipient: rfc822; never@remote\.test/);
    assert.deepEqual(
      recipientsOf(daemon, id).map((r) => r.state),
      ['bounced'],
    );
  });

  test("every queue command's change is in the daemon's log, with the recipients and the Unix user", async () => {
    const me = { by: userInfo().username, uid: process.getuid?.() };
    const line = (msg: string, queueId: string, from = 0): Promise<LogLine> =>
      daemon.waitForLog((l) => l.msg === msg && l['queueId'] === queueId, 10_000, from);
    const id = await submit(daemon, ['one@remote.test', 'two@remote.test']);
    await waitForRecipients(daemon, id, deferredOnce);
    const from = daemon.logs.length;
    for (const command of ['hold', 'release', 'retry']) assert.equal((await daemon.cli(['queue', command, id])).code, 0, command);
    for (const msg of ['admin hold', 'admin release', 'admin retry']) {
      const logged = await line(msg, id, from);
      const fields = ['queueId', 'from', 'rcpts', 'recipients', 'by', 'uid'].map((key) => [key, logged[key]]);
      assert.deepEqual(Object.fromEntries(fields), {
        queueId: id,
        from: 'alerts@example.com',
        rcpts: 2,
        recipients: ['one@remote.test', 'two@remote.test'],
        ...me,
      });
      assert.ok(!Number.isNaN(Date.parse(String(logged['at']))), 'when the command ran');
    }
    const bounced = await daemon.cli(['queue', 'bounce', id]);
    const dsn = /notification (\S{14}) queued/.exec(bounced.stdout)?.[1];
    assert.ok(dsn, bounced.stdout);
    assert.equal((await line('admin bounce', id, from))['dsn'], dsn);
    for (const to of ['one@remote.test', 'two@remote.test']) {
      const perRecipient = await daemon.waitForLog(
        (l) => l.msg === 'delivery bounced' && l['queueId'] === id && l['to'] === to,
        10_000,
        from,
      );
      assert.equal(perRecipient['status'], 'bounced', 'the same line as any bounce');
      assert.match(String(perRecipient['reply']), /^550 5\.0\.0 message returned to the sender by the mail administrator/);
    }
    assert.equal((await line('sender non-delivery notification', id, from))['dsn'], dsn);
    await line('removed', id, from);
    const other = await submit(daemon, ['gone@remote.test']);
    await waitForRecipients(daemon, other, deferredOnce);
    assert.equal((await daemon.cli(['queue', 'delete', other, '--yes'])).code, 0);
    assert.deepEqual((await line('admin delete', other, from))['recipients'], ['gone@remote.test']);
  });

  test('lines of commands run while the daemon is down are logged at its next start', async () => {
    const id = await submit(daemon, ['offline@remote.test']);
    await waitForRecipients(daemon, id, deferredOnce);
    assert.equal(await daemon.stop(), 0);
    assert.equal((await daemon.cli(['queue', 'hold', id])).code, 0);
    const from = daemon.logs.length;
    await daemon.launch();
    const logged = await daemon.waitForLog((l) => l.msg === 'admin hold' && l['queueId'] === id, 10_000, from);
    assert.deepEqual(logged['recipients'], ['offline@remote.test']);
  });

  test('status: the running daemon, its listeners, counts and the last hour', async () => {
    const result = await daemon.cli(['status', '--json']);
    assert.equal(result.code, 0, result.stderr);
    const status = JSON.parse(result.stdout) as {
      daemon: { running: boolean; pid: number; listeners: Array<{ kind: string; port: number }> };
      lastHour: { delivered: number; bounced: number };
    };
    assert.equal(status.daemon.running, true);
    assert.equal(status.daemon.pid, daemon.pid);
    assert.deepEqual(
      status.daemon.listeners.map((l) => [l.kind, l.port]),
      [
        ['submission', daemon.ports.submission],
        ['submissions', daemon.ports.submissions],
      ],
    );
    assert.ok(status.lastHour.delivered >= 3, JSON.stringify(status.lastHour));
    assert.ok(status.lastHour.bounced >= 1);
  });
});
