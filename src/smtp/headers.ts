// RFC 5322 header sections: locating the end of the header, splitting it into (unfolded) fields and
// reading values by name. Works on CRLF-normalised bytes; values are decoded as UTF-8 (RFC 6532).

const CRLFCRLF = Buffer.from('\r\n\r\n');
const FIELD_NAME = /^[!-9;-~]+$/; // printable ASCII except ":"

export interface HeaderField {
  /** Field name as written. */
  readonly name: string;
  /** Unfolded value with the leading space trimmed. */
  readonly value: string;
}

export interface SplitMessage {
  /** Header section including its final CRLF (but not the empty line); may be empty. */
  readonly header: Buffer;
  /** Everything after the empty line that ends the header section. */
  readonly body: Buffer;
}

/**
 * Split a CRLF message at its first empty line. A message whose first line is not a header field
 * has no header section at all: it is all body (as Postfix's cleanup treats it).
 */
export function splitMessage(message: Buffer): SplitMessage {
  const firstLineEnd = message.indexOf('\r\n');
  const firstLine = message.subarray(0, firstLineEnd < 0 ? message.length : firstLineEnd).toString('latin1');
  const colon = firstLine.indexOf(':');
  if (colon <= 0 || !FIELD_NAME.test(firstLine.slice(0, colon))) {
    return { header: Buffer.alloc(0), body: message };
  }
  const end = message.indexOf(CRLFCRLF);
  if (end < 0) return { header: message, body: Buffer.alloc(0) };
  return { header: message.subarray(0, end + 2), body: message.subarray(end + 4) };
}

export function parseHeaderFields(header: Buffer): HeaderField[] {
  const fields: HeaderField[] = [];
  let current: { name: string; value: string } | null = null;
  for (const line of header.toString('utf8').split('\r\n')) {
    if (line === '') continue;
    if ((line.startsWith(' ') || line.startsWith('\t')) && current) {
      current.value += line;
      continue;
    }
    const colon = line.indexOf(':');
    if (current) fields.push(finish(current));
    current = colon > 0 ? { name: line.slice(0, colon).trimEnd(), value: line.slice(colon + 1) } : null;
  }
  if (current) fields.push(finish(current));
  return fields;
}

function finish(field: { name: string; value: string }): HeaderField {
  return { name: field.name, value: field.value.trim() };
}

export function headerValues(fields: readonly HeaderField[], name: string): string[] {
  const wanted = name.toLowerCase();
  return fields.filter((f) => f.name.toLowerCase() === wanted).map((f) => f.value);
}

/** RFC 5322 date-time in UTC: "Wed, 25 Nov 2026 12:07:30 +0000". */
export function formatDate(date: Date): string {
  return date.toUTCString().replace(/GMT$/, '+0000');
}
