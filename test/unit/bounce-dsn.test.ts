import assert from 'node:assert/strict';
import { test } from 'node:test';
import { simpleParser } from 'mailparser';
import { Bouncer } from '../../src/bounce/bouncer.js';
import { buildDsn, type DsnInput, type ReportedRecipient } from '../../src/bounce/dsn.js';
import type { NewMessage } from '../../src/spool/enqueue.js';
import type { Enqueuer } from '../../src/spool/enqueue.js';
import { QueueIdGenerator } from '../../src/spool/queue-id.js';
import { reply } from '../../src/smtp/reply.js';
import { FakeClock } from '../helpers/fake-clock.js';

const arrived = Date.UTC(2026, 10, 20, 9, 30, 0);
const header = Buffer.from(
  'From: App <alerts@example.com>\r\nTo: a@remote.test\r\nSubject: disk space low\r\nMessage-ID: <m1@example.com>\r\n',
);
const rejected: ReportedRecipient = {
  address: 'a@remote.test',
  reply: reply(550, '5.1.1', '<a@remote.test>: Recipient address rejected: User unknown'),
  remote: true,
  command: 'RCPT TO',
  relay: { host: 'mx.remote.test', address: '192.0.2.1' },
  expired: false,
  at: arrived + 1000,
};
const expired: ReportedRecipient = {
  address: 'b@slow.test',
  reply: reply(451, '4.4.1', 'connect to mx.slow.test[192.0.2.2]:25: Connection refused'),
  remote: false,
  relay: null,
  expired: true,
  at: arrived + 5 * 86_400_000,
};
const nullMx: ReportedRecipient = {
  address: 'c@nullmx.test',
  reply: reply(550, '5.1.10', 'Recipient domain nullmx.test does not accept mail (null MX)'),
  remote: false,
  relay: null,
  expired: false,
  at: arrived,
};

function dsn(recipients: ReportedRecipient[], over: Partial<DsnInput> = {}): Buffer {
  return buildDsn({
    hostname: 'relay.test',
    action: 'failed',
    envid: null,
    queueId: 'ORIG0000000001',
    dsnId: 'DSN00000000001',
    sender: 'alerts@example.com',
    to: 'alerts@example.com',
    arrivedAt: arrived,
    date: arrived + 2000,
    boundary: 'DSN00000000001.abc/relay.test',
    recipients,
    returned: { full: false, data: header },
    ...over,
  });
}

/** Each body part of a multipart message, parsed on its own (mailparser folds message/delivery-status into .text). */
async function bodyParts(raw: Buffer, boundary: string): Promise<Array<{ type: string; text: string }>> {
  const pieces = raw.toString('utf8').split(`--${boundary}`).slice(1, -1);
  return Promise.all(
    pieces.map(async (piece) => {
      const part = await simpleParser(piece.replace(/^\r\n/, ''));
      const type = (part.headers.get('content-type') as { value: string }).value;
      return { type, text: part.text ?? part.attachments[0]?.content.toString('utf8') ?? '' };
    }),
  );
}

/** The per-message group and the per-recipient groups of a message/delivery-status body. */
function statusGroups(text: string): Array<Record<string, string>> {
  return text
    .trim()
    .split(/\r?\n\r?\n/)
    .map((group) =>
      Object.fromEntries(
        group.split(/\r?\n/).map((line) => [line.slice(0, line.indexOf(':')).toLowerCase(), line.slice(line.indexOf(':') + 1).trim()]),
      ),
    );
}

test('a DSN is multipart/report with a readable part, delivery-status and the original headers', async () => {
  const raw = dsn([rejected]);
  const parsed = await simpleParser(raw);
  assert.equal(parsed.from?.value[0]?.address, 'MAILER-DAEMON@relay.test');
  assert.equal(parsed.to && !Array.isArray(parsed.to) ? parsed.to.value[0]?.address : null, 'alerts@example.com');
  assert.equal(parsed.subject, 'Undelivered Mail Returned to Sender');
  assert.equal(parsed.headers.get('auto-submitted'), 'auto-replied');
  const type = parsed.headers.get('content-type') as { value: string; params: Record<string, string> };
  assert.equal(type.value, 'multipart/report');
  assert.equal(type.params['report-type'], 'delivery-status');
  assert.match(parsed.text ?? '', /This is the mail system at host relay\.test\./);
  assert.match(
    parsed.text ?? '',
    /<a@remote\.test>: host mx\.remote\.test\[192\.0\.2\.1\] said: 550 5\.1\.1 <a@remote\.test>: Recipient address rejected: User unknown \(in reply to RCPT TO command\)/,
  );
  const parts = await bodyParts(raw, type.params['boundary'] ?? '');
  assert.deepEqual(
    parts.map((p) => p.type),
    ['text/plain', 'message/delivery-status', 'text/rfc822-headers'],
  );
  const [perMessage, perRecipient] = statusGroups(parts[1]?.text ?? '');
  assert.deepEqual(perMessage, {
    'reporting-mta': 'dns; relay.test',
    'x-smarthost-queue-id': 'ORIG0000000001',
    'x-smarthost-sender': 'rfc822; alerts@example.com',
    'arrival-date': 'Fri, 20 Nov 2026 09:30:00 +0000',
  });
  assert.deepEqual(perRecipient, {
    'final-recipient': 'rfc822; a@remote.test',
    action: 'failed',
    status: '5.1.1',
    'remote-mta': 'dns; mx.remote.test',
    'diagnostic-code': 'smtp; 550 5.1.1 <a@remote.test>: Recipient address rejected: User unknown',
    'last-attempt-date': 'Fri, 20 Nov 2026 09:30:01 +0000',
  });
  assert.deepEqual(
    parsed.attachments.map((a) => a.contentType),
    ['text/rfc822-headers'],
  );
  assert.deepEqual(parsed.attachments[0]?.content, header);
});

test('one DSN covers several recipients; expired ones say 4.4.7, local reasons have no Remote-MTA', async () => {
  const raw = dsn([rejected, expired, nullMx]);
  const parsed = await simpleParser(raw);
  const parts = await bodyParts(raw, 'DSN00000000001.abc/relay.test');
  const groups = statusGroups(parts[1]?.text ?? '').slice(1);
  assert.deepEqual(
    groups.map((g) => [g['final-recipient'], g['status'], g['remote-mta']]),
    [
      ['rfc822; a@remote.test', '5.1.1', 'dns; mx.remote.test'],
      ['rfc822; b@slow.test', '4.4.7', undefined],
      ['rfc822; c@nullmx.test', '5.1.10', undefined],
    ],
  );
  assert.equal(groups[1]?.['diagnostic-code'], 'X-Smarthost; connect to mx.slow.test[192.0.2.2]:25: Connection refused');
  assert.match(parsed.text ?? '', /<b@slow\.test>: delivery time expired; last error: connect to mx\.slow\.test/);
  assert.match(parsed.text ?? '', /<c@nullmx\.test>: Recipient domain nullmx\.test does not accept mail \(null MX\)/);
});

test('the bouncer spools the DSN with the null sender to the original sender, signed when a signer is given', async () => {
  const enqueued: NewMessage[] = [];
  const enqueuer = { enqueue: (m: NewMessage) => (enqueued.push(m), Promise.resolve()) } as unknown as Enqueuer;
  const signed: Array<{ from: string; id: string }> = [];
  const signer = (message: Buffer, from: string, id: string): Promise<Buffer> => {
    signed.push({ from, id });
    return Promise.resolve(Buffer.concat([Buffer.from('DKIM-Signature: v=1; test\r\n'), message]));
  };
  const clock = new FakeClock();
  const bouncer = new Bouncer({ enqueuer, ids: new QueueIdGenerator(() => clock.now()), clock, hostname: 'relay.test' }, signer);
  const id = await bouncer.bounce({ queueId: 'ORIG0000000001', sender: 'alerts@example.com', arrivedAt: arrived, originalHeader: header }, [
    rejected,
  ]);
  assert.equal(enqueued.length, 1);
  const m = enqueued[0];
  assert.deepEqual(
    { id: m?.id, sender: m?.sender, recipients: m?.recipients, kind: m?.kind, createdAt: m?.createdAt },
    { id, sender: '', recipients: ['alerts@example.com'], kind: 'bounce', createdAt: clock.now() },
  );
  assert.deepEqual(signed, [{ from: 'MAILER-DAEMON@relay.test', id }]);
  assert.ok(m?.body.toString().startsWith('DKIM-Signature: v=1; test\r\nFrom: Mail Delivery System <MAILER-DAEMON@relay.test>'));
  await assert.rejects(
    bouncer.bounce({ queueId: 'X', sender: '', arrivedAt: arrived, originalHeader: header }, [rejected]),
    /nobody to notify/,
  );
});

test('ENVID and ORCPT come back as Original-Envelope-Id and Original-Recipient; RET=FULL returns the message', async () => {
  const message = Buffer.concat([header, Buffer.from('\r\nThe disk is full.\r\n')]);
  const raw = dsn([{ ...rejected, orcpt: 'rfc822;A@Remote.test' }], { envid: 'QQ314159', returned: { full: true, data: message } });
  const parts = await bodyParts(raw, 'DSN00000000001.abc/relay.test');
  assert.deepEqual(
    parts.map((p) => p.type),
    ['text/plain', 'message/delivery-status', 'message/rfc822'],
  );
  const [perMessage, perRecipient] = statusGroups(parts[1]?.text ?? '');
  assert.equal(perMessage?.['original-envelope-id'], 'QQ314159');
  assert.equal(perRecipient?.['original-recipient'], 'rfc822; A@Remote.test');
  assert.ok(raw.includes(message), 'the whole message, byte for byte');
});

test('a delay warning and a success report: their own subject, Action, and headers only', async () => {
  const delayed = dsn([{ ...expired, expired: false }], {
    action: 'delayed',
    delay: { warnAfter: 14_400, retryUntil: arrived + 5 * 86_400_000 },
    returned: { full: false, data: header },
  });
  const parsed = await simpleParser(delayed);
  assert.equal(parsed.subject, 'Delayed Mail (still being retried)');
  assert.match(parsed.text ?? '', /THIS IS A WARNING ONLY/);
  assert.match(parsed.text ?? '', /could not be delivered for more than 4 hour\(s\)/);
  const parts = await bodyParts(delayed, 'DSN00000000001.abc/relay.test');
  const [, recipient] = statusGroups(parts[1]?.text ?? '');
  assert.equal(recipient?.['action'], 'delayed');
  assert.equal(recipient?.['status'], '4.4.1');
  assert.equal(recipient?.['will-retry-until'], 'Wed, 25 Nov 2026 09:30:00 +0000');

  const relayed = dsn([{ ...rejected, reply: reply(250, '2.0.0', 'Ok: queued as X1'), command: 'DATA' }], { action: 'relayed' });
  const success = await simpleParser(relayed);
  assert.equal(success.subject, 'Successful Mail Delivery Report');
  assert.match(success.text ?? '', /<a@remote\.test>: delivery via mx\.remote\.test\[192\.0\.2\.1\]: 250 2\.0\.0 Ok: queued as X1/);
  const [, ok] = statusGroups((await bodyParts(relayed, 'DSN00000000001.abc/relay.test'))[1]?.text ?? '');
  assert.deepEqual([ok?.['action'], ok?.['status']], ['relayed', '2.0.0']);
});

test('what is reported: NOTIFY, the null sender, one delay warning after delayWarning, success only when not passed on', () => {
  const enqueuer = { enqueue: () => Promise.resolve() } as unknown as Enqueuer;
  const clock = new FakeClock();
  const ids = new QueueIdGenerator(() => clock.now());
  const bouncer = new Bouncer({ enqueuer, ids, clock, hostname: 'relay.test', postmaster: 'pm@example.org', delayWarning: 3600 });
  const base = {
    sender: 'a@example.com',
    address: 'r@remote.test',
    dsn: { notify: null, orcpt: null },
    arrivedAt: 0,
    now: 3_600_000,
    delayWarned: false,
    passedOn: false,
  } as const;
  const reports = (over: Partial<Parameters<Bouncer['reportsOn']>[0]>): boolean =>
    bouncer.reportsOn({ ...base, action: 'failed', ...over });
  assert.equal(reports({}), true, 'failures by default');
  assert.equal(reports({ dsn: { notify: 'NEVER', orcpt: null } }), false);
  assert.equal(reports({ dsn: { notify: ['SUCCESS', 'DELAY'], orcpt: null } }), false, 'no FAILURE asked for');
  assert.equal(reports({ sender: '' }), true, 'a null-sender failure goes to the postmaster');
  assert.equal(reports({ sender: '', address: 'PM@example.org' }), false, 'not about the postmaster itself');
  assert.equal(reports({ action: 'delayed' }), true, 'delays by default, once delayWarning has passed');
  assert.equal(reports({ action: 'delayed', now: 3_599_999 }), false);
  assert.equal(reports({ action: 'delayed', delayWarned: true }), false, 'once');
  assert.equal(reports({ action: 'delayed', sender: '' }), false);
  assert.equal(reports({ action: 'delayed', dsn: { notify: ['FAILURE'], orcpt: null } }), false);
  assert.equal(reports({ action: 'relayed' }), false, 'no success by default');
  assert.equal(reports({ action: 'relayed', dsn: { notify: ['SUCCESS'], orcpt: null } }), true);
  assert.equal(reports({ action: 'relayed', dsn: { notify: ['SUCCESS'], orcpt: null }, passedOn: true }), false, 'the next hop reports');
  assert.equal(bouncer.noticeTo('', 'x@remote.test'), 'pm@example.org');
});
