// Everything delivery needs from nodemailer's SMTP client beyond its documented API, in one place:
// this is the only module allowed to touch the library's private (underscore) members. Each one used
// is listed in NODEMAILER_PRIVATE_MEMBERS with the type it must have; the accessors check that type
// at run time and throw NodemailerContractError naming the member, and
// test/unit/nodemailer-adapter.test.ts checks every one on a real connection, so an upgrade of
// nodemailer that renames or retypes one fails loudly instead of misreading a server.
//
// Public options do most of the work. The TCP connection is made by the caller and handed over
// (`connection`), so nodemailer's connectionTimeout, which caps the whole set-up (the greeting and
// STARTTLS get only what is left of it), is no longer the connect timeout: it is set to the sum of
// every set-up step's own bound (SETUP_STEPS × the step timeout), so it never cuts a step short and
// each step is bounded by its own timer (greetingTimeout for the greeting and the TLS handshake,
// socketTimeout for each reply). What has no public API:
//  - which extensions the server announced (SMTPUTF8, 8BITMIME, DSN, PIPELINING): _supportedExtensions;
//  - the per-recipient replies of a transaction that failed after RCPT: _envelope;
//  - the socket in use, which after STARTTLS is nodemailer's own TLS socket: _socket (TLS facts,
//    and the reply timeout, changed between stages: the end of data gets its own bound);
//  - the command lines sent: _sendCommand is wrapped, to add the SMTPUTF8 parameter to MAIL FROM
//    (nodemailer adds it only for non-ASCII addresses, not for a message with UTF-8 headers) and to
//    see which step a failure interrupted (the STARTTLS handshake among them);
//  - replies that arrive together with the server's hang-up: nodemailer reads one queued reply per
//    turn of the event loop but handles the socket's close at once, so a server that answers a
//    pipelined batch ("250, 250, 421") and closes straight away (as Postfix's smtpd does after a
//    421) would have its replies dropped for a bare "connection closed". _onClose is wrapped to let
//    the queued replies (_responseQueue) be read first.
import type net from 'node:net';
import type { TLSSocket } from 'node:tls';
import SMTPConnection from 'nodemailer/lib/smtp-connection';

export type { SMTPConnection };

/** The private members of nodemailer's SMTPConnection read or wrapped here, with the type each must have. */
export const NODEMAILER_PRIVATE_MEMBERS = [
  { member: '_supportedExtensions', type: 'array', use: 'the extensions the server announced in its EHLO reply' },
  { member: '_envelope', type: 'object|false', use: 'per-recipient replies of the transaction in progress or just failed' },
  { member: '_socket', type: 'socket|false|null', use: 'the socket in use (the TLS socket after STARTTLS)' },
  { member: '_sendCommand', type: 'function', use: 'wrapped to see and amend each command line sent' },
  { member: '_onClose', type: 'function', use: 'wrapped so that replies received before a hang-up are read first' },
  { member: '_responseQueue', type: 'array', use: 'the replies received and not yet read' },
] as const;

export type PrivateMember = (typeof NODEMAILER_PRIVATE_MEMBERS)[number]['member'];

/** nodemailer changed a private member smarthost relies on (see NODEMAILER_PRIVATE_MEMBERS). */
export class NodemailerContractError extends Error {
  constructor(
    readonly member: PrivateMember,
    detail: string,
  ) {
    super(`nodemailer's SMTPConnection.${member} is not what smarthost expects (${detail}): update src/delivery/nodemailer-adapter.ts`);
    this.name = 'NodemailerContractError';
  }
}

/** Set-up steps bounded one by one: greeting, EHLO, STARTTLS, TLS handshake, EHLO again, and one spare. */
const SETUP_STEPS = 6;

export interface ClientOptions {
  /** An already connected socket; nodemailer takes it over. */
  readonly socket: net.Socket;
  /** EHLO name. */
  readonly name: string;
  /** Server name for SNI and certificate checks (the MX host name), when it is not an address. */
  readonly servername: string | undefined;
  /** 'none': never STARTTLS; 'may': STARTTLS when offered; 'required': no session without TLS. */
  readonly starttls: 'none' | 'may' | 'required';
  /** Milliseconds each set-up step may take: the greeting, each set-up reply, the TLS handshake. */
  readonly stepTimeout: number;
  /** Called with every command line before it is sent; returns the line to send. */
  readonly onCommand: (line: string) => string;
}

/** A client on an open socket; call connect() to read the greeting and run EHLO and STARTTLS. */
export function createClient(options: ClientOptions): SMTPConnection {
  const { starttls, servername } = options;
  const connection = new SMTPConnection({
    connection: options.socket,
    name: options.name,
    servername,
    ignoreTLS: starttls === 'none',
    opportunisticTLS: starttls === 'may',
    requireTLS: starttls === 'required',
    tls: { rejectUnauthorized: false, ...(servername ? { servername } : {}) },
    connectionTimeout: SETUP_STEPS * options.stepTimeout,
    greetingTimeout: options.stepTimeout,
    socketTimeout: options.stepTimeout,
    socketCloseTimeout: 1000,
    logger: false,
  });
  wrapSendCommand(connection, options.onCommand);
  readRepliesBeforeClose(connection);
  return connection;
}

interface Internals {
  _supportedExtensions?: unknown;
  _envelope?: unknown;
  _socket?: unknown;
  _sendCommand?: unknown;
  _onClose?: unknown;
  _responseQueue?: unknown;
}

function internals(connection: SMTPConnection): Internals {
  return connection as unknown as Internals;
}

function wrapSendCommand(connection: SMTPConnection, onCommand: (line: string) => string): void {
  const self = internals(connection);
  const original = self._sendCommand;
  if (typeof original !== 'function') throw new NodemailerContractError('_sendCommand', `a ${typeof original}, not a function`);
  self._sendCommand = function (this: SMTPConnection, line: unknown, logLine?: unknown) {
    return original.call(this, typeof line === 'string' ? onCommand(line) : line, logLine);
  };
}

function readRepliesBeforeClose(connection: SMTPConnection): void {
  const self = internals(connection);
  const original = self._onClose;
  if (typeof original !== 'function') throw new NodemailerContractError('_onClose', `a ${typeof original}, not a function`);
  self._onClose = function (this: SMTPConnection) {
    let left = -1;
    const handleClose = (): void => {
      const queue = self._responseQueue;
      if (!Array.isArray(queue)) throw new NodemailerContractError('_responseQueue', 'not an array');
      // nodemailer reads one reply per turn; wait while that makes progress, then handle the close
      if (!connection.destroyed && queue.length > 0 && queue.length !== left) {
        left = queue.length;
        setImmediate(handleClose);
        return;
      }
      original.call(this);
    };
    handleClose();
  };
}

/** The extensions the server announced after EHLO (upper case: "SMTPUTF8", "8BITMIME", "DSN" …). */
export function announcedExtensions(connection: SMTPConnection): readonly string[] {
  const value = internals(connection)._supportedExtensions;
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string'))
    throw new NodemailerContractError('_supportedExtensions', 'not an array of strings');
  return value;
}

/** What the server answered so far in the current (or last, failed) transaction. */
export interface EnvelopeReplies {
  /** Recipients the server accepted at RCPT TO. */
  readonly accepted: readonly string[];
  /** Recipients the server refused at RCPT TO, with its reply. */
  readonly refused: ReadonlyMap<string, string>;
  /** The server's reply when it refused MAIL FROM. */
  readonly mailRefused: string | null;
}

interface ReplyError {
  readonly recipient?: unknown;
  readonly response?: unknown;
}

export function envelopeReplies(connection: SMTPConnection): EnvelopeReplies {
  const state = internals(connection)._envelope;
  if (state === false || state === undefined || state === null) return { accepted: [], refused: new Map(), mailRefused: null };
  if (typeof state !== 'object') throw new NodemailerContractError('_envelope', `a ${typeof state}, not an object or false`);
  const { accepted, rejectedErrors, mailError } = state as { accepted?: unknown; rejectedErrors?: unknown; mailError?: ReplyError };
  if (!Array.isArray(accepted) || !Array.isArray(rejectedErrors))
    throw new NodemailerContractError('_envelope', 'no accepted and rejectedErrors arrays');
  const refused = new Map<string, string>();
  for (const err of rejectedErrors as ReplyError[]) {
    if (typeof err.recipient === 'string' && typeof err.response === 'string') refused.set(err.recipient, err.response);
  }
  const mailRefused = typeof mailError?.response === 'string' ? mailError.response : null;
  return { accepted: accepted.filter((a): a is string => typeof a === 'string'), refused, mailRefused };
}

/** The socket nodemailer reads and writes now: the one handed over, or its TLS socket after STARTTLS. */
export function activeSocket(connection: SMTPConnection): net.Socket | TLSSocket | null {
  const socket = internals(connection)._socket;
  if (socket === false || socket === null || socket === undefined) return null;
  if (typeof socket !== 'object' || typeof (socket as net.Socket).setTimeout !== 'function')
    throw new NodemailerContractError('_socket', 'not a socket');
  return socket as net.Socket;
}

/** Bound the wait for the next reply (inactivity) to `ms`; nodemailer fails the connection with ETIMEDOUT. */
export function setReplyTimeout(connection: SMTPConnection, ms: number): void {
  activeSocket(connection)?.setTimeout(ms);
}
