// Turning a failed SMTP step into a Reply value. When the server said something (a 4xx/5xx reply),
// that reply is the outcome; when it did not (refused connection, timeout, reset, TLS failure), a
// local reply in Postfix's wording says what happened, with RFC 3463 codes: 4.4.1 no answer from host,
// 4.4.2 bad connection, 4.7.5 TLS failure, 4.5.0 protocol error. Local failures are always temporary.
import { reply, type Reply } from '../smtp/reply.js';
import { parseRemoteReply } from './remote-reply.js';
import type { Relay } from './types.js';

/** The fields of a nodemailer error that matter here. */
export interface SmtpFailure {
  readonly message?: string;
  readonly code?: string;
  readonly originalCode?: string;
  readonly timeoutType?: string;
  readonly response?: string;
  readonly command?: string;
}

export interface DescribedFailure {
  readonly reply: Reply;
  readonly remote: boolean;
  readonly command?: string;
}

/** "mx.example[192.0.2.1]", as Postfix names a host in its replies and logs. */
export function hostName(relay: Pick<Relay, 'host' | 'address'>): string {
  return `${relay.host}[${relay.address}]`;
}

export function relayName(relay: Relay): string {
  return `${hostName(relay)}:${relay.port}`;
}

export function describeFailure(err: SmtpFailure, relay: Relay, during: string): DescribedFailure {
  const command = err.command && err.command !== 'CONN' && err.command !== 'API' ? err.command : undefined;
  const remote = typeof err.response === 'string' ? parseRemoteReply(err.response) : null;
  if (remote && remote.code >= 400) return { reply: remote, remote: true, command: command ?? during };
  return { reply: localReply(err, relay, command ?? during), remote: false, command: command ?? during };
}

function localReply(err: SmtpFailure, relay: Relay, during: string): Reply {
  const host = hostName(relay);
  const cause = err.originalCode ?? '';
  if (err.code === 'ETIMEDOUT') {
    if (err.timeoutType === 'CONNECT_TIMEOUT') return reply(451, '4.4.1', `connect to ${relayName(relay)}: Connection timed out`);
    if (err.timeoutType === 'UPGRADE_TIMEOUT') return reply(451, '4.7.5', `TLS handshake with ${host} timed out`);
    return reply(451, '4.4.2', `conversation with ${host} timed out while ${during}`);
  }
  if (cause === 'ECONNREFUSED') return reply(451, '4.4.1', `connect to ${relayName(relay)}: Connection refused`);
  if (cause === 'EHOSTUNREACH' || cause === 'ENETUNREACH') return reply(451, '4.4.1', `connect to ${relayName(relay)}: No route to host`);
  if (err.code === 'ETLS') return reply(451, '4.7.5', `TLS failure with ${host}: ${firstLine(err.message)}`);
  if (err.code === 'EPROTOCOL') return reply(451, '4.5.0', `protocol error with ${host} while ${during}: ${firstLine(err.message)}`);
  return reply(451, '4.4.2', `lost connection with ${host} while ${during}${cause ? ` (${cause})` : ''}`);
}

function firstLine(text: string | undefined): string {
  return (text ?? 'unknown error').split('\n')[0] ?? '';
}
