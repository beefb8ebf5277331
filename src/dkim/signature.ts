// One DKIM-Signature field (RFC 6376 §3.5; Ed25519 per RFC 8463): relaxed/relaxed, SHA-256, t=.
//
// The field is written here, with b= last: the signed data is the selected header fields followed by
// this field, relaxed, up to and including "b=" (§3.7). Because b= comes last and folding is ours,
// the bytes a verifier rebuilds (the field with b='s value removed) are exactly the bytes signed.
// The key is a parsed KeyObject from the keyring; nothing here reads or parses PEM. RSA signs the
// data with RSASSA-PKCS1-v1_5/SHA-256; Ed25519 signs the SHA-256 digest of the data.
import { createHash, sign } from 'node:crypto';
import { relaxedField, type SignedHeaders } from './canonical.js';
import type { SigningKey } from './key-file.js';

const LINE = 76;

export interface SignatureInput {
  readonly key: SigningKey;
  readonly headers: SignedHeaders;
  /** The body hash (bh=), base64. */
  readonly bodyHash: string;
  /** Signing time (t=), seconds since the epoch. */
  readonly time: number;
}

/** The complete DKIM-Signature field, folded, ending in CRLF. */
export function signatureField(input: SignatureInput): string {
  const { key, headers, bodyHash, time } = input;
  const tags = [
    'v=1',
    `a=${key.algorithm}-sha256`,
    'c=relaxed/relaxed',
    `d=${key.domain}`,
    `s=${key.selector}`,
    `t=${time}`,
    ...splitAfterColons(`h=${headers.names.join(':')}`),
    `bh=${bodyHash}`,
  ];
  const unsigned = `${fold(tags.map((t) => (t.endsWith(':') ? t : `${t};`)))}\r\n\tb=`;
  const data = Buffer.from(headers.canonical + relaxedField(unsigned), 'latin1');
  const b =
    key.algorithm === 'rsa' ? sign('sha256', data, key.privateKey) : sign(null, createHash('sha256').update(data).digest(), key.privateKey);
  return `${unsigned}${chunks(b.toString('base64'), LINE - 4).join('\r\n\t ')}\r\n`;
}

/** "DKIM-Signature:" and the pieces, a space between them, folded (CRLF TAB) before the line is full. */
function fold(pieces: readonly string[]): string {
  const lines = ['DKIM-Signature:'];
  for (const piece of pieces) {
    const last = lines.length - 1;
    if ((lines[last] ?? '').length + 1 + piece.length <= LINE) lines[last] += ` ${piece}`;
    else lines.push(`\t${piece}`);
  }
  return lines.join('\r\n');
}

/** A long h= tag in pieces ending at colons, so that it can fold (FWS is allowed around ":"). */
function splitAfterColons(tag: string): string[] {
  const pieces: string[] = [];
  for (const part of tag.split(/(?<=:)/)) {
    const last = pieces.length - 1;
    if (last >= 0 && (pieces[last] ?? '').length + part.length <= LINE / 2) pieces[last] += part;
    else pieces.push(part);
  }
  return pieces;
}

function chunks(text: string, width: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < text.length; i += width) out.push(text.slice(i, i + width));
  return out;
}
