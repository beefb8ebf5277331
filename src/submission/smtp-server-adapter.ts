// Everything smarthost needs from smtp-server beyond its documented API, in one place: this is the
// only module allowed to touch the library's private (underscore) members. The rest of the code
// sees a narrow, typed view of a session (has the server still to answer? is a message arriving?
// is the next line an AUTH continuation?) and a server class whose sessions can be observed before
// they start. Each private member used is listed in SMTP_SERVER_PRIVATE_MEMBERS with the type it
// must have; test/unit/smtp-server-adapter.test.ts checks every one on a real SMTPConnection and
// fails naming the member when an upgrade of smtp-server renames or retypes it. Whatever a public
// API can tell (the socket a session runs on, the message stream's byte count, the library's
// events) is taken from the public API instead.
import type net from 'node:net';
import type tls from 'node:tls';
import { SMTPServer, type SMTPServerDataStream, type SMTPServerOptions } from 'smtp-server';
import { SMTPConnection, type SMTPConnectionOptions } from 'smtp-server/lib/smtp-connection.js';
import type { SMTPStream } from 'smtp-server/lib/smtp-stream.js';
import { DotDecoder } from '../smtp/dot-decoder.js';

export type { SMTPConnection };

/** The private members of smtp-server read or replaced here, with the runtime type each must have. */
export const SMTP_SERVER_PRIVATE_MEMBERS = [
  { owner: 'SMTPConnection', member: '_onCommand', type: 'function', use: 'replaced to see each command line first' },
  { owner: 'SMTPConnection', member: '_handlerPending', type: 'boolean', use: 'an application handler has not called back' },
  { owner: 'SMTPConnection', member: '_nextHandler', type: 'function|false', use: 'the next line continues AUTH' },
  { owner: 'SMTPConnection', member: '_dataStream', type: 'stream|false|null', use: 'the message stream from 354 to its reply' },
  { owner: 'SMTPConnection', member: '_closing', type: 'boolean', use: 'the server has ended the session' },
  { owner: 'SMTPConnection', member: '_closed', type: 'boolean', use: 'the session is over' },
  { owner: 'SMTPConnection', member: '_parser', type: 'object', use: 'the input parser, whose data mode is replaced' },
  { owner: 'SMTPConnection', member: '_createParser', type: 'function', use: 'wrapped: the parser made after STARTTLS too' },
  { owner: 'SMTPStream', member: '_feedDataStream', type: 'function', use: 'replaced by DotDecoder (data mode)' },
  { owner: 'SMTPStream', member: '_countDataBytes', type: 'function', use: 'counts message bytes for the size limit' },
  { owner: 'SMTPStream', member: '_endDataMode', type: 'function', use: 'hands the end of data back to the parser' },
  { owner: 'SMTPStream', member: '_dataStream', type: 'stream|null', use: 'where the message bytes go' },
] as const;

/** Called with every new session before smtp-server starts it, with the socket it runs on. */
export type SessionHook = (connection: SMTPConnection, socket: net.Socket | tls.TLSSocket) => void;

/**
 * smtp-server's SMTPServer whose sessions are handed to `onSession` before they start (nothing has
 * been read or sent yet), so that deadlines and reply rules attach to every one of them.
 */
export class ObservedSMTPServer extends SMTPServer {
  constructor(
    options: SMTPServerOptions,
    private readonly onSession: SessionHook,
  ) {
    super(options);
  }

  override connect(socket: net.Socket | tls.TLSSocket, socketOptions?: SMTPConnectionOptions | null): void {
    const connection = new SMTPConnection(this, socket, socketOptions);
    this.onSession(connection, socket);
    this.connections.add(connection);
    connection.on('error', (err: Error) => this.emit('error', err));
    connection.on('connect', (...data: unknown[]) => this.emit('connect', ...data));
    connection.init();
  }
}

/**
 * Run `intercept` on each command line before smtp-server handles it. `intercept` calls `handle`
 * to let smtp-server process the line (or does not, to drop it); `ready` runs once the server is
 * ready for the client's next input (the reply has been sent, or DATA's 354).
 */
export function interceptCommands(
  connection: SMTPConnection,
  intercept: (line: Buffer, handle: (ready: () => void) => void) => void,
): void {
  const original = connection._onCommand.bind(connection);
  connection._onCommand = (line, callback) =>
    intercept(line, (ready) =>
      original(line, () => {
        ready();
        callback?.();
      }),
    );
}

/** The server has ended the session (QUIT, a 421) or it is over. */
export function isClosing(connection: SMTPConnection): boolean {
  return connection._closing || connection._closed;
}

/** The message stream of the transaction, from DATA's 354 until the reply to it; else null. */
export function messageStream(connection: SMTPConnection): SMTPServerDataStream | null {
  return connection._dataStream || null;
}

/** The client is sending a message (after 354, before the final dot). */
export function receivingMessage(connection: SMTPConnection): boolean {
  const stream = messageStream(connection);
  return stream !== null && !stream.writableEnded;
}

/** The server owes the client a reply: a handler has not called back, or a received message is not answered yet. */
export function awaitsServer(connection: SMTPConnection): boolean {
  const stream = messageStream(connection);
  return connection._handlerPending || stream?.writableEnded === true;
}

/** The next line the client sends continues an AUTH exchange (a credential, not a command). */
export function expectsContinuation(connection: SMTPConnection): boolean {
  return connection._nextHandler !== false;
}

/**
 * Read this session's messages with DotDecoder instead of smtp-server's own data-mode parser (also
 * on the new parser smtp-server makes after STARTTLS). The bytes are the same; the time is linear:
 * smtp-server's parser yields to the event loop once per dot-stuffed line, so a message made of such
 * lines cost seconds of CPU. Everything else (the size count, the byte count, the end of data and
 * what follows it) goes through smtp-server's own methods, as its parser would call them.
 */
export function decodeDataLinearly(connection: SMTPConnection): void {
  if (connection._parser) feedWithDotDecoder(connection._parser);
  const create = connection._createParser.bind(connection);
  connection._createParser = () => {
    const parser = create();
    feedWithDotDecoder(parser);
    return parser;
  };
}

function feedWithDotDecoder(parser: SMTPStream): void {
  let current: { stream: SMTPServerDataStream; decoder: DotDecoder } | null = null;
  parser._feedDataStream = (chunk, done) => {
    const stream = parser._dataStream;
    if (!stream) return done();
    if (current?.stream !== stream) current = { stream, decoder: new DotDecoder() };
    const { data, rest } = current.decoder.write(chunk);
    parser._countDataBytes(data.length);
    if (rest) return parser._endDataMode(data.length > 0 ? data : false, rest, done);
    if (data.length === 0 || !stream.writable || stream.write(data) || stream.destroyed) return done();
    const resume = (): void => {
      stream.off('drain', resume).off('close', resume);
      done();
    };
    stream.on('drain', resume).on('close', resume);
  };
}
