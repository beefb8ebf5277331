// Which MAIL FROM and RCPT TO parameters submission accepts: exactly those of the extensions the
// EHLO reply advertises (RFC 5321 §4.1.1.11), anything else gets `555 5.5.4 Unsupported option`
// as from Postfix. smtp-server has already split the parameters, decoded their xtext and checked
// the values of SIZE, BODY and SMTPUTF8 (and refused duplicates and control characters); what is
// left to check here is which names are allowed and the values it does not know.
//   MAIL: SIZE (RFC 1870), BODY (8BITMIME), SMTPUTF8, AUTH (RFC 4954 §5: accepted and ignored,
//         as the session's own login is what counts).
//   RCPT: none.
import type { SMTPServerAddress } from 'smtp-server';
import { SmtpError } from '../smtp/errors.js';
import { Replies } from '../smtp/replies.js';

const MAIL_PARAMETERS = new Set(['SIZE', 'BODY', 'SMTPUTF8', 'AUTH']);
const RCPT_PARAMETERS = new Set<string>();

type Args = Readonly<Record<string, string | boolean>>;

function argsOf(address: SMTPServerAddress): Args {
  const args: unknown = address.args;
  return typeof args === 'object' && args !== null ? (args as Args) : {};
}

/** The error to answer MAIL FROM with, or null when its parameters are acceptable. */
export function checkMailParameters(address: SMTPServerAddress): SmtpError | null {
  const args = argsOf(address);
  const unsupported = unsupportedIn(args, MAIL_PARAMETERS);
  if (unsupported) return unsupported;
  if (args['AUTH'] !== undefined && !isPrintableAscii(args['AUTH'])) return badSyntax('AUTH');
  return null;
}

/** The error to answer RCPT TO with, or null when its parameters are acceptable. */
export function checkRcptParameters(address: SMTPServerAddress): SmtpError | null {
  return unsupportedIn(argsOf(address), RCPT_PARAMETERS);
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
export function isPrintableAscii(value: string | boolean | undefined): value is string {
  return typeof value === 'string' && /^[\x20-\x7e]+$/.test(value);
}
