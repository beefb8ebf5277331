// Real clients (nodemailer, swaks, curl, Python smtplib) submit on 587 (STARTTLS) and 465 (implicit
// TLS) with AUTH PLAIN and LOGIN; each gets 250 with a queue ID and the spool holds the message
// byte for byte, after the headers smarthost adds.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { queueIdOf, sendWithCurl, sendWithNodemailer, sendWithPython, sendWithSwaks, type Submission } from '../helpers/clients.js';
import { DEFAULT_USER, TestDaemon } from '../helpers/daemon.js';

const MESSAGE = [
  'From: App <alerts@example.com>',
  'To: someone@remote.test',
  'Subject: disk space low',
  'Date: Wed, 25 Nov 2026 10:00:00 +0000',
  'Message-ID: <m1@example.com>',
  '',
  'The disk is 91% full.',
  '.leading dot survives',
  '',
].join('\r\n');

describe('submission with real clients', () => {
  let daemon: TestDaemon;
  before(async () => {
    daemon = await TestDaemon.start();
  });
  after(() => daemon.cleanup());

  const clients = { nodemailer: sendWithNodemailer, swaks: sendWithSwaks, curl: sendWithCurl, python: sendWithPython };
  for (const [name, send] of Object.entries(clients)) {
    for (const implicitTls of [false, true]) {
      const methods: Array<'PLAIN' | 'LOGIN'> = name === 'nodemailer' || name === 'swaks' ? ['PLAIN', 'LOGIN'] : ['PLAIN'];
      for (const authMethod of methods) {
        test(`${name} on ${implicitTls ? '465 (implicit TLS)' : '587 (STARTTLS)'} with AUTH ${authMethod}`, async () => {
          const submission: Submission = {
            port: implicitTls ? daemon.ports.submissions : daemon.ports.submission,
            implicitTls,
            user: DEFAULT_USER.name,
            password: DEFAULT_USER.password,
            from: 'alerts@example.com',
            to: ['someone@remote.test', 'other@elsewhere.test'],
            message: MESSAGE,
            authMethod,
          };
          const outcome = await send(submission);
          assert.ok(outcome.ok, `${name}: ${outcome.response}`);
          assert.match(outcome.response, /^250 2\.0\.0 Ok: queued as [0-9A-Z]{14}$/);
          const queueId = queueIdOf(outcome.response);
          assert.ok(queueId);
          // swaks always sends CRLF before the final ".", so a message that ends in CRLF gains an empty line.
          const sent = name === 'swaks' ? `${MESSAGE}\r\n` : MESSAGE;
          assertSpooled(daemon, queueId, ['other@elsewhere.test', 'someone@remote.test'], sent);
        });
      }
    }
  }
});

function assertSpooled(daemon: TestDaemon, queueId: string, recipients: string[], sent: string): void {
  const db = daemon.openSpool();
  try {
    const message = db.prepare('SELECT sender, username FROM messages WHERE id = ?').get(queueId) as { sender: string; username: string };
    assert.deepEqual(message, { sender: 'alerts@example.com', username: DEFAULT_USER.name });
    const rcpts = db.prepare('SELECT address, state FROM recipients WHERE message_id = ? ORDER BY address').all(queueId) as Array<{
      address: string;
      state: string;
    }>;
    assert.deepEqual(
      rcpts.map((r) => r.address),
      recipients,
    );
    // Delivery starts at once (the base configuration routes everything to a closed port): queued or already deferred.
    for (const r of rcpts) assert.ok(['queued', 'deferred'].includes(r.state), `${r.address}: ${r.state}`);
    const body = (db.prepare('SELECT data FROM bodies WHERE message_id = ?').get(queueId) as { data: Buffer }).data.toString('utf8');
    assert.match(
      body,
      /^Received: from .+\r\n\t\(using TLSv1\.[23] with cipher [A-Z0-9_-]+\)\r\n\t\(Authenticated sender: app\)\r\n\tby relay\.test \(smarthost\) with ESMTPSA id [0-9A-Z]{14}\r\n\t; /,
    );
    assert.ok(body.endsWith(sent), `stored message ends with the submitted bytes:\n${body}`);
    assert.equal(
      body
        .split('\r\n')
        .filter((l) => /^[A-Za-z-]+:/.test(l))
        .filter((l) => /^(Date|Message-ID):/i.test(l)).length,
      2,
      'no Date/Message-ID added when present',
    );
  } finally {
    db.close();
  }
}
