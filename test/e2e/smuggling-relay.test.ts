// SMTP smuggling, relay side: messages hiding every end-of-data look-alike (with and without the
// commands of a second transaction after it) are submitted raw, delivered, and looked at where they
// arrive: Postfix's smtp-sink (a real MTA, one dump file per transaction it saw) and an smtp-server
// receiver (the exact bytes). Each must have seen exactly one transaction per submitted message, to
// the legitimate recipient only, with CRLF-only line ends and the would-be commands as content.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { queueIdOf } from '../helpers/clients.js';
import { DEFAULT_USER, TestDaemon } from '../helpers/daemon.js';
import { allFinal, deliveryConfig, waitForRecipients } from '../helpers/delivery.js';
import { DnsServer } from '../helpers/dns-server.js';
import { FakeMx, SmtpSink, freePort } from '../helpers/fake-mx.js';
import { authenticatedClient } from '../helpers/smtp-client.js';
import { END_OF_DATA_VARIANTS, hasBareLineBreak, smugglingPayload } from '../helpers/smuggling.js';

describe('SMTP smuggling: what the receiving MTAs get', { timeout: 120_000 }, () => {
  let dns: DnsServer;
  let mx: FakeMx;
  let sink: SmtpSink;
  let daemon: TestDaemon;
  const cases = END_OF_DATA_VARIANTS.flatMap((variant) => [false, true].map((withCommands) => ({ variant, withCommands })));

  before(async () => {
    dns = await DnsServer.start();
    const port = await freePort('127.0.0.2');
    mx = await FakeMx.start('127.0.0.2', port);
    sink = await SmtpSink.start('127.0.0.5', port);
    dns
      .add('mx.test', { type: 'MX', exchange: 'mx.remote.test', preference: 10 })
      .add('mx.remote.test', { type: 'A', address: '127.0.0.2' });
    dns
      .add('sink.test', { type: 'MX', exchange: 'sink.remote.test', preference: 10 })
      .add('sink.remote.test', { type: 'A', address: '127.0.0.5' });
    dns.add('remote.test', { type: 'MX', exchange: 'mx.remote.test', preference: 10 });
    daemon = await TestDaemon.start({
      config: deliveryConfig(dns, port, { limits: { perUser: { messagesPerHour: 0, recipientsPerHour: 0 } } }),
    });
  });
  after(async () => {
    await daemon.cleanup();
    sink.stop();
    await Promise.all([mx.close(), dns.close()]);
  });

  test(`${cases.length} messages hiding look-alikes arrive as ${cases.length} messages, and nothing else`, async () => {
    const client = await authenticatedClient(daemon.ports.submission, DEFAULT_USER.name, DEFAULT_USER.password);
    const ids: string[] = [];
    for (const { variant, withCommands } of cases) {
      assert.equal((await client.send('MAIL FROM:<a@example.com>')).code, 250);
      assert.equal((await client.send('RCPT TO:<legit@mx.test>')).code, 250);
      assert.equal((await client.send('RCPT TO:<legit@sink.test>')).code, 250);
      assert.equal((await client.send('DATA')).code, 354);
      client.write(smugglingPayload(variant, withCommands));
      const reply = await client.read();
      assert.equal(reply.code, 250, JSON.stringify(variant));
      ids.push(queueIdOf(reply.text) ?? '');
    }
    await client.quit();
    for (const id of ids) await waitForRecipients(daemon, id, allFinal, 30_000);

    await mx.waitFor(cases.length);
    assert.equal(mx.received.length, cases.length, 'smtp-server receiver: one message per submission');
    for (const message of mx.received) {
      assert.deepEqual(message.to, ['legit@mx.test']);
      assert.equal(hasBareLineBreak(message.data), false, 'CRLF-only line ends on the wire');
      assert.ok(message.data.includes('after the look-alike'));
    }
    assert.equal(
      mx.received.filter((m) => m.data.includes('RCPT TO:<victim@remote.test>')).length,
      cases.length / 2,
      'the commands arrive as content',
    );

    const files = await sink.waitFor(cases.length, 30_000);
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.equal(sink.messages().length, cases.length, 'smtp-sink saw one transaction per submission');
    for (const file of files) {
      assert.equal(file.match(/^X-Mail-Args:/gm)?.length, 1);
      assert.deepEqual(file.match(/^X-Rcpt-Args: .*$/gm), ['X-Rcpt-Args: <legit@sink.test>']);
      assert.ok(file.includes('after the look-alike'));
    }
  });
});
