// The contract between smarthost and nodemailer's private members (src/delivery/nodemailer-adapter.ts):
// every member the adapter uses exists on a real SMTPConnection with the type it expects, the
// adapter's view is right at each step of real sessions against smtp-server (extensions, the TLS
// socket, amended command lines, per-recipient replies of failed transactions, the reply timeout),
// and set-up steps are bounded one by one rather than by nodemailer's whole-set-up deadline. When an
// upgrade of nodemailer changes one of them, this fails naming the member.
import assert from 'node:assert/strict';
import net, { type AddressInfo } from 'node:net';
import { TLSSocket } from 'node:tls';
import { after, before, describe, test } from 'node:test';
import { SMTPServer } from 'smtp-server';
import {
  activeSocket,
  announcedExtensions,
  createClient,
  envelopeReplies,
  NODEMAILER_PRIVATE_MEMBERS,
  NodemailerContractError,
  setReplyTimeout,
  type ClientOptions,
  type SMTPConnection,
} from '../../src/delivery/nodemailer-adapter.js';
import { ScriptedMx } from '../helpers/scripted-mx.js';
import { freePort } from '../helpers/fake-mx.js';

function hasType(value: unknown, expected: string): boolean {
  return expected.split('|').some((type) => {
    if (type === 'false' || type === 'null') return String(value) === type;
    if (type === 'array') return Array.isArray(value);
    if (type === 'socket') return value instanceof net.Socket;
    if (type === 'object') return typeof value === 'object' && value !== null;
    return typeof value === type;
  });
}

function connectSocket(port: number, host = '127.0.0.1'): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port }, () => resolve(socket));
    socket.once('error', reject);
  });
}

async function open(
  port: number,
  options: Partial<Omit<ClientOptions, 'socket'>> = {},
  host = '127.0.0.1',
): Promise<{ connection: SMTPConnection; lines: string[]; error?: Error & { code?: string } }> {
  const lines: string[] = [];
  const connection = createClient({
    socket: await connectSocket(port, host),
    name: 'relay.test',
    servername: undefined,
    starttls: 'may',
    stepTimeout: 5000,
    onCommand: (line) => (lines.push(line), line),
    ...options,
  });
  const error = await new Promise<(Error & { code?: string }) | undefined>((resolve) => {
    connection.on('error', resolve); // a failed set-up step is reported as 'error', not to connect()
    connection.connect((err) => resolve(err));
  });
  return { connection, lines, ...(error ? { error } : {}) };
}

function send(connection: SMTPConnection, to: string[]): Promise<{ err: (Error & { code?: string }) | null; response?: string }> {
  return new Promise((resolve) =>
    connection.send({ from: 'a@example.com', to }, Buffer.from('Subject: x\r\n\r\nbody\r\n'), (err, info) =>
      resolve({ err: err ?? null, response: info?.response }),
    ),
  );
}

describe('nodemailer adapter contract', () => {
  let server: SMTPServer;
  let port: number;
  const mailArgs: Array<Record<string, unknown>> = [];

  before(async () => {
    server = new SMTPServer({
      logger: false,
      authOptional: true,
      disabledCommands: ['AUTH'],
      size: 1_000_000,
      onMailFrom: (address, _session, callback) => {
        mailArgs.push((address.args || {}) as Record<string, unknown>);
        if (address.address.startsWith('later')) return callback(Object.assign(new Error('Try again later'), { responseCode: 451 }));
        callback();
      },
      onRcptTo: (address, _session, callback) =>
        callback(address.address.startsWith('bad') ? Object.assign(new Error('No such user'), { responseCode: 550 }) : null),
      onData: (stream, _session, callback) => {
        stream.resume();
        stream.once('end', () => callback(Object.assign(new Error('Spam'), { responseCode: 554 })));
      },
    });
    server.on('error', () => undefined);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    port = (server.server.address() as AddressInfo).port;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  test('every private member the adapter uses exists with the type it expects', async () => {
    const { connection, error } = await open(port);
    assert.equal(error, undefined);
    const view = connection as unknown as Record<string, unknown>;
    for (const { member, type } of NODEMAILER_PRIVATE_MEMBERS) {
      assert.ok(hasType(view[member], type), `SMTPConnection.${member} should be ${type}, is ${typeof view[member]}`);
    }
    connection.close();
  });

  test('after STARTTLS: the announced extensions, the TLS socket and every command line seen', async () => {
    const { connection, lines, error } = await open(port);
    assert.equal(error, undefined);
    assert.equal(connection.secure, true);
    const socket = activeSocket(connection);
    assert.ok(socket instanceof TLSSocket && socket.encrypted, '_socket is the TLS socket after STARTTLS');
    for (const ext of ['PIPELINING', '8BITMIME', 'SMTPUTF8', 'SIZE']) assert.ok(announcedExtensions(connection).includes(ext), ext);
    assert.deepEqual(lines, ['EHLO relay.test', 'STARTTLS', 'EHLO relay.test'], '_sendCommand carries every command line');
    setReplyTimeout(connection, 1234);
    assert.equal(activeSocket(connection)?.timeout, 1234);
    connection.close();
  });

  test('a command line amended on its way out is what the server gets (SMTPUTF8 on MAIL FROM)', async () => {
    const { connection } = await open(port, { onCommand: (line) => (line.startsWith('MAIL FROM:') ? `${line} SMTPUTF8` : line) });
    mailArgs.length = 0;
    await send(connection, ['someone@remote.test']);
    assert.equal(mailArgs[0]?.['SMTPUTF8'], true);
    connection.close();
  });

  test('a refused MAIL FROM, pipelined: its reply, and the 503s the recipients got after it', async () => {
    const { connection } = await open(port);
    const done = await new Promise<{ err: Error | null }>((resolve) =>
      connection.send({ from: 'later@example.com', to: ['a@remote.test', 'b@remote.test'] }, Buffer.from('x\r\n'), (err) =>
        resolve({ err: err ?? null }),
      ),
    );
    assert.ok(done.err);
    const replies = envelopeReplies(connection);
    assert.match(replies.mailRefused ?? '', /^451 /);
    assert.deepEqual([...replies.refused.keys()], ['a@remote.test', 'b@remote.test']);
    assert.ok(
      [...replies.refused.values()].every((r) => r.startsWith('503')),
      [...replies.refused.values()].join(' | '),
    );
    assert.deepEqual(replies.accepted, []);
    connection.close();
  });

  test('a partly refused envelope and refused data: who was accepted and who refused', async () => {
    const { connection } = await open(port);
    const { err } = await send(connection, ['good@remote.test', 'bad@remote.test']);
    assert.match(String((err as { response?: string } | null)?.response), /^554 /);
    const replies = envelopeReplies(connection);
    assert.deepEqual(replies.accepted, ['good@remote.test']);
    assert.match(replies.refused.get('bad@remote.test') ?? '', /^550 /);
    assert.equal(replies.mailRefused, null);
    connection.close();
  });

  test('set-up steps are bounded one by one, not by a deadline for the whole set-up', async () => {
    const slowPort = await freePort('127.0.0.1');
    const slow = await ScriptedMx.start('127.0.0.1', slowPort, {
      extensions: ['PIPELINING'],
      greeting: { reply: '220 slow.test ESMTP', delayMs: 400 },
      script: (line) => (line.startsWith('EHLO') ? { reply: '250-slow.test\n250 PIPELINING', delayMs: 400 } : undefined),
    });
    try {
      const fine = await open(slowPort, { stepTimeout: 700 });
      assert.equal(fine.error, undefined, 'two 400 ms steps, each within 700 ms, though 800 ms together');
      fine.connection.close();
      const late = await open(slowPort, { stepTimeout: 200 });
      assert.equal(late.error?.code, 'ETIMEDOUT', 'a greeting slower than its own bound times out');
    } finally {
      await slow.close();
    }
  });

  test('replies that arrive together with the hang-up are all read (a pipelined batch ending in 421)', async () => {
    const closingPort = await freePort('127.0.0.1');
    const closing = await ScriptedMx.start('127.0.0.1', closingPort, {
      extensions: ['PIPELINING'],
      script: (line) => (line === 'RCPT TO:<e@remote.test>' ? { reply: '421 4.3.2 Service shutting down', close: true } : undefined),
    });
    try {
      const { connection } = await open(closingPort);
      const { err } = await send(connection, ['a@remote.test', 'b@remote.test', 'c@remote.test', 'd@remote.test', 'e@remote.test']);
      assert.match(String((err as { response?: string } | null)?.response), /^421 /);
      const replies = envelopeReplies(connection);
      assert.deepEqual(replies.accepted, ['a@remote.test', 'b@remote.test', 'c@remote.test', 'd@remote.test']);
      assert.equal(replies.refused.get('e@remote.test'), '421 4.3.2 Service shutting down');
    } finally {
      await closing.close();
    }
  });

  test('a member that changed fails loudly, naming it', async () => {
    const { connection } = await open(port);
    const view = connection as unknown as Record<string, unknown>;
    const broken = (member: string, value: unknown, read: () => unknown): void => {
      const saved = view[member];
      view[member] = value;
      try {
        assert.throws(
          read,
          (err: unknown) => err instanceof NodemailerContractError && err.member === member && err.message.includes(member),
        );
      } finally {
        view[member] = saved;
      }
    };
    broken('_supportedExtensions', 'SMTPUTF8 8BITMIME', () => announcedExtensions(connection));
    broken('_envelope', 42, () => envelopeReplies(connection));
    broken('_envelope', { accepted: 'a@b' }, () => envelopeReplies(connection));
    broken('_socket', { write: () => true }, () => activeSocket(connection));
    connection.close();
    const proto = Object.getPrototypeOf(connection) as Record<string, unknown>;
    for (const member of ['_sendCommand', '_onClose']) {
      const saved = proto[member];
      proto[member] = undefined;
      try {
        const socket = await connectSocket(port);
        assert.throws(
          () => createClient({ socket, name: 'x', servername: undefined, starttls: 'none', stepTimeout: 1000, onCommand: (l) => l }),
          (err: unknown) => err instanceof NodemailerContractError && err.member === member,
        );
        socket.destroy();
      } finally {
        proto[member] = saved;
      }
    }
  });
});
