import assert from 'node:assert/strict';
import { test } from 'node:test';
import { describe, parseRemoteReply, statusOf, transactionVerdicts } from '../../src/delivery/reply-policy.js';
import { judge } from '../../src/delivery/results.js';
import type { TransactionResult } from '../../src/delivery/session.js';
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

test('failures without a server reply are described locally, naming the stage, and are temporary', () => {
  const refused = describe({ stage: 'connect', cause: 'refused', detail: 'ECONNREFUSED' }, relay);
  assert.deepEqual(refused.reply, { code: 451, enhanced: '4.4.1', text: 'connect to mx.remote.test[192.0.2.1]:25: Connection refused' });
  assert.equal(refused.remote, false);
  assert.equal(
    describe({ stage: 'connect', cause: 'timeout' }, relay).reply.text,
    'connect to mx.remote.test[192.0.2.1]:25: Connection timed out',
  );
  assert.equal(
    describe({ stage: 'greeting', cause: 'timeout' }, relay).reply.text,
    'conversation with mx.remote.test[192.0.2.1] timed out while receiving the initial server greeting',
  );
  const tls = describe({ stage: 'starttls', cause: 'tls', detail: 'ECONNRESET' }, relay);
  assert.deepEqual([tls.reply.enhanced, tls.reply.text], ['4.7.5', 'TLS with mx.remote.test[192.0.2.1] failed: ECONNRESET']);
  const required = describe({ stage: 'starttls', cause: 'tls', response: '502 5.5.1 Unknown command' }, relay);
  assert.deepEqual([required.reply.enhanced, required.remote], ['4.7.4', false]);
  assert.match(
    describe({ stage: 'message', cause: 'lost', detail: 'ECONNRESET' }, relay).reply.text,
    /^lost connection with mx\.remote\.test\[192\.0\.2\.1\] while sending message body \(ECONNRESET\)$/,
  );
  assert.equal(
    describe({ stage: 'end-of-data', cause: 'timeout' }, relay).reply.text,
    'conversation with mx.remote.test[192.0.2.1] timed out while sending end of data -- message may be sent more than once',
  );
});

test('a failure with a server reply keeps the reply and the command it answered', () => {
  const said = describe({ stage: 'rcpt', cause: 'reply', response: '421 4.3.2 Service shutting down' }, relay);
  assert.deepEqual(said, { reply: { code: 421, enhanced: '4.3.2', text: 'Service shutting down' }, remote: true, command: 'RCPT TO' });
});

const none = { accepted: [], refused: new Map<string, string>(), mailRefused: null, dataReply: null, trouble: null };
const verdicts = (recipients: string[], result: Partial<TransactionResult>, final = true) =>
  transactionVerdicts(recipients, { ...none, ...result }, relay, final).map((v, i) => [recipients[i], v.status, v.said.reply.code]);

test('only recipients accepted at RCPT and then taken at the end of data are delivered', () => {
  const refused = new Map([
    ['b@remote.test', '550 5.1.1 No such user'],
    ['c@remote.test', '452 4.2.2 Mailbox full'],
  ]);
  const all = ['a@remote.test', 'b@remote.test', 'c@remote.test', 'd@remote.test'];
  assert.deepEqual(verdicts(all, { accepted: ['a@remote.test'], refused, dataReply: '250 2.0.0 Ok: queued as X' }), [
    ['a@remote.test', 'delivered', 250],
    ['b@remote.test', 'bounced', 550],
    ['c@remote.test', 'deferred', 452],
    ['d@remote.test', 'deferred', 451],
  ]);
  assert.deepEqual(verdicts(all, { accepted: ['a@remote.test'], refused, dataReply: '250 2.0.0 Ok' }, false), [
    ['a@remote.test', 'delivered', 250],
    ['b@remote.test', 'bounced', 550],
    ['c@remote.test', 'kept', 452],
    ['d@remote.test', 'kept', 451],
  ]);
});

test('a refused MAIL FROM decides for everyone; the 503s a pipelining server gives the RCPTs after it decide nothing', () => {
  const refused = new Map([
    ['a@r.test', '503 5.5.1 Error: need MAIL command'],
    ['b@r.test', '503 5.5.1 Error: need MAIL command'],
  ]);
  const trouble = { stage: 'mail' as const, cause: 'reply' as const, response: '451 4.3.0 Try again later' };
  const mail = { refused, mailRefused: '451 4.3.0 Try again later', trouble };
  assert.deepEqual(verdicts(['a@r.test', 'b@r.test'], mail, false), [
    ['a@r.test', 'kept', 451],
    ['b@r.test', 'kept', 451],
  ]);
  assert.deepEqual(verdicts(['a@r.test'], { ...mail, mailRefused: '550 5.7.1 Sender rejected' }), [['a@r.test', 'bounced', 550]]);
});

test('after 421: accepted and unanswered recipients get the server\'s reply, not "lost connection"', () => {
  const trouble = { stage: 'rcpt' as const, cause: 'reply' as const, response: '421 4.3.2 Service not available, closing' };
  const result = { accepted: ['a@r.test'], refused: new Map([['b@r.test', '421 4.3.2 Service not available, closing']]), trouble };
  const out = transactionVerdicts(['a@r.test', 'b@r.test', 'c@r.test'], { ...none, ...result }, relay, true);
  assert.deepEqual(
    out.map((v) => [v.status, v.said.remote, v.said.reply.code, v.said.command]),
    [
      ['deferred', true, 421, 'RCPT TO'],
      ['deferred', true, 421, 'RCPT TO'],
      ['deferred', true, 421, 'RCPT TO'],
    ],
  );
});

test('refused data bounces or defers the accepted recipients; SIZE refusal bounces 5.3.4; a lost connection defers', () => {
  const accepted = ['a@r.test'];
  assert.deepEqual(verdicts(accepted, { accepted, dataReply: '554 5.7.0 Spam', trouble: { stage: 'end-of-data', cause: 'reply' } }), [
    ['a@r.test', 'bounced', 554],
  ]);
  assert.deepEqual(
    verdicts(accepted, { accepted, trouble: { stage: 'data', cause: 'reply', response: '554 5.5.1 No valid recipients' } }),
    [['a@r.test', 'bounced', 554]],
  );
  const tooBig = transactionVerdicts(accepted, { ...none, trouble: { stage: 'mail', cause: 'too-big' } }, relay, false);
  assert.deepEqual(
    tooBig.map((v) => [v.status, v.said.reply.code, v.said.reply.enhanced]),
    [['bounced', 552, '5.3.4']],
  );
  const lost = transactionVerdicts(accepted, { ...none, accepted, trouble: { stage: 'end-of-data', cause: 'lost' } }, relay, true);
  assert.deepEqual(
    lost.map((v) => [v.status, v.said.reply.enhanced]),
    [['deferred', '4.4.2']],
  );
});

test('a reply that is not one (a desynchronised server) is a temporary protocol error, never a delivery', () => {
  const refused = new Map([['b@r.test', '354 End data with <CR><LF>.<CR><LF>']]);
  assert.deepEqual(verdicts(['b@r.test'], { refused, dataReply: '250 2.0.0 Ok' }), [['b@r.test', 'deferred', 451]]);
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
  const request = {
    queueId: 'Q',
    sender: 's@x.test',
    domain: 'r.test',
    recipients: ['a@r.test', 'b@r.test'],
    body: Buffer.from('x'),
    tlsSeenAt: null,
  };
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
