// From what a server answered in one transaction to one outcome per recipient: a recipient refused
// at RCPT gets its own reply; the others share the final reply (or the failure that ended the
// transaction). The status follows the reply's class: 2xx delivered, 4xx deferred, 5xx bounced;
// failures without a server reply are deferred (except a message larger than the server's SIZE,
// which is bounced with 5.3.4 before it is sent, as Postfix does).
import { isPermanent, isTransient, reply, type Reply } from '../smtp/reply.js';
import { describeFailure, hostName, type DescribedFailure, type SmtpFailure } from './failure.js';
import { parseRemoteReply } from './remote-reply.js';
import type { SendResult } from './session.js';
import type { Outcome, OutcomeStatus, Relay, TlsInfo } from './types.js';

export function statusOf(r: Reply): OutcomeStatus {
  if (isPermanent(r)) return 'bounced';
  if (isTransient(r)) return 'deferred';
  return 'delivered';
}

export function transactionOutcomes(recipients: readonly string[], result: SendResult, relay: Relay, tls: TlsInfo | null): Outcome[] {
  const shared = result.ok ? accepted(result.response) : transactionFailure(result, relay);
  return recipients.map((recipient) => {
    const refusal = result.rejected.get(recipient);
    const said = refusal ? describeFailure(refusal, relay, 'RCPT TO') : shared;
    return { recipient, status: statusOf(said.reply), reply: said.reply, remote: said.remote, command: said.command, relay, tls };
  });
}

function accepted(response: string): DescribedFailure {
  const parsed = parseRemoteReply(response);
  return { reply: parsed && parsed.code < 300 ? parsed : reply(250, '2.0.0', response.trim() || 'Ok'), remote: true, command: 'DATA' };
}

function transactionFailure(result: Extract<SendResult, { ok: false }>, relay: Relay): DescribedFailure {
  const err: SmtpFailure = result.error;
  if (err.code === 'EMESSAGE' && !err.response && err.command === 'MAIL FROM') {
    const limit = reply(552, '5.3.4', `message size exceeds the fixed limit of ${hostName(relay)}`);
    return { reply: limit, remote: false, command: 'MAIL FROM' };
  }
  return describeFailure(err, relay, result.accepted.length > 0 ? 'sending message data' : 'sending the envelope');
}
