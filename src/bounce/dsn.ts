// The RFC 3464 delivery status notification, built as bytes (CRLF). Layout follows Postfix's bounces,
// delay warnings and success reports:
//
//   multipart/report; report-type=delivery-status
//     1. text/plain            a readable explanation, one paragraph per recipient with the remote
//                              reply ("host mx.example[192.0.2.1] said: 550 5.1.1 … (in reply to
//                              RCPT TO command)") or smarthost's own reason
//     2. message/delivery-status  per message Original-Envelope-Id (the client's ENVID, when it
//                              gave one), Reporting-MTA, Arrival-Date, X-Smarthost-Queue-ID,
//                              X-Smarthost-Sender; then per recipient Original-Recipient (its
//                              ORCPT, when given), Final-Recipient, Action (failed, delayed or
//                              relayed), Status, Remote-MTA (when a server answered),
//                              Diagnostic-Code ("smtp; <reply>" for a remote reply, "X-Smarthost;
//                              <text>" for a local reason), Last-Attempt-Date, and for a delay
//                              Will-Retry-Until
//     3. the original message: the whole of it as message/rfc822 when the client asked for it
//                              (RET=FULL) in a failure report and it fits bounce.maxReturnSize
//                              (decided by the caller), else its header section as
//                              text/rfc822-headers
//
// One DSN reports one action for all its recipients. An expired recipient (given up after
// delivery.retry.maxLifetime) has Status 4.4.7 and the last reason it was deferred. Parts with 8-bit
// text say so in Content-Transfer-Encoding. A failure notice to the postmaster about a null-sender
// message (a double bounce) has its own subject and explanation, and no X-Smarthost-Sender.
import { has8bit } from '../smtp/eight-bit.js';
import { formatDate } from '../smtp/headers.js';
import { formatReply, type Reply } from '../smtp/reply.js';

/** What happened to the recipients a DSN reports on (RFC 3464 §2.3.3). */
export type ReportAction = 'failed' | 'delayed' | 'relayed';

export interface ReportedRecipient {
  readonly address: string;
  readonly reply: Reply;
  /** The reply came from the remote server (else it is smarthost's own reason). */
  readonly remote: boolean;
  readonly command?: string;
  /** Remote MTA host name and address, when a server was reached. */
  readonly relay: { readonly host: string; readonly address: string } | null;
  readonly expired: boolean;
  readonly at: number;
  /** The recipient's ORCPT, decoded ("rfc822;a@example.com"), when the client gave one. */
  readonly orcpt?: string | null;
}

export interface DsnInput {
  readonly hostname: string;
  readonly action: ReportAction;
  /** Queue ID of the message reported on. */
  readonly queueId: string;
  /** Queue ID of the DSN itself (for its Message-ID). */
  readonly dsnId: string;
  /** The message's envelope sender ("" for the null sender). */
  readonly sender: string;
  /** Who the notice goes to: the sender, or the postmaster for a null-sender message. */
  readonly to: string;
  /** The client's ENVID, decoded, when it gave one. */
  readonly envid: string | null;
  readonly arrivedAt: number;
  readonly date: number;
  readonly boundary: string;
  readonly recipients: readonly ReportedRecipient[];
  /** The original message: the whole of it (`full`), or its header section. */
  readonly returned: { readonly full: boolean; readonly data: Buffer };
  /** For a delay warning: seconds queued before warning, and when retries end (ms since the epoch). */
  readonly delay?: { readonly warnAfter: number; readonly retryUntil: number };
}

const MAX_REPLY_TEXT = 900;

const SUBJECTS: Record<ReportAction, string> = {
  failed: 'Undelivered Mail Returned to Sender',
  delayed: 'Delayed Mail (still being retried)',
  relayed: 'Successful Mail Delivery Report',
};

export function buildDsn(input: DsnInput): Buffer {
  const b = input.boundary;
  const explanation = explanationText(input);
  const { full, data } = input.returned;
  const returnedType = full ? 'message/rfc822' : 'text/rfc822-headers';
  const parts = [
    Buffer.from(headerSection(input)),
    Buffer.from('This is a MIME-encapsulated message.\r\n\r\n'),
    Buffer.from(`--${b}\r\nContent-Description: Notification\r\nContent-Type: text/plain; charset=utf-8\r\n`),
    Buffer.from(`Content-Transfer-Encoding: ${encodingOf(Buffer.from(explanation))}\r\n\r\n${explanation}\r\n`),
    Buffer.from(`--${b}\r\nContent-Description: Delivery report\r\nContent-Type: message/delivery-status\r\n\r\n`),
    Buffer.from(deliveryStatus(input)),
    Buffer.from(`--${b}\r\nContent-Description: ${returnedDescription(input.action, full)}\r\nContent-Type: ${returnedType}\r\n`),
    Buffer.from(`Content-Transfer-Encoding: ${encodingOf(data)}\r\n\r\n`),
    data,
    Buffer.from(`\r\n--${b}--\r\n`),
  ];
  return Buffer.concat(parts);
}

function headerSection(input: DsnInput): string {
  const date = new Date(input.date);
  const stamp = date.toISOString().replace(/[-:T]/g, '').slice(0, 14);
  const postmaster = input.sender === '' && input.action === 'failed';
  return [
    `From: Mail Delivery System <MAILER-DAEMON@${input.hostname}>`,
    `To: <${input.to}>`,
    `Subject: ${postmaster ? 'Postmaster Notice: Undelivered Mail' : SUBJECTS[input.action]}`,
    `Date: ${formatDate(date)}`,
    `Message-ID: <${stamp}.${input.dsnId}@${input.hostname}>`,
    'Auto-Submitted: auto-replied',
    'MIME-Version: 1.0',
    `Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary="${input.boundary}"`,
    '',
    '',
  ].join('\r\n');
}

function returnedDescription(action: ReportAction, full: boolean): string {
  if (action === 'failed') return full ? 'Undelivered Message' : 'Undelivered Message Headers';
  return action === 'delayed' ? 'Delayed Message Headers' : 'Message Headers';
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

const RELAYED = [
  'Your message was successfully delivered to the destination(s) listed',
  'below. The next mail server does not send delivery reports, so you will',
  'receive no further notice of success from it; you may still receive',
  'notifications of mail delivery errors from other systems.',
];

function delayedText(input: DsnInput): string[] {
  const delay = input.delay ?? { warnAfter: 0, retryUntil: input.date };
  return [
    '####################################################################',
    '# THIS IS A WARNING ONLY.  YOU DO NOT NEED TO RESEND YOUR MESSAGE. #',
    '####################################################################',
    '',
    `Your message could not be delivered for more than ${duration(delay.warnAfter)}.`,
    `It will be retried until ${formatDate(new Date(delay.retryUntil))}.`,
    '',
    'For further assistance, please contact your system administrator.',
  ];
}

function explanationText(input: DsnInput): string {
  const body =
    input.action === 'delayed'
      ? delayedText(input)
      : input.action === 'relayed'
        ? RELAYED
        : input.sender === ''
          ? TO_POSTMASTER
          : TO_SENDER;
  const lines = [`This is the mail system at host ${input.hostname}.`, '', ...body, '', '                   The mail system', ''];
  for (const r of input.recipients) lines.push(`<${r.address}>: ${reason(input.action, r)}`, '');
  return lines.join('\r\n');
}

function reason(action: ReportAction, r: ReportedRecipient): string {
  if (action === 'relayed' && r.relay) return `delivery via ${r.relay.host}[${r.relay.address}]: ${truncate(formatReply(r.reply))}`;
  const expired = r.expired ? 'delivery time expired; last error: ' : '';
  if (!r.remote || !r.relay) return `${expired}${truncate(r.reply.text)}`;
  const during = r.command ? ` (in reply to ${r.command === 'DATA' ? 'end of DATA' : r.command} command)` : '';
  return `${expired}host ${r.relay.host}[${r.relay.address}] said: ${truncate(formatReply(r.reply))}${during}`;
}

function deliveryStatus(input: DsnInput): string {
  const lines = [
    ...(input.envid === null ? [] : [`Original-Envelope-Id: ${input.envid}`]),
    `Reporting-MTA: dns; ${input.hostname}`,
    `Arrival-Date: ${formatDate(new Date(input.arrivedAt))}`,
    `X-Smarthost-Queue-ID: ${input.queueId}`,
    ...(input.sender === '' ? [] : [`X-Smarthost-Sender: rfc822; ${input.sender}`]),
    '',
  ];
  for (const r of input.recipients) {
    if (r.orcpt) lines.push(`Original-Recipient: ${originalRecipient(r.orcpt)}`);
    lines.push(`Final-Recipient: rfc822; ${r.address}`, `Action: ${input.action}`, `Status: ${r.expired ? '4.4.7' : r.reply.enhanced}`);
    if (r.remote && r.relay) lines.push(`Remote-MTA: dns; ${r.relay.host}`, `Diagnostic-Code: smtp; ${truncate(formatReply(r.reply))}`);
    else lines.push(`Diagnostic-Code: X-Smarthost; ${truncate(r.reply.text)}`);
    lines.push(`Last-Attempt-Date: ${formatDate(new Date(r.at))}`);
    if (input.action === 'delayed' && input.delay) lines.push(`Will-Retry-Until: ${formatDate(new Date(input.delay.retryUntil))}`);
    lines.push('');
  }
  return `${lines.join('\r\n')}\r\n`;
}

/** ORCPT's "type;address" as the field writes it: "type; address". */
function originalRecipient(orcpt: string): string {
  const semi = orcpt.indexOf(';');
  return `${orcpt.slice(0, semi)}; ${orcpt.slice(semi + 1)}`;
}

/** Seconds as the largest whole unit: "4 hour(s)", "90 second(s)". */
function duration(seconds: number): string {
  for (const [unit, size] of [
    ['day', 86_400],
    ['hour', 3600],
    ['minute', 60],
  ] as const) {
    if (seconds >= size && seconds % size === 0) return `${seconds / size} ${unit}(s)`;
  }
  return `${seconds} second(s)`;
}

function truncate(text: string): string {
  const oneLine = text.replace(/[\r\n]+/g, ' ');
  return oneLine.length > MAX_REPLY_TEXT ? `${oneLine.slice(0, MAX_REPLY_TEXT)}...` : oneLine;
}

function encodingOf(data: Buffer): '7bit' | '8bit' {
  return has8bit(data) ? '8bit' : '7bit';
}
