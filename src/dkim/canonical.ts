// Which header fields a DKIM signature covers, and their "relaxed" canonical form (RFC 6376 §3.4.2).
//
// Selection (h=): every present instance of each name in SIGNED_HEADERS, taken from the bottom of the
// header section up, as §5.4.2 has verifiers take them. Names in OVERSIGNED are listed once more
// than they occur; a verifier finds no field for the extra entry and hashes nothing for it, so a
// From: added after signing breaks the signature (§8.15). Trace fields (Received) are never signed.
//
// Relaxed canonicalisation works on bytes: lower-case the field name, unfold, turn each run of SP and
// HTAB into one SP, drop that whitespace at the end of the value and around the colon. Only SP and
// HTAB are whitespace: a UTF-8 header (RFC 6532) holds bytes such as 0xA0 ("à" is C3 A0) that a
// Unicode-aware regex would take for a space, which is why this is not done with String#trim or \s.

/** The fields signed when present, in h= order. */
export const SIGNED_HEADERS: readonly string[] = [
  'from',
  'sender',
  'reply-to',
  'to',
  'cc',
  'subject',
  'date',
  'message-id',
  'in-reply-to',
  'references',
  'mime-version',
  'content-type',
  'content-transfer-encoding',
  'list-id',
  'list-unsubscribe',
  'list-unsubscribe-post',
];

/** Fields listed once more than they occur, so that none can be added after signing. */
export const OVERSIGNED: readonly string[] = ['from'];

export interface RawField {
  /** Lower-case field name. */
  readonly name: string;
  /** The whole field as bytes (latin1), folded as received, without the final CRLF. */
  readonly text: string;
}

export interface SignedHeaders {
  /** The h= list, lower case, in signing order (oversigned names included). */
  readonly names: readonly string[];
  /** The relaxed canonical form of the selected fields, concatenated, in h= order. */
  readonly canonical: string;
}

/** Split a CRLF header section (latin1 text) into fields, keeping each field's folding. */
export function rawFields(header: string): RawField[] {
  return header
    .split(/\r\n(?![ \t])/)
    .filter((text) => text.includes(':'))
    .map((text) => ({ name: asciiLower(text.slice(0, text.indexOf(':')).replace(/[ \t]+$/, '')), text }));
}

export function selectHeaders(fields: readonly RawField[]): SignedHeaders {
  const names: string[] = [];
  const canonical: string[] = [];
  for (const name of SIGNED_HEADERS) {
    const present = fields.filter((f) => f.name === name).reverse();
    for (const field of present) {
      names.push(name);
      canonical.push(`${relaxedField(field.text)}\r\n`);
    }
    if (OVERSIGNED.includes(name)) names.push(name);
  }
  return { names, canonical: canonical.join('') };
}

/** The relaxed form of one field, without a trailing CRLF. */
export function relaxedField(text: string): string {
  const colon = text.indexOf(':');
  const name = asciiLower(text.slice(0, colon).replace(/[ \t]+$/, ''));
  const value = text
    .slice(colon + 1)
    .replace(/\r\n/g, '')
    .replace(/[ \t]+/g, ' ')
    .replace(/^ /, '')
    .replace(/ $/, '');
  return `${name}:${value}`;
}

function asciiLower(text: string): string {
  return text.replace(/[A-Z]+/g, (s) => s.toLowerCase());
}
