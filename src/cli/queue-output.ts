// What `queue list`, `queue show` and `queue summary` print: text for people (mailq-like: one block
// per message, its recipients indented, a summary line; qshape-like for the summary) and JSON for
// programs, in the shape docs/operations.md gives.
// Listings are written as they are read, so a queue of 100,000 messages is never held as one big
// string.
import type { ListedMessage, ListedRecipient, ShownMessage } from '../spool/queue-read.js';
import { RECIPIENT_STATES, SHAPE_BUCKETS, type DomainShape, type StateCounts } from '../spool/queue-stats.js';
import { splitMessage } from '../smtp/headers.js';
import { OutputBuffer, formatAge, formatBytes, isoTime, plural } from './format.js';

export interface Summary {
  messages: number;
  bytes: number;
  recipients: StateCounts;
}

export function emptySummary(): Summary {
  return { messages: 0, bytes: 0, recipients: { queued: 0, deferred: 0, held: 0, delivered: 0, bounced: 0 } };
}

function count(summary: Summary, m: ListedMessage): void {
  summary.messages++;
  summary.bytes += m.size;
  for (const r of m.recipients) summary.recipients[r.state]++;
}

const waiting = (r: ListedRecipient): boolean => r.state === 'queued' || r.state === 'deferred';

function recipientJson(r: ListedRecipient): Record<string, unknown> {
  return {
    address: r.address,
    state: r.state,
    attempts: r.attempts,
    nextAttemptAt: waiting(r) ? isoTime(r.nextAttemptAt) : null,
    lastReply: r.lastReply,
  };
}

function messageJson(m: ListedMessage): Record<string, unknown> {
  return {
    id: m.id,
    sender: m.sender,
    size: m.size,
    createdAt: isoTime(m.createdAt),
    user: m.user,
    recipients: m.recipients.map(recipientJson),
  };
}

const indent = (text: string, by: string): string => text.replace(/\n/g, `\n${by}`);

export function printListJson(messages: Iterable<ListedMessage>): Summary {
  const out = new OutputBuffer();
  const summary = emptySummary();
  out.write('{\n  "messages": [');
  for (const m of messages) {
    out.write(`${summary.messages === 0 ? '\n' : ',\n'}    ${indent(JSON.stringify(messageJson(m), null, 2), '    ')}`);
    count(summary, m);
  }
  out.write(`${summary.messages === 0 ? '' : '\n  '}],\n  "summary": ${indent(JSON.stringify(summary, null, 2), '  ')}\n}\n`);
  out.flush();
  return summary;
}

export function printListText(messages: Iterable<ListedMessage>, now: number): Summary {
  const out = new OutputBuffer();
  const summary = emptySummary();
  for (const m of messages) {
    const user = m.user === null ? '' : `  (user ${m.user})`;
    out.write(`${m.id}  ${formatAge(now - m.createdAt)}  ${formatBytes(m.size)}  ${m.sender === '' ? '<>' : m.sender}${user}\n`);
    for (const r of m.recipients) out.write(`  ${r.state.padEnd(9)} ${r.address}${recipientDetail(r, now)}\n`);
    out.write('\n');
    count(summary, m);
  }
  out.write(`-- ${summaryText(summary)}\n`);
  out.flush();
  return summary;
}

function recipientDetail(r: ListedRecipient, now: number): string {
  const parts: string[] = [];
  if (r.attempts > 0) parts.push(plural(r.attempts, 'attempt'));
  if (waiting(r)) parts.push(r.nextAttemptAt <= now ? 'due now' : `next in ${formatAge(r.nextAttemptAt - now)}`);
  const detail = parts.length > 0 ? `  (${parts.join(', ')})` : '';
  return r.lastReply && r.state !== 'delivered' ? `${detail}: ${r.lastReply}` : detail;
}

export function summaryText(s: Summary): string {
  const states = RECIPIENT_STATES.map((state) => `${s.recipients[state]} ${state}`).join(', ');
  return `${plural(s.messages, 'message')}, ${formatBytes(s.bytes)}; recipients: ${states}`;
}

export interface ShowOptions {
  readonly headers?: boolean;
  readonly body?: boolean;
}

export function showJson(m: ShownMessage, options: ShowOptions): unknown {
  const recipients = m.recipients.map((r) => ({
    ...recipientJson(r),
    lastMx: r.lastMx,
    history: r.history.map((a) => ({
      at: isoTime(a.at),
      outcome: a.outcome,
      mxHost: a.mxHost,
      mxAddress: a.mxAddress,
      tls: a.tls,
      reply: a.reply,
    })),
  }));
  const content = messageContent(m, options);
  return {
    id: m.id,
    kind: m.kind,
    sender: m.sender,
    user: m.user,
    clientAddress: m.clientAddress,
    size: m.size,
    createdAt: isoTime(m.createdAt),
    doneAt: isoTime(m.doneAt),
    recipients,
    ...(content === undefined ? {} : { [options.body ? 'message' : 'headers']: content }),
  };
}

export function showText(m: ShownMessage, options: ShowOptions, now: number): string {
  const client = m.clientAddress ? `, client ${m.clientAddress}` : '';
  const lines = [
    `message ${m.id}${m.kind === 'bounce' ? ' (delivery status notification)' : ''}`,
    `  sender:  ${m.sender === '' ? '<>' : m.sender}${m.user ? ` (user ${m.user}${client})` : ''}`,
    `  arrived: ${isoTime(m.createdAt)} (${formatAge(now - m.createdAt)} ago)`,
    `  size:    ${m.size} bytes`,
    `  status:  ${m.doneAt === null ? 'in the queue' : `finished ${isoTime(m.doneAt)}`}`,
    'recipients:',
  ];
  for (const r of m.recipients) {
    lines.push(`  ${r.address}: ${r.state}${recipientDetail(r, now)}`);
    for (const a of r.history) {
      const via = a.mxHost ? ` via ${a.mxHost}[${a.mxAddress ?? ''}]${a.tls && a.tls !== 'none' ? ` (${a.tls})` : ''}` : '';
      lines.push(`    ${isoTime(a.at)} ${a.outcome}${via}: ${a.reply ?? ''}`);
    }
  }
  const content = messageContent(m, options);
  if (content !== undefined) lines.push('', content.replace(/\r\n/g, '\n').replace(/\n$/, ''));
  return `${lines.join('\n')}\n`;
}

/** The header section (--headers) or the whole message (--body), when asked for. */
function messageContent(m: ShownMessage, options: ShowOptions): string | undefined {
  if (!options.headers && !options.body) return undefined;
  if (!m.body) return '(the message body was removed when the message was finished)';
  return (options.body ? m.body : splitMessage(m.body).header).toString('utf8');
}

/** `queue summary --json`: the buckets' upper bounds in minutes (the last bucket is everything older). */
export function shapeJson(shape: readonly DomainShape[]): unknown {
  const total = totalShape(shape);
  return {
    buckets: [...SHAPE_BUCKETS.map(String), `${SHAPE_BUCKETS.at(-1)}+`],
    total: { recipients: total.recipients, byAge: total.byAge },
    domains: shape.map((d) => ({ domain: d.domain, recipients: d.recipients, byAge: d.byAge })),
  };
}

/** `queue summary` as qshape prints it: a TOTAL row, then one row per domain, right-aligned columns. */
export function shapeText(shape: readonly DomainShape[]): string {
  const header = ['', 'T', ...SHAPE_BUCKETS.map(String), `${SHAPE_BUCKETS.at(-1)}+`];
  const rows = [totalShape(shape), ...shape].map((d) => [d.domain, String(d.recipients), ...d.byAge.map(String)]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string => cells.map((c, i) => c.padStart(widths[i] ?? 0)).join(' ');
  return `${[header, ...rows].map(line).join('\n')}\n`;
}

function totalShape(shape: readonly DomainShape[]): DomainShape {
  const byAge = SHAPE_BUCKETS.map(() => 0).concat(0);
  for (const d of shape) {
    d.byAge.forEach((n, i) => {
      byAge[i] = (byAge[i] ?? 0) + n;
    });
  }
  return { domain: 'TOTAL', recipients: byAge.reduce((a, b) => a + b, 0), byAge };
}
