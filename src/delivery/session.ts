// One SMTP client connection to one destination address, on nodemailer's SMTPConnection: connect,
// greeting, EHLO with our hostname, STARTTLS whenever it is offered (opportunistic: certificates are
// not enforced, but whether the chain and name verified is recorded), then any number of
// transactions while the connection stays healthy. Timeouts: connect, greeting (which also bounds
// the STARTTLS handshake), command (inactivity while waiting for any reply) and data (the whole
// transaction, MAIL FROM to the final reply). A STARTTLS command the server refuses continues in
// plaintext; a failed TLS handshake fails the connection (it is not retried in plaintext).
//
// nodemailer keeps two facts private that delivery needs: which extensions the server announced
// (SMTPUTF8) and the per-recipient bookkeeping of a transaction that failed after RCPT. They are read
// here, in one place, through narrow types (`internals`).
import { isIP } from 'node:net';
import type { TLSSocket } from 'node:tls';
import SMTPConnection from 'nodemailer/lib/smtp-connection';
import type { Destination } from './destinations.js';
import { describeFailure, type DescribedFailure, type SmtpFailure } from './failure.js';
import type { Relay, TlsInfo } from './types.js';

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
}

export interface Envelope {
  readonly from: string;
  readonly to: readonly string[];
  readonly size: number;
  readonly use8BitMime: boolean;
}

/** What the server answered in a transaction: per-recipient RCPT refusals and the final reply. */
export type SendResult =
  | { readonly ok: true; readonly response: string; readonly rejected: ReadonlyMap<string, SmtpFailure> }
  | {
      readonly ok: false;
      readonly error: SmtpFailure;
      readonly accepted: readonly string[];
      readonly rejected: ReadonlyMap<string, SmtpFailure>;
    };

interface RejectedError extends SmtpFailure {
  readonly recipient?: string;
}

interface Internals {
  _supportedExtensions?: string[];
  _envelope?: { accepted?: string[]; rejectedErrors?: RejectedError[] } | false;
}

function internals(connection: SMTPConnection): Internals {
  return connection as unknown as Internals;
}

export class SmtpSession {
  readonly openedAt = Date.now();
  private ended = false;
  private readonly endListeners: Array<() => void> = [];
  private inFlight: ((err: SmtpFailure | null) => void) | null = null;

  private constructor(
    private readonly connection: SMTPConnection,
    readonly relay: Relay,
    readonly tls: TlsInfo | null,
    private readonly dataTimeout: number,
  ) {
    // nodemailer emits 'error', then closes ('end'), then fails the transaction: keep the error so
    // the transaction in flight ends with it rather than with a bare "connection closed".
    let lastError: SmtpFailure = { code: 'ECONNECTION', message: 'connection closed' };
    connection.on('error', (err: SmtpFailure) => (lastError = err));
    connection.once('end', () => {
      this.ended = true;
      this.inFlight?.(lastError);
      for (const listener of this.endListeners.splice(0)) listener();
    });
  }

  /** Connect through greeting, EHLO and STARTTLS; a failure says why, as a reply. */
  static open(options: SessionOptions): Promise<{ ok: true; session: SmtpSession } | { ok: false; failure: DescribedFailure }> {
    const { destination: d, timeouts } = options;
    const relay: Relay = d;
    const servername = isIP(d.host) === 0 ? d.host : undefined;
    const connection = new SMTPConnection({
      host: d.address,
      port: d.port,
      name: options.hostname,
      servername,
      opportunisticTLS: true,
      tls: { rejectUnauthorized: false, ...(servername ? { servername } : {}) },
      connectionTimeout: timeouts.connect,
      greetingTimeout: timeouts.greeting,
      socketTimeout: timeouts.command,
      socketCloseTimeout: 1000,
      logger: false,
    });
    return new Promise((resolve) => {
      let failed = false;
      const fail = (err: SmtpFailure): void => {
        if (failed) return;
        failed = true;
        resolve({ ok: false, failure: describeFailure(err, relay, 'connecting') });
        connection.close();
      };
      connection.on('error', fail);
      connection.once('end', () => fail({ code: 'ECONNECTION', message: 'connection closed' }));
      connection.connect((err) => {
        connection.removeAllListeners('error');
        connection.removeAllListeners('end');
        if (err) return fail(err);
        resolve({ ok: true, session: new SmtpSession(connection, relay, tlsOf(connection), timeouts.data) });
      });
    });
  }

  get usable(): boolean {
    const socket = this.connection._socket;
    return !this.ended && !!socket && !socket.destroyed && socket.writable;
  }

  supports(extension: string): boolean {
    return internals(this.connection)._supportedExtensions?.includes(extension) ?? false;
  }

  onEnd(listener: () => void): void {
    if (this.ended) listener();
    else this.endListeners.push(listener);
  }

  /** One transaction. Never rejects: failures come back as values. */
  send(envelope: Envelope, body: Buffer): Promise<SendResult> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        finish({ code: 'ETIMEDOUT', timeoutType: 'DATA_TIMEOUT', message: 'transaction timed out' });
        this.close();
      }, this.dataTimeout);
      const finish = (err: SmtpFailure | null, info?: { response: string; rejectedErrors?: RejectedError[] }): void => {
        if (this.inFlight !== finish) return;
        this.inFlight = null;
        clearTimeout(timer);
        resolve(
          err || !info ? this.failed(err ?? {}) : { ok: true, response: info.response, rejected: byRecipient(info.rejectedErrors ?? []) },
        );
      };
      this.inFlight = finish;
      if (this.ended) return finish({ code: 'ECONNECTION', message: 'connection closed' });
      const nodemailerEnvelope = { from: envelope.from, to: [...envelope.to], size: envelope.size, use8BitMime: envelope.use8BitMime };
      this.connection.send(nodemailerEnvelope, body, (err, info) => finish(err ?? null, info));
    });
  }

  private failed(error: SmtpFailure): SendResult {
    const state = internals(this.connection)._envelope;
    return {
      ok: false,
      error,
      accepted: state ? [...(state.accepted ?? [])] : [],
      rejected: byRecipient(state ? (state.rejectedErrors ?? []) : []),
    };
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

function byRecipient(errors: readonly RejectedError[]): ReadonlyMap<string, SmtpFailure> {
  return new Map(errors.filter((e) => e.recipient !== undefined).map((e) => [e.recipient ?? '', e]));
}

function tlsOf(connection: SMTPConnection): TlsInfo | null {
  if (!connection.secure || !connection._socket) return null;
  const socket = connection._socket as TLSSocket;
  return { version: socket.getProtocol() ?? 'TLS', cipher: socket.getCipher()?.name ?? 'unknown', verified: socket.authorized };
}
