// Deadlines that keep a slow or idle client from holding a session forever, on top of smtp-server's
// idle timeout (limits.socketTimeout, which any byte resets, so a client dripping one byte at a time
// would never meet it). As with Postfix's smtpd_per_request_deadline and smtpd_min_data_rate:
//  - a command line must be complete within limits.commandTimeout seconds of the reply before it;
//  - the message must be complete within limits.dataTimeout seconds of the 354 reply, plus one
//    second for every limits.minDataRate bytes received so far (0: no extension);
//  - more than limits.junkCommandLimit NOOP/RSET/VRFY/HELP/ETRN commands since the last DATA end
//    the session;
//  - after limits.maxErrors refusals (4xx and 5xx replies, except 452 4.5.3 for recipients past
//    limits.maxRecipients, which a client is told to send in the next transaction) without a
//    message accepted in between, the next command gets 421 4.7.0 (Postfix's
//    smtpd_hard_error_limit).
// Past a deadline the client gets 421 4.4.2 and is disconnected. Time the server spends deciding
// (a handler that has not answered yet) never counts against the client. One timer per session.
import type net from 'node:net';
import type tls from 'node:tls';
import { Replies } from '../smtp/replies.js';
import { replyText, type Reply } from '../smtp/reply.js';
import {
  awaitsServer,
  expectsContinuation,
  interceptCommands,
  isClosing,
  messageStream,
  receivingMessage,
  type SMTPConnection,
} from './smtp-server-adapter.js';

export interface SessionGuardSettings {
  readonly commandTimeoutMs: number;
  readonly dataTimeoutMs: number;
  /** Bytes per second that extend the DATA deadline; 0 for none. */
  readonly minDataRate: number;
  readonly junkCommandLimit: number;
  readonly maxErrors: number;
  /** Our hostname, for the 421 that ends a session after too many errors. */
  readonly hostname: string;
}

export type GuardEvent = 'command_timeout' | 'data_timeout' | 'junk_commands' | 'too_many_errors';

const JUNK = new Set(['NOOP', 'RSET', 'VRFY', 'HELP', 'ETRN', 'EXPN']);

export function guardSession(
  connection: SMTPConnection,
  socket: net.Socket | tls.TLSSocket,
  settings: SessionGuardSettings,
  onEvent: (event: GuardEvent) => void,
): void {
  let timer: NodeJS.Timeout | undefined;
  let dataStart = 0;
  let junk = 0;
  let errors = 0;

  const end = (event: GuardEvent, reply: Reply): void => {
    clearTimeout(timer);
    if (isClosing(connection)) return;
    onEvent(event);
    connection.send(reply.code, replyText(reply), false);
  };

  const arm = (ms: number): void => {
    clearTimeout(timer);
    timer = setTimeout(fire, Math.max(ms, 1));
    timer.unref();
  };
  const fire = (): void => {
    if (awaitsServer(connection)) return arm(settings.commandTimeoutMs);
    if (!receivingMessage(connection)) return end('command_timeout', Replies.timeout);
    const bytes = messageStream(connection)?.byteLength ?? 0;
    const allowed = settings.dataTimeoutMs + (settings.minDataRate > 0 ? (bytes * 1000) / settings.minDataRate : 0);
    const left = dataStart + allowed - Date.now();
    if (left > 0) return arm(left);
    end('data_timeout', Replies.timeout);
  };
  /** The server is ready for the client's next request (a command line, or the message). */
  const awaitClient = (): void => {
    const message = receivingMessage(connection) ? messageStream(connection) : null;
    if (message) {
      dataStart = Date.now();
      junk = 0;
      message.once('end', () => arm(settings.commandTimeoutMs));
      return arm(settings.dataTimeoutMs);
    }
    arm(settings.commandTimeoutMs);
  };

  const send = connection.send.bind(connection);
  connection.send = (code, data, context) => {
    if (code === 250 && context === 'DATA_OK') errors = 0;
    else if (code >= 400 && code !== 421 && context !== 'TOO_MANY_RECIPIENTS') errors++;
    send(code, data, context);
  };

  interceptCommands(connection, (line, handle) => {
    clearTimeout(timer);
    if (!expectsContinuation(connection) && errors >= settings.maxErrors) {
      return end('too_many_errors', Replies.tooManyErrors(settings.hostname));
    }
    const name = line.subarray(0, 5).toString('latin1').trim().toUpperCase();
    if (!expectsContinuation(connection) && JUNK.has(name) && ++junk > settings.junkCommandLimit) {
      return end('junk_commands', Replies.tooManyJunkCommands);
    }
    handle(awaitClient);
  });
  socket.once('close', () => clearTimeout(timer));
  awaitClient();
}
