// The submission listeners: smtp-server instances for `listen.submission` (port 587, STARTTLS) and
// `listen.submissions` (port 465, implicit TLS), TLS 1.2 or newer, AUTH PLAIN/LOGIN required before
// MAIL FROM; and `listen.relay` (plain SMTP, STARTTLS offered, AUTH optional: relay-clients.ts).
// SubmissionServer reads every session's messages with the linear DATA decoder (src/smtp/dot-decoder.ts)
// and applies smarthost's reply rules to every connection:
//  - a reply whose text already starts with an enhanced status code (our Reply values) is sent as is,
//    instead of smtp-server adding its own generic code in front;
//  - AUTH before STARTTLS gets 538 5.7.11 (RFC 4954), and AUTH is not advertised before TLS, as
//    Postfix does with smtpd_tls_auth_only.
import type net from 'node:net';
import type { SMTPServerOptions } from 'smtp-server';
import { parseEndpoint } from '../config/schema.js';
import type { SubmissionGuards } from './guards.js';
import type { RelayClients } from './relay-clients.js';
import type { Logger } from '../platform/logger.js';
import { Replies } from '../smtp/replies.js';
import { hasEnhancedCode, replyText } from '../smtp/reply.js';
import { decodeDataLinearly, ObservedSMTPServer, type SessionHook, type SMTPConnection } from './smtp-server-adapter.js';

/** Called with every new connection before it starts (the per-session deadlines attach here). */
export type ConnectionHook = SessionHook;

export class SubmissionServer extends ObservedSMTPServer {
  constructor(options: SMTPServerOptions, onConnection: ConnectionHook = () => undefined) {
    super(options, (connection, socket) => {
      decodeDataLinearly(connection);
      applyReplyRules(connection);
      onConnection(connection, socket);
    });
  }
}

function applyReplyRules(connection: SMTPConnection): void {
  const send = connection.send.bind(connection);
  connection.send = (code, data, context) => {
    if (typeof data === 'string' && hasEnhancedCode(data)) return send(code, data, false);
    if (code === 538) return send(code, replyText(Replies.encryptionRequired), false);
    if (code === 250 && Array.isArray(data) && !connection.secure) {
      return send(
        code,
        data.filter((line) => !line.startsWith('AUTH ')),
        context,
      );
    }
    return send(code, data, context);
  };
}

/** 587 (STARTTLS, AUTH), 465 (implicit TLS, AUTH), relay (relay clients by address, AUTH optional). */
export type ListenerKind = 'submission' | 'submissions' | 'relay';

export interface BoundListener {
  readonly kind: ListenerKind;
  readonly address: string;
  readonly port: number;
  readonly server: SubmissionServer;
  /** The abuse guards shared by every listener (set by startSubmission). */
  readonly guards?: SubmissionGuards;
  /** The relay client table, on relay listeners (replaced on reload). */
  readonly relayClients?: RelayClients;
}

export async function startListener(
  kind: ListenerKind,
  endpoint: string,
  options: SMTPServerOptions,
  logger: Logger,
  onConnection?: ConnectionHook,
): Promise<BoundListener> {
  const server = new SubmissionServer({ ...options, secure: kind === 'submissions' }, onConnection);
  server.on('error', (err) => logger.warn({ err, listener: kind }, 'submission connection error'));
  const { host, port } = parseEndpoint(endpoint);
  await new Promise<void>((resolve, reject) => {
    server.server.once('error', reject);
    server.listen(port, host, () => {
      server.server.off('error', reject);
      resolve();
    });
  });
  const bound = server.server.address() as net.AddressInfo;
  logger.info({ listener: kind, address: bound.address, port: bound.port }, 'listening');
  return { kind, address: bound.address, port: bound.port, server };
}
