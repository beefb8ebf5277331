// Which MAIL FROM and RCPT TO parameters submission accepts: exactly those of the extensions the
// EHLO reply advertises (RFC 5321 §4.1.1.11), anything else gets `555 5.5.4 Unsupported option`
// as from Postfix. smtp-server has already split the parameters, decoded their xtext, refused
// duplicates and control characters, and checked SIZE, BODY, SMTPUTF8, RET (FULL or HDRS) and
// NOTIFY (NEVER alone, or SUCCESS, FAILURE, DELAY); what is left to check here is which names are
// allowed and the values it does not know, as Postfix checks them (501 5.5.4 Bad … parameter
// syntax): ENVID printable ASCII of at most 100 characters, ORCPT "addr-type;address" of at most
// 500 (printable ASCII; UTF-8 too for the utf-8 address type of RFC 6533).
//   MAIL: SIZE (RFC 1870), BODY (8BITMIME), SMTPUTF8, AUTH (RFC 4954 §5: accepted and ignored,
//         as the session's own login is what counts), RET and ENVID (DSN, RFC 3461).
//   RCPT: NOTIFY and ORCPT (DSN).
// dsnOf() collects what was given, for the spool.
import type { SMTPServerAddress, SMTPServerSession } from 'smtp-server';
import { NO_MESSAGE_DSN, NO_RECIPIENT_DSN, parseNotify, retFromText, type MessageDsn, type RecipientDsn } from '../smtp/dsn-parameters.js';
import { SmtpError } from '../smtp/errors.js';
import { Replies } from '../smtp/replies.js';

const MAIL_PARAMETERS = new Set(['SIZE', 'BODY', 'SMTPUTF8', 'AUTH', 'RET', 'ENVID']);
const RCPT_PARAMETERS = new Set(['NOTIFY', 'ORCPT']);
const MAX_ENVID = 100;
const MAX_ORCPT = 500;

type Args = Readonly<Record<string, string | boolean>>;

function argsOf(address: SMTPServerAddress): Args {
  return address.args === false ? {} : address.args;
}

/** The error to answer MAIL FROM with, or null when its parameters are acceptable. */
export function checkMailParameters(address: SMTPServerAddress): SmtpError | null {
  const args = argsOf(address);
  const unsupported = unsupportedIn(args, MAIL_PARAMETERS);
  if (unsupported) return unsupported;
  if (args['AUTH'] !== undefined && !isPrintableAscii(args['AUTH'])) return badSyntax('AUTH');
  const envid = args['ENVID'];
  if (envid !== undefined && !(isPrintableAscii(envid) && envid.length <= MAX_ENVID)) return badSyntax('ENVID');
  return null;
}

/** The error to answer RCPT TO with, or null when its parameters are acceptable. */
export function checkRcptParameters(address: SMTPServerAddress): SmtpError | null {
  const args = argsOf(address);
  const unsupported = unsupportedIn(args, RCPT_PARAMETERS);
  if (unsupported) return unsupported;
  const orcpt = args['ORCPT'];
  if (orcpt !== undefined && !isOrcpt(orcpt)) return badSyntax('ORCPT');
  return null;
}

/** The DSN parameters of the transaction: per message, and per recipient (by address as given). */
export function dsnOf(session: SMTPServerSession): { message: MessageDsn; recipient: (address: SMTPServerAddress) => RecipientDsn } {
  const given = session.envelope.dsn;
  return {
    message: given && (given.ret || given.envid) ? { ret: retFromText(given.ret), envid: given.envid } : NO_MESSAGE_DSN,
    recipient: (address) =>
      address.dsn ? { notify: parseNotify(address.dsn.notify), orcpt: address.dsn.orcpt ?? null } : NO_RECIPIENT_DSN,
  };
}

function unsupportedIn(args: Args, allowed: ReadonlySet<string>): SmtpError | null {
  for (const [name, value] of Object.entries(args)) {
    if (allowed.has(name)) continue;
    const shown = value === true ? name : `${name}=${String(value)}`;
    return new SmtpError('SMARTHOST_E_UNSUPPORTED_PARAMETER', Replies.unsupportedOption(shown));
  }
  return null;
}

function badSyntax(name: string): SmtpError {
  return new SmtpError('SMARTHOST_E_SYNTAX', Replies.badParameter(name));
}

/** Graphic US-ASCII characters and space, at least one (what an xtext value may decode to). */
function isPrintableAscii(value: string | boolean | undefined): value is string {
  return typeof value === 'string' && /^[\x20-\x7e]+$/.test(value);
}

/** "addr-type;address": an atom, then an address printable in that type. */
function isOrcpt(value: string | boolean): boolean {
  if (typeof value !== 'string' || value.length > MAX_ORCPT) return false;
  const match = /^([A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+);(.+)$/.exec(value);
  if (!match) return false;
  const [, type = '', address = ''] = match;
  return type.toLowerCase() === 'utf-8' ? !/[\x00-\x1f\x7f]/.test(address) : isPrintableAscii(address);
}
