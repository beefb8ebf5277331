// What submission adds to a message before it is signed and spooled (RFC 6409 §8): a Received: trace
// field naming the client, the TLS version and cipher and the authenticated user if any (RFC 3848
// "ESMTPSA"; "ESMTP" or "ESMTPS" for a relay client or local user that sent without AUTH),
// and a Date:, Message-ID: and From: when the message lacks them. Trace fields go on top; the rest
// follow, and the original header section is kept byte for byte after them.
// The client's EHLO name goes into Received: with every character outside letters, digits and
// ".-_:[]" (what host names and address literals are made of) replaced by "?", as Postfix does, so
// no EHLO argument can add a comment, end the clause early or make the header 8-bit. The log
// keeps the name as sent, with backslashes and anything outside printable ASCII escaped (\u{…}).
import { formatDate, headerValues, type HeaderField } from '../smtp/headers.js';

export interface TraceInfo {
  readonly queueId: string;
  readonly hostname: string;
  readonly helo: string;
  readonly clientAddress: string;
  readonly tls: { readonly version: string; readonly cipher: string } | null;
  /** The authenticated user; null for a session that sent without AUTH (a relay client, a local user). */
  readonly user: string | null;
  readonly sender: string;
  readonly recipients: readonly string[];
  readonly date: Date;
}

export interface ParsedMessage {
  readonly header: Buffer;
  readonly body: Buffer;
  readonly fields: readonly HeaderField[];
}

export function addSubmissionHeaders(message: ParsedMessage, trace: TraceInfo): Buffer {
  const added = [receivedField(trace)];
  if (headerValues(message.fields, 'date').length === 0) added.push(`Date: ${formatDate(trace.date)}`);
  if (headerValues(message.fields, 'message-id').length === 0) added.push(`Message-ID: ${messageId(trace)}`);
  if (headerValues(message.fields, 'from').length === 0) added.push(`From: <${trace.sender}>`);
  return Buffer.concat([Buffer.from(`${added.join('\r\n')}\r\n`), message.header, Buffer.from('\r\n'), message.body]);
}

function receivedField(t: TraceInfo): string {
  const lines = [`Received: from ${safeHeloName(t.helo) || 'unknown'} (${addressLiteral(t.clientAddress)})`];
  if (t.tls) lines.push(`(using ${t.tls.version} with cipher ${t.tls.cipher})`);
  if (t.user !== null) lines.push(`(Authenticated sender: ${t.user})`);
  lines.push(`by ${t.hostname} (smarthost) with ${protocol(t)} id ${t.queueId}`);
  const forClause = t.recipients.length === 1 ? `for <${t.recipients[0]}>` : '';
  lines.push(`${forClause}; ${formatDate(t.date)}`.trimStart());
  return lines.join('\r\n\t');
}

/** RFC 3848's protocol names: ESMTP, plus S for TLS and A for AUTH. */
function protocol(t: TraceInfo): string {
  return `ESMTP${t.tls ? 'S' : ''}${t.user !== null ? 'A' : ''}`;
}

/** The EHLO name as it may appear in a Received: field. */
export function safeHeloName(helo: string): string {
  return helo.replace(/[^A-Za-z0-9.\-_:[\]]/gu, '?');
}

/** The EHLO name as logged: as sent, escaped so that it reads unambiguously. */
export function escapedHeloName(helo: string): string {
  return helo.replace(/[^\x20-\x5b\x5d-\x7e]/gu, (ch) => (ch === '\\' ? '\\\\' : `\\u{${ch.codePointAt(0)?.toString(16)}}`));
}

function addressLiteral(ip: string): string {
  return ip.includes(':') ? `[IPv6:${ip}]` : `[${ip}]`;
}

function messageId(t: TraceInfo): string {
  const stamp = t.date.toISOString().replace(/[-:T]/g, '').slice(0, 14);
  return `<${stamp}.${t.queueId}@${t.hostname}>`;
}
