// Crash safety: the daemon is killed with SIGKILL while every delivery attempt hangs at the end of
// DATA; after a restart the claims it held are returned at once and every recipient is delivered
// (at least once: the dead process may have delivered some already).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { TestDaemon } from '../helpers/daemon.js';
import { allFinal, deliveryConfig, recipientsOf, submit, waitForRecipients, withSpool } from '../helpers/delivery.js';
import { DnsServer } from '../helpers/dns-server.js';
import { FakeMx, freePort } from '../helpers/fake-mx.js';

describe('crash during delivery', { timeout: 60_000 }, () => {
  let dns: DnsServer;
  let mx: FakeMx;
  let daemon: TestDaemon;
  let hanging = true;
  let datas = 0;

  before(async () => {
    dns = await DnsServer.start();
    const port = await freePort('127.0.0.2');
    mx = await FakeMx.start('127.0.0.2', port, { data: () => (datas++, hanging ? 'hang' : 'accept') });
    for (const domain of ['remote.test', 'other.test']) dns.add(domain, { type: 'MX', exchange: 'mx.remote.test', preference: 10 });
    dns.add('mx.remote.test', { type: 'A', address: '127.0.0.2' });
    daemon = await TestDaemon.start({ config: deliveryConfig(dns, port, { spool: { keepDelivered: 0 } }) });
  });
  after(async () => {
    await daemon.cleanup();
    await Promise.all([mx.close(), dns.close()]);
  });

  test('SIGKILL mid-delivery: after a restart every recipient is delivered', async () => {
    const ids = [
      await submit(daemon, ['a@remote.test', 'b@other.test']),
      await submit(daemon, ['c@remote.test']),
      await submit(daemon, ['d@remote.test', 'e@remote.test']),
    ];
    const deadline = Date.now() + 10_000;
    while (datas < 4 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.equal(datas, 4, 'four transactions hang at the end of DATA');
    await daemon.kill();
    for (const id of ids) {
      for (const r of recipientsOf(daemon, id))
        assert.deepEqual([r.state, r.attempts, r.lease_until !== null], ['queued', 0, true], r.address);
    }

    hanging = false;
    const from = daemon.logs.length;
    await daemon.launch();
    const returned = await daemon.waitForLog((l) => l.msg === 'returned the delivery claims of a previous run', 5000, from);
    assert.equal(returned['recipients'], 5);
    for (const id of ids) await waitForRecipients(daemon, id, allFinal);
    for (const id of ids)
      for (const r of recipientsOf(daemon, id)) assert.deepEqual([r.state, r.lease_until], ['delivered', null], r.address);
    const delivered = new Set(mx.received.flatMap((m) => m.to));
    assert.deepEqual([...delivered].sort(), ['a@remote.test', 'b@other.test', 'c@remote.test', 'd@remote.test', 'e@remote.test']);
    assert.equal(
      withSpool(daemon, (db) => db.prepare('SELECT count(*) FROM bodies').pluck().get()),
      0,
      'bodies are deleted once delivered',
    );
  });
});
