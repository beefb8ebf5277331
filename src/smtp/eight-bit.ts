// Whether mail needs more than 7-bit ASCII: a body with 8-bit bytes (8BITMIME, Content-Transfer-
// Encoding 8bit), an address with non-ASCII characters (SMTPUTF8).
import { isAscii } from 'node:buffer';

export function has8bit(data: Buffer): boolean {
  return !isAscii(data);
}

const NON_ASCII = /[^\x00-\x7f]/;

export function isNonAscii(text: string): boolean {
  return NON_ASCII.test(text);
}
