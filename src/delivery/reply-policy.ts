// Delivery error policy, in one place (Postfix's smtp_trouble.c): what each server reply, or its
// absence, means for each recipient of an attempt.
//
// Replies. A remote reply is read into a Reply value (a missing enhanced status code becomes X.0.0
// of the reply's class; one whose class contradicts the reply code takes the reply code's class).
// When the server said nothing (refused or lost connection, timeout, failed TLS), a local reply in
// Postfix's wording says what happened and where: 4.4.1 no answer from host, 4.4.2 bad connection
// or timeout, 4.7.5 TLS failure, 4.5.0 protocol error. Local failures are always temporary.
//
// Verdicts. A recipient is delivered only when the server accepted it at RCPT TO and then answered
// the end of data with 2xx. A 5xx reply that concerns the recipient bounces it. Anything else is
// temporary: the recipient is kept for the next server of the attempt, or deferred when this server
// is the final one (the last address, or the last session the attempt may open). Which reply
// concerns a recipient:
//   - a refused MAIL FROM decides for every recipient; replies to the commands sent after it (the
//     503 "need MAIL command" a pipelining server gives each RCPT TO) decide nothing;
//   - its own RCPT TO reply, when it was refused there;
//   - for an accepted recipient, the reply to DATA or to the end of data, or what ended the
//     transaction (the server's own reply, such as a 421, when it gave one);
//   - a recipient the server never answered for is temporary, whatever else was said.
// Set-up failures (connect, greeting, EHLO, TLS) concern every recipient and are always temporary,
// even a 5xx greeting (as Postfix's smtp_skip_5xx_greeting): the next server is tried.
import { formatReply, isPermanent, isPositive, isTransient, reply, type Reply } from '../smtp/reply.js';
import type { Cause, Stage, TransactionResult, Trouble } from './session.js';
import type { OutcomeStatus, Relay } from './types.js';

/** A reply and where it came from: the remote server (and the command it answered) or smarthost. */
export interface Said {
  readonly reply: Reply;
  readonly remote: boolean;
  readonly command?: string;
}

/** delivered and bounced are final; kept goes to the next server; deferred waits for a retry. */
export type VerdictStatus = OutcomeStatus | 'kept';

export interface Verdict {
  readonly status: VerdictStatus;
  readonly said: Said;
}

const LINE = /^(\d{3})(?:[ -](.*))?$/;
const ENHANCED = /^([245])\.(\d{1,3}\.\d{1,3})(?:\s+|$)/;

/** "250 2.0.0 Ok" (continuation lines joined with "\n") as a Reply; null when it is not a final reply. */
export function parseRemoteReply(text: string): Reply | null {
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== '');
  const first = LINE.exec(lines[0]?.trim() ?? '');
  if (!first) return null;
  const code = Number(first[1]);
  if (code < 200 || code > 599 || (code >= 300 && code < 400)) return null;
  const klass = String(code)[0];
  const texts = lines.map((l) => (LINE.exec(l.trim())?.[2] ?? l).trim());
  const enhanced = ENHANCED.exec(texts[0] ?? '');
  const detail = enhanced ? `${klass}.${enhanced[2]}` : `${klass}.0.0`;
  const rest = texts
    .map((t) => t.replace(ENHANCED, ''))
    .join(' ')
    .trim();
  return reply(code, detail, rest);
}

/** The outcome a final reply stands for: 2xx delivered, 5xx bounced, anything else deferred. */
export function statusOf(r: Reply): OutcomeStatus {
  if (isPermanent(r)) return 'bounced';
  if (isPositive(r)) return 'delivered';
  return 'deferred';
}

/** "mx.example[192.0.2.1]", as Postfix names a host in its replies and logs. */
export function hostName(relay: Pick<Relay, 'host' | 'address'>): string {
  return `${relay.host}[${relay.address}]`;
}

export function relayName(relay: Relay): string {
  return `${hostName(relay)}:${relay.port}`;
}

const DURING: Record<Stage, string> = {
  connect: 'connecting',
  greeting: 'receiving the initial server greeting',
  ehlo: 'performing the EHLO handshake',
  starttls: 'performing the STARTTLS handshake',
  mail: 'sending MAIL FROM',
  rcpt: 'sending RCPT TO',
  data: 'sending DATA command',
  message: 'sending message body',
  'end-of-data': 'sending end of data -- message may be sent more than once',
};

const COMMAND: Partial<Record<Stage, string>> = {
  ehlo: 'EHLO',
  starttls: 'STARTTLS',
  mail: 'MAIL FROM',
  rcpt: 'RCPT TO',
  data: 'DATA',
  message: 'DATA',
  'end-of-data': 'DATA',
};

const CONNECT_FAILURE: Partial<Record<Cause, string>> = {
  refused: 'Connection refused',
  unreachable: 'No route to host',
  timeout: 'Connection timed out',
};

/** What a failure means as a reply: the server's own, or smarthost's description of what happened. */
export function describe(trouble: Trouble, relay: Relay): Said {
  const command = COMMAND[trouble.stage];
  const remote = trouble.response ? parseRemoteReply(trouble.response) : null;
  if (remote && trouble.cause !== 'tls') return { reply: remote, remote: true, ...(command ? { command } : {}) };
  return { reply: localReply(trouble, relay, remote), remote: false, ...(command ? { command } : {}) };
}

function localReply(t: Trouble, relay: Relay, said: Reply | null): Reply {
  const host = hostName(relay);
  const during = DURING[t.stage];
  if (t.stage === 'connect')
    return reply(451, '4.4.1', `connect to ${relayName(relay)}: ${CONNECT_FAILURE[t.cause] ?? t.detail ?? 'failed'}`);
  switch (t.cause) {
    case 'tls':
      if (said) return reply(451, '4.7.4', `TLS is required, but host ${host} refused to start TLS: ${formatReply(said)}`);
      return reply(451, '4.7.5', `TLS with ${host} failed: ${t.detail ?? 'handshake failure'}`);
    case 'timeout':
      return reply(451, '4.4.2', `conversation with ${host} timed out while ${during}`);
    case 'protocol':
      return reply(451, '4.5.0', `protocol error with ${host} while ${during}${t.detail ? `: ${t.detail}` : ''}`);
    case 'too-big':
      return reply(552, '5.3.4', `message size exceeds the fixed limit of ${host}`);
    default:
      return reply(451, '4.4.2', `lost connection with ${host} while ${during}${t.detail ? ` (${t.detail})` : ''}`);
  }
}

/** A temporary problem: the next server gets the recipient, unless this one is the final server. */
function temporary(said: Said, final: boolean): Verdict {
  return { status: final ? 'deferred' : 'kept', said };
}

/** A reply that decides a recipient's fate: 5xx bounces, 2xx delivers, the rest is temporary. */
function decided(said: Said, final: boolean): Verdict {
  const status = statusOf(said.reply);
  return status === 'deferred' ? temporary(said, final) : { status, said };
}

/** A remote reply text, or a protocol error when it is not a reply smarthost can read. */
function remoteSaid(text: string, command: string, relay: Relay): Said {
  const parsed = parseRemoteReply(text);
  if (parsed && (isTransient(parsed) || isPermanent(parsed) || command === 'DATA')) return { reply: parsed, remote: true, command };
  const unexpected = reply(451, '4.5.0', `protocol error: host ${hostName(relay)} said "${text.split('\n')[0]}" in reply to ${command}`);
  return { reply: unexpected, remote: false, command };
}

/** One verdict per recipient of a transaction, in the order given. */
export function transactionVerdicts(recipients: readonly string[], result: TransactionResult, relay: Relay, final: boolean): Verdict[] {
  const { trouble } = result;
  if (result.mailRefused !== null || trouble?.stage === 'mail') {
    const said = result.mailRefused !== null ? remoteSaid(result.mailRefused, 'MAIL FROM', relay) : describe(trouble as Trouble, relay);
    return recipients.map(() => decided(said, final));
  }
  const accepted = new Set(result.accepted);
  return recipients.map((recipient) => {
    const refusal = result.refused.get(recipient);
    if (refusal !== undefined) return decided(remoteSaid(refusal, 'RCPT TO', relay), final);
    if (!accepted.has(recipient)) return temporary(unanswered(trouble, relay), final);
    if (result.dataReply !== null) return decided(remoteSaid(result.dataReply, 'DATA', relay), final);
    const said = trouble ? describe(trouble, relay) : unanswered(null, relay);
    return trouble?.stage === 'data' ? decided(said, final) : temporary(said, final);
  });
}

function unanswered(trouble: Trouble | null, relay: Relay): Said {
  if (trouble) return describe(trouble, relay);
  const text = `protocol error: host ${hostName(relay)} did not answer for this recipient`;
  return { reply: reply(451, '4.5.0', text), remote: false, command: 'RCPT TO' };
}

/** The refusal for a message that needs SMTPUTF8 when the server does not offer it (RFC 6531 §3.2). */
export function smtputf8NotOffered(relay: Relay): Said {
  return { reply: reply(550, '5.6.7', `SMTPUTF8 is required, but was not offered by host ${hostName(relay)}`), remote: false };
}

/** The refusal for an 8-bit message that cannot be converted for a server without 8BITMIME. */
export function conversionImpossible(relay: Relay, why: string): Said {
  const text = `host ${hostName(relay)} does not offer 8BITMIME and the message cannot be converted to 7bit: ${why}`;
  return { reply: reply(554, '5.6.3', text), remote: false };
}

/** A TLS failure at a domain known to do TLS: no plaintext fallback (the TLS memory). 4.7.4 or 4.7.5. */
export function tlsRemembered(failure: Said, domain: string, seenAt: number): Said {
  const enhanced = failure.reply.enhanced === '4.7.4' ? '4.7.4' : '4.7.5';
  const text = `${failure.reply.text}; not retrying without TLS: ${domain} accepted mail over TLS on ${new Date(seenAt).toISOString()}`;
  return { reply: reply(451, enhanced, text), remote: false, ...(failure.command ? { command: failure.command } : {}) };
}
