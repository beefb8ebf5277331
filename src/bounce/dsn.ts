// The RFC 3464 delivery status notification, built as bytes (CRLF). Layout follows Postfix's bounces:
//
//   multipart/report; report-type=delivery-status
//     1. text/plain            a readable explanation, one paragraph per failed recipient with the
//                              remote reply ("host mx.example[192.0.2.1] said: 550 5.1.1 … (in reply
//                              to RCPT TO command)") or smarthost's own reason
//     2. message/delivery-status  per-message fields (Reporting-MTA, X-Smarthost-Queue-ID,
//                              X-Smarthost-Sender, Arrival-Date), then per recipient Final-Recipient,
//                              Action: failed, Status, Remote-MTA (when a server answered),
//                              Diagnostic-Code ("smtp; <reply>" for a remote reply, "X-Smarthost;
//                              <text>" for a local reason) and Last-Attempt-Date
//     3. text/rfc822-headers   the original message's header section
//
// An expired recipient (given up after delivery.retry.maxLifetime) has Status 4.4.7 and the last
// reason it was deferred. Parts with 8-bit text say so in Content-Transfer-Encoding.
// A notice to the postmaster about a null-sender message (a double bounce) has its own subject and
// explanation, and no X-Smarthost-Sender (there is none).
import { has8bit } from '../smtp/eight-bit.js';
import { formatDate } from '../smtp/headers.js';
import { formatReply, type Reply } from '../smtp/reply.js';

export interface FailedRecipient {
  readonly address: string;
  readonly reply: Reply;
  /** The reply came from the remote server (else it is smarthost's own reason). */
  readonly remote: boolean;
  readonly command?: string;
  /** Remote MTA host name and address, when a server was reached. */
  readonly relay: { readonly host: string; readonly address: string } | null;
  readonly expired: boolean;
  readonly at: number;
}

export interface DsnInput {
  readonly hostname: string;
  /** Queue ID of the message that failed. */
  readonly queueId: string;
  /** Queue ID of the DSN itself (for its Message-ID). */
  readonly dsnId: string;
  /** The failed message's envelope sender ("" for the null sender). */
  readonly sender: string;
  /** Who the notice goes to: the sender, or the postmaster for a null-sender message. */
  readonly to: string;
  readonly arrivedAt: number;
  readonly date: number;
  readonly boundary: string;
  readonly recipients: readonly FailedRecipient[];
  readonly originalHeader: Buffer;
}

const MAX_REPLY_TEXT = 900;

export function buildDsn(input: DsnInput): Buffer {
  const b = input.boundary;
  const explanation = explanationText(input);
  const parts = [
    Buffer.from(headerSection(input)),
    Buffer.from('This is a MIME-encapsulated message.\r\n\r\n'),
    Buffer.from(`--${b}\r\nContent-Description: Notification\r\nContent-Type: text/plain; charset=utf-8\r\n`),
    Buffer.from(`Content-Transfer-Encoding: ${encodingOf(Buffer.from(explanation))}\r\n\r\n${explanation}\r\n`),
    Buffer.from(`--${b}\r\nContent-Description: Delivery report\r\nContent-Type: message/delivery-status\r\n\r\n`),
    Buffer.from(deliveryStatus(input)),
    Buffer.from(`--${b}\r\nContent-Description: Undelivered Message Headers\r\nContent-Type: text/rfc822-headers\r\n`),
    Buffer.from(`Content-Transfer-Encoding: ${encodingOf(input.originalHeader)}\r\n\r\n`),
    input.originalHeader,
    Buffer.from(`\r\n--${b}--\r\n`),
  ];
  return Buffer.concat(parts);
}

function headerSection(input: DsnInput): string {
  const date = new Date(input.date);
  const stamp = date.toISOString().replace(/[-:T]/g, '').slice(0, 14);
  return [
    `From: Mail Delivery System <MAILER-DAEMON@${input.hostname}>`,
    `To: <${input.to}>`,
    `Subject: ${input.sender === '' ? 'Postmaster Notice: Undelivered Mail' : 'Undelivered Mail Returned to Sender'}`,
    `Date: ${formatDate(date)}`,
    `Message-ID: <${stamp}.${input.dsnId}@${input.hostname}>`,
    'Auto-Submitted: auto-replied',
    'MIME-Version: 1.0',
    `Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary="${input.boundary}"`,
    '',
    '',
  ].join('\r\n');
}

const TO_SENDER = [
  "I'm sorry to have to inform you that your message could not",
  'be delivered to one or more recipients. Its headers are attached below.',
  '',
  'For further assistance, please contact your system administrator.',
];

const TO_POSTMASTER = [
  'A message with the null sender (a delivery status notification, or a',
  'bounce relayed for an application) could not be delivered to one or more',
  'recipients, and there is no sender to return it to. Its headers are',
  'attached below.',
];

function explanationText(input: DsnInput): string {
  const lines = [
    `This is the mail system at host ${input.hostname}.`,
    '',
    ...(input.sender === '' ? TO_POSTMASTER : TO_SENDER),
    '',
    '                   The mail system',
    '',
  ];
  for (const r of input.recipients) lines.push(`<${r.address}>: ${reason(r)}`, '');
  return lines.join('\r\n');
}

function reason(r: FailedRecipient): string {
  const expired = r.expired ? 'delivery time expired; last error: ' : '';
  if (!r.remote || !r.relay) return `${expired}${truncate(r.reply.text)}`;
  const during = r.command ? ` (in reply to ${r.command === 'DATA' ? 'end of DATA' : r.command} command)` : '';
  return `${expired}host ${r.relay.host}[${r.relay.address}] said: ${truncate(formatReply(r.reply))}${during}`;
}

function deliveryStatus(input: DsnInput): string {
  const lines = [
    `Reporting-MTA: dns; ${input.hostname}`,
    `X-Smarthost-Queue-ID: ${input.queueId}`,
    ...(input.sender === '' ? [] : [`X-Smarthost-Sender: rfc822; ${input.sender}`]),
    `Arrival-Date: ${formatDate(new Date(input.arrivedAt))}`,
    '',
  ];
  for (const r of input.recipients) {
    lines.push(`Final-Recipient: rfc822; ${r.address}`, 'Action: failed', `Status: ${r.expired ? '4.4.7' : r.reply.enhanced}`);
    if (r.remote && r.relay) lines.push(`Remote-MTA: dns; ${r.relay.host}`, `Diagnostic-Code: smtp; ${truncate(formatReply(r.reply))}`);
    else lines.push(`Diagnostic-Code: X-Smarthost; ${truncate(r.reply.text)}`);
    lines.push(`Last-Attempt-Date: ${formatDate(new Date(r.at))}`, '');
  }
  return `${lines.join('\r\n')}\r\n`;
}

function truncate(text: string): string {
  const oneLine = text.replace(/[\r\n]+/g, ' ');
  return oneLine.length > MAX_REPLY_TEXT ? `${oneLine.slice(0, MAX_REPLY_TEXT)}...` : oneLine;
}

function encodingOf(data: Buffer): '7bit' | '8bit' {
  return has8bit(data) ? '8bit' : '7bit';
}
