// The header From: check. A user may put only their own addresses in From: (the address a reader
// sees), just as in MAIL FROM. Exactly one From: field holding exactly one mailbox is accepted; a
// group, several mailboxes, or a From: without a usable address is refused, because each of those
// lets a reader's mail program show an address this relay never checked. A missing From: is not an
// error: the envelope sender is added (RFC 6409 §8.1), and it was checked at MAIL FROM.
//
// A display name may say anything in plain sight ("ceo@bank.com" <me@mine.example> is fine: the
// reader sees both). What is refused is what makes some program read or show another address than
// the one checked: the shapes mailbox-syntax.ts finds (a second <address>, an unquoted address
// before the <address>, text after it, a source route, unbalanced syntax), control and
// bidirectional characters (a NUL or an override that cuts or reverses what is shown), an
// encoded-word in the address itself or an "@" in its local part (Mailsploit), and an encoded-word
// display name that decodes to an address or angle brackets (an address hidden from filters).
import libmime from 'libmime';
import addressparser from 'nodemailer/lib/addressparser';
import { parseAddress } from '../smtp/address.js';
import { headerValues, type HeaderField } from '../smtp/headers.js';
import { CONTROL_OR_BIDI, scanMailbox } from '../smtp/mailbox-syntax.js';
import { isSenderAllowed } from './sender-policy.js';

export type FromCheck = { readonly ok: true; readonly address: string | null } | { readonly ok: false; readonly reason: string };

export function checkHeaderFrom(fields: readonly HeaderField[], allowed: readonly string[]): FromCheck {
  const values = headerValues(fields, 'from');
  if (values.length === 0) return { ok: true, address: null };
  if (values.length > 1) return { ok: false, reason: 'more than one From: field' };
  const value = values[0] ?? '';
  const trick = findTrick(value);
  if (trick) return { ok: false, reason: trick };
  const entries = addressparser(value);
  const [entry] = entries;
  if (entries.length !== 1 || entry === undefined) return { ok: false, reason: 'must hold exactly one address' };
  if (entry.group !== undefined) return { ok: false, reason: 'group syntax is not allowed' };
  const parsed = parseAddress(entry.address);
  if (!parsed) return { ok: false, reason: 'no valid address' };
  if (parsed.local.includes('@') || parsed.local.includes('=?'))
    return { ok: false, reason: 'the address hides another address in its local part' };
  if (hidesAddress(entry.name)) return { ok: false, reason: 'an encoded display name hides an address or a control character' };
  if (!isSenderAllowed(allowed, entry.address)) return { ok: false, reason: `<${entry.address}> is not owned by this user` };
  return { ok: true, address: entry.address };
}

/** Why a From: value may be read differently by different programs, or null. */
function findTrick(value: string): string | null {
  if (CONTROL_OR_BIDI.test(value)) return 'control or bidirectional characters are not allowed';
  const shape = scanMailbox(value);
  if (!shape.balanced) return 'unbalanced quotes, comments or angle brackets';
  if (shape.angles > 1) return 'must hold exactly one address';
  if (shape.angle === null) return /\S\s+\S/.test(shape.before.trim()) ? 'must hold exactly one address' : null;
  if (shape.before.includes('@')) return 'an address outside the angle brackets';
  if (shape.after.trim() !== '') return 'text after the address';
  if (shape.angle.trim().startsWith('@')) return 'source routes are not allowed';
  return null;
}

function hidesAddress(name: string): boolean {
  if (!name.includes('=?')) return false;
  const decoded = libmime.decodeWords(name);
  return /[@<>]/.test(decoded) || CONTROL_OR_BIDI.test(decoded);
}
