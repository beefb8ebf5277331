import assert from 'node:assert/strict';
import { test } from 'node:test';
import { describeFailure } from '../../src/delivery/failure.js';
import { parseRemoteReply } from '../../src/delivery/remote-reply.js';
import { judge } from '../../src/delivery/results.js';
import { statusOf, transactionOutcomes } from '../../src/delivery/transaction.js';
import { settle, type Outcome } from '../../src/delivery/types.js';
import { reply } from '../../src/smtp/reply.js';

const relay = { host: 'mx.remote.test', address: '192.0.2.1', port: 25 };

test('remote replies become Reply values; a missing or contradicting enhanced code follows the reply code', () => {
  assert.deepEqual(parseRemoteReply('550 5.1.1 <a@b.test>: Recipient address rejected'), {
    code: 550,
    enhanced: '5.1.1',
    text: '<a@b.test>: Recipient address rejected',
  });
  assert.deepEqual(parseRemoteReply('451 Try later'), { code: 451, enhanced: '4.0.0', text: 'Try later' });
  assert.deepEqual(parseRemoteReply('550 4.7.1 odd'), { code: 550, enhanced: '5.7.1', text: 'odd' });
  assert.deepEqual(parseRemoteReply('550-5.7.1 first line\n550 5.7.1 second line'), {
    code: 550,
    enhanced: '5.7.1',
    text: 'first line second line',
  });
  assert.deepEqual(parseRemoteReply('250 2.0.0 Ok: queued as ABC'), { code: 250, enhanced: '2.0.0', text: 'Ok: queued as ABC' });
  assert.equal(parseRemoteReply('garbage'), null);
  assert.equal(parseRemoteReply('999 nope'), null);
});

test('outcome status follows the reply class', () => {
  assert.equal(statusOf(reply(250, '2.0.0', 'ok')), 'delivered');
  assert.equal(statusOf(reply(451, '4.3.0', 'later')), 'deferred');
  assert.equal(statusOf(reply(421, '4.3.2', 'closing')), 'deferred');
  assert.equal(statusOf(reply(552, '5.3.4', 'too big')), 'bounced');
});

test('failures without a server reply are described locally and are temporary', () => {
  const refused = describeFailure({ code: 'ECONNECTION', originalCode: 'ECONNREFUSED', command: 'CONN' }, relay, 'connecting');
  assert.deepEqual(refused.reply, { code: 451, enhanced: '4.4.1', text: 'connect to mx.remote.test[192.0.2.1]:25: Connection refused' });
  assert.equal(refused.remote, false);
  const timeout = describeFailure({ code: 'ETIMEDOUT', timeoutType: 'CONNECT_TIMEOUT' }, relay, 'connecting');
  assert.equal(timeout.reply.enhanced, '4.4.1');
  const greeting = describeFailure({ code: 'ETIMEDOUT', timeoutType: 'GREETING_TIMEOUT' }, relay, 'connecting');
  assert.match(greeting.reply.text, /timed out while connecting/);
  assert.equal(
    describeFailure({ code: 'ETLS', message: 'Error initiating TLS - bad record' }, relay, 'connecting').reply.enhanced,
    '4.7.5',
  );
  assert.match(
    describeFailure({ code: 'ECONNECTION', originalCode: 'ECONNRESET' }, relay, 'sending message data').reply.text,
    /lost connection with mx\.remote\.test\[192\.0\.2\.1\] while sending message data \(ECONNRESET\)/,
  );
});

test('a failure with a server reply keeps the reply and the command it answered', () => {
  const said = describeFailure(
    { code: 'EENVELOPE', response: '550 5.7.1 Sender rejected', command: 'MAIL FROM' },
    relay,
    'sending the envelope',
  );
  assert.deepEqual(said, { reply: { code: 550, enhanced: '5.7.1', text: 'Sender rejected' }, remote: true, command: 'MAIL FROM' });
});

test('partial RCPT refusal: each refused recipient gets its reply, the others the final reply', () => {
  const rejected = new Map([
    ['b@remote.test', { code: 'EENVELOPE', response: '550 5.1.1 No such user', command: 'RCPT TO' }],
    ['c@remote.test', { code: 'EENVELOPE', response: '452 4.2.2 Mailbox full', command: 'RCPT TO' }],
  ]);
  const outcomes = transactionOutcomes(
    ['a@remote.test', 'b@remote.test', 'c@remote.test'],
    { ok: true, response: '250 2.0.0 Ok: queued as X', rejected },
    relay,
    null,
  );
  assert.deepEqual(
    outcomes.map((o) => [o.recipient, o.status, o.reply.code, o.command]),
    [
      ['a@remote.test', 'delivered', 250, 'DATA'],
      ['b@remote.test', 'bounced', 550, 'RCPT TO'],
      ['c@remote.test', 'deferred', 452, 'RCPT TO'],
    ],
  );
});

test('a failed transaction: the final reply applies to accepted recipients; SIZE refusal bounces 5.3.4', () => {
  const dataRefused = transactionOutcomes(
    ['a@r.test'],
    { ok: false, error: { code: 'EMESSAGE', response: '554 5.7.0 Spam', command: 'DATA' }, accepted: ['a@r.test'], rejected: new Map() },
    relay,
    null,
  );
  assert.deepEqual(
    dataRefused.map((o) => [o.status, o.reply.enhanced]),
    [['bounced', '5.7.0']],
  );
  const tooBig = transactionOutcomes(
    ['a@r.test'],
    {
      ok: false,
      error: { code: 'EMESSAGE', command: 'MAIL FROM', message: 'Message size larger than allowed 10' },
      accepted: [],
      rejected: new Map(),
    },
    relay,
    null,
  );
  assert.deepEqual(
    tooBig.map((o) => [o.status, o.reply.code, o.reply.enhanced]),
    [['bounced', 552, '5.3.4']],
  );
  const lost = transactionOutcomes(
    ['a@r.test'],
    { ok: false, error: { code: 'ECONNECTION', command: 'CONN' }, accepted: ['a@r.test'], rejected: new Map() },
    relay,
    null,
  );
  assert.deepEqual(
    lost.map((o) => [o.status, o.reply.enhanced]),
    [['deferred', '4.4.2']],
  );
});

const retry = { minBackoff: 300, maxBackoff: 4000, maxLifetime: 3600 };
const message = { id: 'Q1', sender: 's@example.com', createdAt: 1_000_000 };
const deferred: Outcome = {
  recipient: 'a@r.test',
  status: 'deferred',
  reply: reply(451, '4.3.0', 'later'),
  remote: true,
  command: 'RCPT TO',
  relay,
  tls: null,
};

test('a deferral schedules the next attempt by the backoff schedule', () => {
  const now = message.createdAt + 60_000;
  const judged = judge(message, { address: 'a@r.test', attempts: 2 }, deferred, now, retry, () => 0.5);
  assert.equal(judged.status, 'deferred');
  assert.equal(judged.result.state, 'deferred');
  assert.equal(judged.result.nextAttemptAt, now + 1_200_000);
  assert.equal(judged.result.relay, 'mx.remote.test[192.0.2.1]:25');
  assert.equal(judged.action, 'delayed');
});

test('a deferral past maxLifetime expires: bounced, logged "expired", reported with 4.4.7', () => {
  const now = message.createdAt + 3_600_000;
  const judged = judge(message, { address: 'a@r.test', attempts: 5 }, deferred, now, retry);
  assert.equal(judged.status, 'expired');
  assert.equal(judged.result.state, 'bounced');
  assert.equal(judged.result.outcome, 'expired');
  assert.deepEqual([judged.action, judged.report.expired], ['failed', true]);
  assert.equal(judged.result.reply, '451 4.3.0 later');
});

test('delivered is logged "sent"; bounced is final', () => {
  const sent = judge(
    message,
    { address: 'a@r.test', attempts: 0 },
    { ...deferred, status: 'delivered', reply: reply(250, '2.0.0', 'ok') },
    message.createdAt,
    retry,
  );
  assert.equal(sent.status, 'sent');
  assert.equal(sent.result.state, 'delivered');
  const bounced = judge(
    message,
    { address: 'a@r.test', attempts: 0 },
    { ...deferred, status: 'bounced', reply: reply(550, '5.1.1', 'no') },
    message.createdAt,
    retry,
  );
  assert.equal(bounced.status, 'bounced');
  assert.deepEqual([bounced.action, bounced.report.expired], ['failed', false]);
});

test('anything thrown, and any recipient left without an outcome, counts as deferred', async () => {
  const request = { queueId: 'Q', sender: 's@x.test', domain: 'r.test', recipients: ['a@r.test', 'b@r.test'], body: Buffer.from('x') };
  const thrown = await settle(() => Promise.reject(new Error('boom')), request);
  assert.deepEqual(
    thrown.map((o) => [o.recipient, o.status]),
    [
      ['a@r.test', 'deferred'],
      ['b@r.test', 'deferred'],
    ],
  );
  assert.match(thrown[0]?.reply.text ?? '', /boom/);
  const partial = await settle(() => Promise.resolve([{ ...deferred, recipient: 'b@r.test', status: 'delivered' as const }]), request);
  assert.deepEqual(
    partial.map((o) => [o.recipient, o.status]),
    [
      ['a@r.test', 'deferred'],
      ['b@r.test', 'delivered'],
    ],
  );
});
