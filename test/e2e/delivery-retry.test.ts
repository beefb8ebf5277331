// Retries, expiry and timeouts with the real daemon, on a schedule of seconds (minBackoff 1,
// maxBackoff 2, maxLifetime 3) and a one-second command timeout, so nothing waits long.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { TestDaemon } from '../helpers/daemon.js';
import { allFinal, deliveryConfig, dsnsFor, submit, waitForRecipients } from '../helpers/delivery.js';
import { DnsServer } from '../helpers/dns-server.js';
import { FakeMx, freePort } from '../helpers/fake-mx.js';

describe('retries and expiry', { timeout: 60_000 }, () => {
  let dns: DnsServer;
  let mx: FakeMx;
  let daemon: TestDaemon;
  const seen = new Map<string, number>();

  before(async () => {
    dns = await DnsServer.start();
    const port = await freePort('127.0.0.2');
    mx = await FakeMx.start('127.0.0.2', port, {
      rcpt: (address) => {
        const n = (seen.get(address) ?? 0) + 1;
        seen.set(address, n);
        if (address.startsWith('retry@')) return n === 1 ? 'tempfail' : 'accept';
        if (address.startsWith('never@')) return 'tempfail';
        if (address.startsWith('slow@')) return 'hang';
        return 'accept';
      },
    });
    dns
      .add('remote.test', { type: 'MX', exchange: 'mx.remote.test', preference: 10 })
      .add('example.com', { type: 'MX', exchange: 'mx.remote.test', preference: 10 });
    dns.add('mx.remote.test', { type: 'A', address: '127.0.0.2' });
    const config = deliveryConfig(dns, port, {
      delivery: { retry: { minBackoff: 1, maxBackoff: 2, maxLifetime: 3 }, timeouts: { command: 1 } },
    });
    daemon = await TestDaemon.start({ config });
  });
  after(async () => {
    await daemon.cleanup();
    await Promise.all([mx.close(), dns.close()]);
  });

  test('451 then 250: deferred, then delivered on the retry', async () => {
    const id = await submit(daemon, ['retry@remote.test']);
    const rows = await waitForRecipients(daemon, id, allFinal);
    assert.deepEqual(
      rows.map((r) => [r.state, r.attempts]),
      [['delivered', 2]],
    );
    await daemon.waitForLog((l) => l['queueId'] === id && l['status'] === 'sent'); // the log pipe may trail the spool
    const lines = daemon.logs.filter((l) => l['queueId'] === id && l['to'] === 'retry@remote.test');
    assert.deepEqual(
      lines.map((l) => [l['status'], l['attempts']]),
      [
        ['deferred', 1],
        ['sent', 2],
      ],
    );
    assert.equal(lines[0]?.['reply'], '451 4.3.0 Try again later');
    assert.ok(Number(lines[1]?.['delay']) >= 0.9, `retried after the backoff: ${String(lines[1]?.['delay'])} s`);
  });

  test('always 451: expires after maxLifetime and bounces with a 4.4.7 DSN that reaches the sender', async () => {
    const id = await submit(daemon, ['never@remote.test']);
    const rows = await waitForRecipients(daemon, id, allFinal, 15_000);
    assert.equal(rows[0]?.state, 'bounced');
    assert.ok((rows[0]?.attempts ?? 0) >= 2, `attempts: ${rows[0]?.attempts}`);
    await daemon.waitForLog((l) => l['queueId'] === id && l['status'] === 'expired');
    const statuses = daemon.logs
      .filter((l) => l['queueId'] === id)
      .map((l) => l['status'])
      .filter(Boolean);
    assert.equal(statuses.at(-1), 'expired');
    assert.ok(statuses.slice(0, -1).every((s) => s === 'deferred'));
    const [dsn] = dsnsFor(daemon, id);
    assert.ok(dsn);
    assert.match(dsn.body, /Final-Recipient: rfc822; never@remote\.test\r\nAction: failed\r\nStatus: 4\.4\.7\r\n/);
    assert.match(
      dsn.body,
      /<never@remote\.test>: delivery time expired; last error: host mx\.remote\.test\[127\.0\.0\.2\] said: 451 4\.3\.0 Try again later/,
    );
    await mx.waitFor(1);
    await waitForRecipients(daemon, dsn.id, allFinal);
    assert.ok(
      mx.received.some((m) => m.from === '' && m.to.includes('alerts@example.com') && m.data.toString().includes('never@remote.test')),
    );
  });

  test('a server that stops answering is timed out and the recipient deferred', async () => {
    const id = await submit(daemon, ['slow@remote.test']);
    const line = await daemon.waitForLog((l) => l['queueId'] === id && l['to'] === 'slow@remote.test', 10_000);
    assert.equal(line['status'], 'deferred');
    assert.match(String(line['reply']), /^451 4\.4\.2 conversation with mx\.remote\.test\[127\.0\.0\.2\] timed out/);
  });
});
