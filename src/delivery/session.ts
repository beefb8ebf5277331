// One SMTP client connection to one destination address: TCP connect, greeting, EHLO with our
// hostname, STARTTLS as the attempt's TLS policy says, then any number of transactions while the
// connection stays healthy. nodemailer's SMTPConnection speaks the protocol; what it keeps private
// is read through nodemailer-adapter.ts.
//
// TLS policy (a parameter of each session, Postfix's smtp_tls_security_level): 'none' never sends
// STARTTLS; 'may' uses it when offered (a refused STARTTLS command continues in plaintext) without
// enforcing certificates, recording whether the chain and name verified; 'encrypt' has no session
// without TLS (STARTTLS not offered, refused or a failed handshake all fail the session). Whether a
// failed handshake is retried in plaintext is the caller's decision (deliver.ts).
//
// Timeouts, each bounding its own stage only (Postfix's smtp_*_timeout):
//   connect   the TCP connection (smtp_connect_timeout)
//   greeting  each set-up step: the 220 greeting, the EHLO reply, the STARTTLS reply and the TLS
//             handshake (smtp_helo_timeout, smtp_starttls_timeout)
//   command   each reply after set-up: MAIL FROM, RCPT TO, DATA, and silence while the message is
//             sent (smtp_mail_timeout, smtp_rcpt_timeout, smtp_data_init/xfer_timeout)
//   data      the reply after the end of the message data (smtp_data_done_timeout)
//
// Failures come back as values (Trouble: where it happened, and the server's reply or the cause);
// reply-policy.ts turns them into replies and recipient outcomes.
import net from 'node:net';
import type { TLSSocket } from 'node:tls';
import { PassThrough } from 'node:stream';
import type { Destination } from './destinations.js';
import {
  activeSocket,
  announcedExtensions,
  createClient,
  envelopeReplies,
  setReplyTimeout,
  type EnvelopeReplies,
  type SMTPConnection,
} from './nodemailer-adapter.js';
import type { Relay, TlsInfo } from './types.js';

export type TlsPolicy = 'none' | 'may' | 'encrypt';

export interface SessionTimeouts {
  readonly connect: number;
  readonly greeting: number;
  readonly command: number;
  readonly data: number;
}

export interface SessionOptions {
  readonly destination: Destination;
  /** EHLO name. */
  readonly hostname: string;
  /** Milliseconds. */
  readonly timeouts: SessionTimeouts;
  readonly tls: TlsPolicy;
}

/** Where in the conversation something happened. */
export type Stage = 'connect' | 'greeting' | 'ehlo' | 'starttls' | 'mail' | 'rcpt' | 'data' | 'message' | 'end-of-data';

/** Why a step failed, when the server's own reply is not the whole story. */
export type Cause = 'reply' | 'refused' | 'unreachable' | 'timeout' | 'lost' | 'tls' | 'protocol' | 'too-big';

/** Something that went wrong, as the session saw it. */
export interface Trouble {
  readonly stage: Stage;
  readonly cause: Cause;
  /** The server's reply, when it said something ("421 4.3.2 closing"). */
  readonly response?: string;
  /** A system or library detail (ECONNRESET, the TLS library's message …). */
  readonly detail?: string;
}

export interface Envelope {
  readonly from: string;
  readonly to: readonly string[];
  readonly size: number;
  readonly use8BitMime: boolean;
  /** Send the SMTPUTF8 parameter (the server must have offered it). */
  readonly smtputf8: boolean;
  /** DSN parameters to add (the server must have offered DSN): to MAIL FROM, and to RCPT TO by address. */
  readonly dsn?: { readonly mail: string; readonly rcpt: ReadonlyMap<string, string> };
}

/** What the server answered in one transaction. */
export interface TransactionResult extends EnvelopeReplies {
  /** The reply to the end of data (2xx: taken for every accepted recipient), when it came. */
  readonly dataReply: string | null;
  /** What ended the transaction before that reply; null when the server answered the message. */
  readonly trouble: Trouble | null;
}

export type Opened = { readonly ok: true; readonly session: SmtpSession } | { readonly ok: false; readonly trouble: Trouble };

/** The fields of a nodemailer error that matter here. */
interface ClientError {
  readonly message?: string;
  readonly code?: string;
  readonly originalCode?: string;
  readonly response?: string;
  readonly command?: string;
}

const STAGE_OF_COMMAND: ReadonlyArray<[RegExp, Stage]> = [
  [/^(EHLO|HELO|LHLO) /i, 'ehlo'],
  [/^STARTTLS/i, 'starttls'],
  [/^MAIL FROM:/i, 'mail'],
  [/^RCPT TO:/i, 'rcpt'],
  [/^DATA/i, 'data'],
];

export class SmtpSession {
  readonly openedAt = Date.now();
  private ended = false;
  private readonly endListeners: Array<() => void> = [];
  private inFlight: ((err: ClientError | null, response?: string) => void) | null = null;
  private current: Envelope | null = null;
  private stage: Stage = 'greeting';
  private lastError: ClientError = { code: 'ECONNECTION', message: 'connection closed' };
  private connection!: SMTPConnection;

  private constructor(
    readonly relay: Relay,
    private readonly timeouts: SessionTimeouts,
  ) {}

  /** Connect through greeting, EHLO and STARTTLS; a failure says where and why. */
  static async open(options: SessionOptions): Promise<Opened> {
    const { destination: d, timeouts } = options;
    const connected = await connectSocket(d, timeouts.connect);
    if (!connected.ok) return connected;
    const session = new SmtpSession(d, timeouts);
    return session.start(connected.socket, options);
  }

  private start(socket: net.Socket, options: SessionOptions): Promise<Opened> {
    const servername = net.isIP(options.destination.host) === 0 ? options.destination.host : undefined;
    const starttls = options.tls === 'encrypt' ? 'required' : options.tls;
    this.connection = createClient({
      socket,
      name: options.hostname,
      servername,
      starttls,
      stepTimeout: this.timeouts.greeting,
      onCommand: (line) => this.onCommand(line),
    });
    const connection = this.connection;
    return new Promise((resolve) => {
      let settled = false;
      const fail = (err: ClientError): void => {
        if (settled) return;
        settled = true;
        resolve({ ok: false, trouble: this.troubleOf(err) });
        connection.close();
      };
      connection.on('error', fail);
      connection.once('end', () => setImmediate(() => fail({ code: 'ECONNECTION', message: 'connection closed' })));
      connection.connect((err) => {
        if (err) return fail(err);
        if (settled) return;
        settled = true;
        connection.removeAllListeners('error');
        connection.removeAllListeners('end');
        this.watch();
        setReplyTimeout(connection, this.timeouts.command);
        resolve({ ok: true, session: this });
      });
    });
  }

  /** After set-up: keep the last error, so that a transaction cut short ends with it. */
  private watch(): void {
    this.connection.on('error', (err: ClientError) => (this.lastError = err));
    this.connection.once('end', () => {
      this.ended = true;
      // nodemailer hangs up before it calls back with the reply that ended the transaction (a
      // 421, say): let its callback come first, so the server's own words are kept.
      const inFlight = this.inFlight;
      if (inFlight) setImmediate(() => inFlight(this.lastError));
      for (const listener of this.endListeners.splice(0)) listener();
    });
  }

  private onCommand(line: string): string {
    const stage = STAGE_OF_COMMAND.find(([pattern]) => pattern.test(line))?.[1];
    if (stage && !(this.pipelined && (stage === 'rcpt' || stage === 'data'))) this.stage = stage;
    if (stage === 'mail' && this.current?.smtputf8 && !/ SMTPUTF8(\s|$)/i.test(line)) line = `${line} SMTPUTF8`;
    const dsn = this.current?.dsn;
    if (dsn && stage === 'mail') return `${line}${dsn.mail}`;
    if (dsn && stage === 'rcpt') return `${line}${dsn.rcpt.get(/^RCPT TO:<(.*)>/i.exec(line)?.[1] ?? '') ?? ''}`;
    return line;
  }

  private get pipelined(): boolean {
    return this.current !== null && this.supports('PIPELINING');
  }

  get tls(): TlsInfo | null {
    const socket = activeSocket(this.connection);
    if (!this.connection.secure || !socket) return null;
    const tls = socket as TLSSocket;
    return { version: tls.getProtocol() ?? 'TLS', cipher: tls.getCipher()?.name ?? 'unknown', verified: tls.authorized };
  }

  get usable(): boolean {
    const socket = activeSocket(this.connection);
    return !this.ended && !!socket && !socket.destroyed && socket.writable;
  }

  supports(extension: string): boolean {
    return announcedExtensions(this.connection).includes(extension);
  }

  onEnd(listener: () => void): void {
    if (this.ended) listener();
    else this.endListeners.push(listener);
  }

  /** One transaction. Never rejects: failures come back as values. */
  send(envelope: Envelope, body: Buffer): Promise<TransactionResult> {
    return new Promise((resolve) => {
      const finish = (err: ClientError | null, response?: string): void => {
        if (this.inFlight !== finish) return;
        this.inFlight = null;
        resolve(this.resultOf(envelope, err, response ?? null));
        this.current = null;
        if (!this.ended) setReplyTimeout(this.connection, this.timeouts.command);
      };
      this.inFlight = finish;
      this.current = envelope;
      if (this.ended) return finish({ code: 'ECONNECTION', message: 'connection closed' });
      const message = new PassThrough();
      message.once('resume', () => (this.stage = 'message'));
      message.once('end', () => {
        this.stage = 'end-of-data';
        setReplyTimeout(this.connection, this.timeouts.data);
      });
      message.end(body);
      const to = [...envelope.to];
      this.connection.send({ from: envelope.from, to, size: envelope.size, use8BitMime: envelope.use8BitMime }, message, (err, info) =>
        finish(err ?? null, info?.response),
      );
    });
  }

  private resultOf(envelope: Envelope, err: ClientError | null, response: string | null): TransactionResult {
    const replies = envelopeReplies(this.connection);
    if (!err) return { ...replies, dataReply: response, trouble: null };
    const trouble = this.troubleOf(err, envelope.to.length, replies);
    const dataReply = trouble.stage === 'end-of-data' && trouble.response ? trouble.response : null;
    return { ...replies, dataReply, trouble };
  }

  private troubleOf(err: ClientError, recipients = 0, replies?: EnvelopeReplies): Trouble {
    const stage = this.failedStage(err, recipients, replies);
    const response = typeof err.response === 'string' && /^[45]\d\d/.test(err.response) ? err.response : undefined;
    const detail = err.originalCode ?? err.message?.split('\n')[0];
    if (stage === 'starttls' || err.code === 'ETLS') return { stage: 'starttls', cause: 'tls', response, detail };
    if (response) return { stage, cause: 'reply', response };
    if (err.code === 'ETIMEDOUT') return { stage, cause: 'timeout' };
    if (err.code === 'EMESSAGE' && err.command === 'MAIL FROM') return { stage: 'mail', cause: 'too-big', detail: err.message };
    if (err.code === 'EPROTOCOL') return { stage, cause: 'protocol', detail };
    return { stage, cause: 'lost', ...(err.originalCode ? { detail: err.originalCode } : {}) };
  }

  /** The stage a failure interrupted; in a pipelined envelope, judged by the replies that came. */
  private failedStage(err: ClientError, recipients: number, replies?: EnvelopeReplies): Stage {
    if (err.command === 'MAIL FROM' && (err.response || err.code === 'EMESSAGE')) return 'mail';
    if (err.command === 'RCPT TO' && err.response) return 'rcpt';
    if (err.command === 'DATA' && err.code === 'EMESSAGE') return 'end-of-data';
    if (err.command === 'DATA' && err.response) return 'data';
    if (this.stage !== 'mail' || !replies || !this.supports('PIPELINING')) return this.stage;
    const answered = replies.accepted.length + replies.refused.size;
    if (answered === 0 && !replies.mailRefused) return 'mail';
    const lastRcptReply = err.response !== undefined && [...replies.refused.values()].includes(err.response);
    return answered < recipients || lastRcptReply ? 'rcpt' : 'data';
  }

  /** Polite close: QUIT, then the socket. */
  quit(): void {
    if (this.usable) this.connection.quit();
    else this.connection.close();
  }

  close(): void {
    this.connection.close();
  }
}

/** The TCP connection, bounded by the connect timeout. */
function connectSocket(d: Destination, timeoutMs: number): Promise<{ ok: true; socket: net.Socket } | { ok: false; trouble: Trouble }> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: d.address, port: d.port });
    const done = (result: { ok: true; socket: net.Socket } | { ok: false; trouble: Trouble }): void => {
      clearTimeout(timer);
      socket.removeListener('error', onError);
      if (!result.ok) socket.destroy();
      resolve(result);
    };
    const onError = (err: NodeJS.ErrnoException): void => {
      const code = err.code ?? '';
      const cause = code === 'ECONNREFUSED' ? 'refused' : code === 'EHOSTUNREACH' || code === 'ENETUNREACH' ? 'unreachable' : 'lost';
      done({ ok: false, trouble: { stage: 'connect', cause, detail: code || err.message } });
    };
    const timer = setTimeout(() => done({ ok: false, trouble: { stage: 'connect', cause: 'timeout' } }), timeoutMs);
    socket.once('error', onError);
    socket.once('connect', () => done({ ok: true, socket }));
  });
}
