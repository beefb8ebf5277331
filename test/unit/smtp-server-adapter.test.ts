// The contract between smarthost and smtp-server's private members (src/submission/smtp-server-adapter.ts):
// every member the adapter uses exists on a real SMTPConnection with the type it expects, and the
// adapter's view of a session is right at each step of a real session (AUTH continuation, a handler
// not yet answered, a message arriving, a message received but not answered, QUIT). When an
// upgrade of smtp-server changes one of them, this fails naming the member.
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import type { SMTPServerDataStream } from 'smtp-server';
import { SMTPStream } from 'smtp-server/lib/smtp-stream.js';
import {
  awaitsServer,
  decodeDataLinearly,
  expectsContinuation,
  interceptCommands,
  isClosing,
  messageStream,
  ObservedSMTPServer,
  receivingMessage,
  SMTP_SERVER_PRIVATE_MEMBERS,
  type SMTPConnection,
} from '../../src/submission/smtp-server-adapter.js';
import { SmtpClient } from '../helpers/smtp-client.js';

/** A promise and the function that resolves it. */
function gate<T = void>(): { promise: Promise<T>; open: (value: T) => void } {
  let open!: (value: T) => void;
  const promise = new Promise<T>((resolve) => (open = resolve));
  return { promise, open };
}

/** Whether `value` has one of the types of `expected` ('boolean', 'function', 'stream', 'false', 'null'). */
function hasType(value: unknown, expected: string): boolean {
  return expected.split('|').some((type) => {
    if (type === 'false' || type === 'null') return String(value) === type;
    if (type === 'stream') return typeof value === 'object' && value !== null && typeof (value as { pipe?: unknown }).pipe === 'function';
    return typeof value === type;
  });
}

describe('smtp-server adapter contract', () => {
  let server: ObservedSMTPServer;
  let port: number;
  const sessions: SMTPConnection[] = [];
  const lines: string[] = [];
  let mailFrom = gate<() => void>();
  let dataEnded = gate<() => void>();
  let dataStarted = gate<SMTPServerDataStream>();

  before(async () => {
    server = new ObservedSMTPServer(
      {
        logger: false,
        disabledCommands: ['STARTTLS'],
        allowInsecureAuth: true,
        authMethods: ['LOGIN'],
        onAuth: (_auth, _session, callback) => callback(null, { user: 'someone' }),
        onMailFrom: (_address, _session, callback) => mailFrom.open(() => callback()),
        onData: (stream, _session, callback) => {
          dataStarted.open(stream);
          stream.resume();
          stream.once('end', () => dataEnded.open(() => callback()));
        },
      },
      (connection) => {
        sessions.push(connection);
        interceptCommands(connection, (line, handle) => {
          lines.push(line.toString('latin1'));
          handle(() => undefined);
        });
      },
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.server.address() as AddressInfo).port;
  });
  after(() => new Promise<void>((resolve) => server.close(resolve)));

  test('every private member the adapter uses exists with the expected type', async () => {
    const client = await SmtpClient.connect(port);
    const connection = sessions.at(-1);
    assert.ok(connection, 'ObservedSMTPServer handed the session to its hook');
    for (const { owner, member, type } of SMTP_SERVER_PRIVATE_MEMBERS) {
      const holder = (owner === 'SMTPStream' ? connection._parser : connection) as unknown as Record<string, unknown>;
      assert.ok(member in holder, `smtp-server ${owner}.${member} is gone (the adapter needs it: upgrade the adapter)`);
      const value = holder[member];
      assert.ok(hasType(value, type), `smtp-server ${owner}.${member} is ${typeof value} ${String(value)}, the adapter expects ${type}`);
    }
    await client.quit();
  });

  test("the adapter's view follows a real session step by step", async () => {
    lines.length = 0;
    const client = await SmtpClient.connect(port);
    const connection = sessions.at(-1)!;
    const where = (member: string, step: string): string =>
      `smtp-server SMTPConnection.${member} no longer means what the adapter reads from it (${step})`;
    assert.equal((await client.ehlo()).code, 250);
    assert.equal(expectsContinuation(connection), false, where('_nextHandler', 'after EHLO'));

    assert.equal((await client.send('AUTH LOGIN')).code, 334);
    assert.equal(expectsContinuation(connection), true, where('_nextHandler', 'AUTH LOGIN waits for the user name'));
    assert.equal((await client.send(Buffer.from('someone').toString('base64'))).code, 334);
    assert.equal((await client.send(Buffer.from('secret').toString('base64'))).code, 235);
    assert.equal(expectsContinuation(connection), false, where('_nextHandler', 'after 235'));

    mailFrom = gate();
    client.write('MAIL FROM:<a@example.test>\r\n');
    const release = await mailFrom.promise;
    assert.equal(awaitsServer(connection), true, where('_handlerPending', 'onMailFrom has not called back'));
    release();
    assert.equal((await client.read()).code, 250);
    assert.equal(awaitsServer(connection), false, where('_handlerPending', 'after the reply to MAIL'));

    assert.equal((await client.send('RCPT TO:<b@example.test>')).code, 250);
    dataStarted = gate();
    dataEnded = gate();
    assert.equal(messageStream(connection), null, where('_dataStream', 'before DATA'));
    assert.equal((await client.send('DATA')).code, 354);
    const stream = await dataStarted.promise;
    client.write('Subject: contract\r\n\r\nbody line\r\n');
    await new Promise<void>((resolve) => stream.once('data', () => resolve()));
    assert.equal(messageStream(connection), stream, where('_dataStream', 'after 354'));
    assert.equal(receivingMessage(connection), true, where('_dataStream', 'the message is arriving'));
    assert.equal(awaitsServer(connection), false, where('_dataStream', 'the client owes the rest of the message'));
    assert.ok((messageStream(connection)?.byteLength ?? 0) > 0, 'the data stream counts the bytes received (byteLength)');
    client.write('.\r\n');
    const answer = await dataEnded.promise;
    assert.equal(receivingMessage(connection), false, where('_dataStream', 'after the final dot'));
    assert.equal(awaitsServer(connection), true, where('_dataStream', 'onData has not called back'));
    answer();
    assert.equal((await client.read()).code, 250);
    assert.equal(messageStream(connection), null, where('_dataStream', 'after the reply to DATA'));
    assert.equal(awaitsServer(connection), false, where('_handlerPending', 'after the reply to DATA'));

    assert.equal(isClosing(connection), false, where('_closing', 'an open session'));
    await client.quit();
    assert.equal(isClosing(connection), true, where('_closing/_closed', 'after QUIT'));
    assert.deepEqual(
      lines.filter((l) => /^(EHLO|AUTH|MAIL|RCPT|DATA|QUIT)/.test(l)),
      ['EHLO client.test', 'AUTH LOGIN', 'MAIL FROM:<a@example.test>', 'RCPT TO:<b@example.test>', 'DATA', 'QUIT'],
      'interceptCommands sees every command line (SMTPConnection._onCommand)',
    );
  });
});

describe('smtp-server adapter: the linear DATA decoder', () => {
  let server: ObservedSMTPServer;
  let port: number;
  const sessions: SMTPConnection[] = [];
  const messages: Buffer[] = [];

  before(async () => {
    server = new ObservedSMTPServer(
      {
        logger: false,
        authOptional: true,
        size: 100,
        rejectOversized: true,
        onData: (stream, _session, callback) => {
          const parts: Buffer[] = [];
          stream.on('data', (chunk: Buffer) => parts.push(chunk));
          stream.once('end', () => {
            messages.push(Buffer.concat(parts));
            callback();
          });
        },
      },
      (connection) => {
        sessions.push(connection);
        decodeDataLinearly(connection);
      },
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.server.address() as AddressInfo).port;
  });
  after(() => new Promise<void>((resolve) => server.close(resolve)));

  test('replaces the data parser, also the one made after STARTTLS, and keeps the size limit', async () => {
    const client = await SmtpClient.connect(port);
    const connection = sessions.at(-1)!;
    const decoding = (): boolean =>
      connection._parser !== false && connection._parser._feedDataStream !== SMTPStream.prototype._feedDataStream;
    assert.equal(decoding(), true, 'SMTPConnection._parser._feedDataStream is replaced');
    await client.ehlo();
    assert.equal((await client.starttls()).code, 220);
    await client.ehlo();
    assert.equal(decoding(), true, 'the parser made after STARTTLS (SMTPConnection._createParser) is replaced too');
    await client.send('MAIL FROM:<a@example.test>');
    await client.send('RCPT TO:<b@example.test>');
    assert.equal((await client.send('DATA')).code, 354);
    for (const piece of ['a\r\n.', '.b\r\nc\n.\n', 'd\r\n.', '\r', '\nNOOP\r\n']) client.write(piece);
    assert.equal((await client.read()).code, 250);
    assert.equal((await client.read()).code, 250, 'the command after the end of data');
    assert.equal(messages.at(-1)?.toString('latin1'), 'a\r\n.b\r\nc\n.\nd\r\n');

    // 25 stuffed lines are 125 bytes on the wire and 100 in the message: at the limit, not over it.
    for (const [lines, code] of [
      [25, 250],
      [26, 552],
    ]) {
      await client.send('MAIL FROM:<a@example.test>');
      await client.send('RCPT TO:<b@example.test>');
      await client.send('DATA');
      client.write(`${'..x\r\n'.repeat(lines ?? 0)}.\r\n`);
      assert.equal((await client.read()).code, code, `the size limit counts message bytes (SMTPStream._countDataBytes): ${lines} lines`);
    }
    await client.quit();
  });
});
