// The header From: check. A user may put only their own addresses in From: (the address a reader
// sees), just as in MAIL FROM. Exactly one From: field holding exactly one mailbox is accepted; a
// group, several mailboxes, or a From: without a usable address is refused, because each of those
// lets a reader's mail program show an address this relay never checked. A missing From: is not an
// error: the envelope sender is added (RFC 6409 §8.1), and it was checked at MAIL FROM.
import addressparser from 'nodemailer/lib/addressparser';
import { headerValues, type HeaderField } from '../smtp/headers.js';
import { parseAddress } from '../smtp/address.js';
import { isSenderAllowed } from './sender-policy.js';

export type FromCheck =
  | { readonly ok: true; readonly address: string | null }
  | { readonly ok: false; readonly reason: string };

export function checkHeaderFrom(fields: readonly HeaderField[], allowed: readonly string[]): FromCheck {
  const values = headerValues(fields, 'from');
  if (values.length === 0) return { ok: true, address: null };
  if (values.length > 1) return { ok: false, reason: 'more than one From: field' };
  const entries = addressparser(values[0] ?? '');
  const [entry] = entries;
  if (entries.length !== 1 || entry === undefined) return { ok: false, reason: 'must hold exactly one address' };
  if (entry.group !== undefined) return { ok: false, reason: 'group syntax is not allowed' };
  if (!parseAddress(entry.address)) return { ok: false, reason: 'no valid address' };
  if (!isSenderAllowed(allowed, entry.address)) return { ok: false, reason: `<${entry.address}> is not owned by this user` };
  return { ok: true, address: entry.address };
}
