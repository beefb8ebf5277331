// The DNS records a sending domain publishes for mail relayed through this host: one DKIM key record
// per selector (RFC 6376 §3.6.1, Ed25519 per RFC 8463), an SPF hint naming this host, and a DMARC
// policy to start from. Values longer than 255 bytes are split into several character-strings, which
// receivers join (RFC 7208 §3.3, RFC 6376 §3.6.2.2); printed zone-file style, ready to paste.
import type { SigningKey } from './key-file.js';

export type RecordPurpose = 'dkim' | 'spf' | 'dmarc';

export interface TxtRecord {
  readonly purpose: RecordPurpose;
  /** Owner name, without the trailing dot. */
  readonly name: string;
  /** The whole value, as receivers see it once the strings are joined. */
  readonly value: string;
  /** The value in character-strings of at most 255 bytes. */
  readonly strings: readonly string[];
  readonly selector?: string;
  readonly note?: string;
}

const MAX_STRING = 255;

export function dkimName(selector: string, domain: string): string {
  return `${selector}._domainkey.${domain}`;
}

export function dkimRecord(key: Pick<SigningKey, 'selector' | 'domain' | 'algorithm' | 'publicKey'>): TxtRecord {
  return txt('dkim', dkimName(key.selector, key.domain), `v=DKIM1; k=${key.algorithm}; p=${key.publicKey}`, { selector: key.selector });
}

/** SPF for the domain, authorising this host; a name may have only one SPF record, so merge. */
export function spfRecord(domain: string, hostname: string): TxtRecord {
  return txt('spf', domain, `v=spf1 a:${hostname} ~all`, {
    note: `if ${domain} already has an SPF record, add a:${hostname} to it instead (only one SPF record is allowed)`,
  });
}

/** A DMARC policy to begin with: report-only, relaxed alignment. */
export function dmarcRecord(domain: string): TxtRecord {
  return txt('dmarc', `_dmarc.${domain}`, 'v=DMARC1; p=none; adkim=r; aspf=r', {
    note: 'a starting point: add rua=mailto:<address> to receive reports, then move to p=quarantine and p=reject',
  });
}

function txt(purpose: RecordPurpose, name: string, value: string, extra: { selector?: string; note?: string }): TxtRecord {
  return { purpose, name, value, strings: splitTxt(value), ...extra };
}

/** Split a value into character-strings of at most 255 bytes (never inside a UTF-8 sequence). */
export function splitTxt(value: string): string[] {
  const strings: string[] = [];
  let rest = Buffer.from(value, 'utf8');
  while (rest.length > MAX_STRING) {
    let cut = MAX_STRING;
    while ((rest[cut] ?? 0) >> 6 === 0b10) cut--; // step back off a continuation byte
    strings.push(rest.subarray(0, cut).toString('utf8'));
    rest = rest.subarray(cut);
  }
  return [...strings, rest.toString('utf8')];
}

/** The record as a zone-file line; several strings go in parentheses, one per line. */
export function zoneLine(record: TxtRecord): string {
  const quoted = record.strings.map((s) => `"${s.replace(/["\\]/g, '\\$&')}"`);
  const owner = `${record.name}. IN TXT`;
  return quoted.length === 1 ? `${owner} ${quoted[0]}` : `${owner} ( ${quoted.join('\n\t')} )`;
}
