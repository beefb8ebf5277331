// `dkim check`: looks up each selector's published key record through the Resolver seam and compares
// it with the configured key. A record matches when it is the only DKIM record at the name, has the
// configured key type (k=, default rsa) and carries the same public key (p=, compared as key
// material, so an RSA key published as PKCS#1 rather than SubjectPublicKeyInfo still matches).
import { createPublicKey } from 'node:crypto';
import { isNotFound, type Resolver } from '../platform/resolver.js';
import { dkimName } from './dns-records.js';
import type { SigningKey } from './key-file.js';

export type CheckStatus = 'match' | 'mismatch' | 'missing' | 'error';

export interface SelectorCheck {
  readonly selector: string;
  readonly name: string;
  readonly algorithm: SigningKey['algorithm'];
  readonly active: boolean;
  readonly status: CheckStatus;
  readonly detail: string;
}

export async function checkKey(resolver: Resolver, key: SigningKey): Promise<SelectorCheck> {
  const name = dkimName(key.selector, key.domain);
  const result = (status: CheckStatus, detail: string): SelectorCheck => ({
    selector: key.selector,
    name,
    algorithm: key.algorithm,
    active: key.active,
    status,
    detail,
  });
  let answers: string[][];
  try {
    answers = await resolver.resolveTxt(name);
  } catch (err) {
    if (isNotFound(err)) return result('missing', `no TXT record at ${name}`);
    return result('error', `lookup failed: ${(err as { code?: string }).code ?? (err as Error).message}`);
  }
  const records = answers.map((strings) => parseTags(strings.join(''))).filter(isDkimRecord);
  if (records.length === 0) return result('missing', `no DKIM key record among the TXT records at ${name}`);
  if (records.length > 1) return result('mismatch', `${records.length} DKIM key records at ${name}; publish exactly one`);
  const [verdict, detail] = compare(records[0] ?? new Map(), key);
  return result(verdict, detail);
}

function compare(tags: ReadonlyMap<string, string>, key: SigningKey): ['match' | 'mismatch', string] {
  const published = tags.get('k') ?? 'rsa';
  const p = tags.get('p') ?? '';
  if (published !== key.algorithm) return ['mismatch', `published k=${published}, configured ${key.algorithm}`];
  if (p === '') return ['mismatch', 'published key is revoked (empty p=)'];
  return samePublicKey(p, key) ? ['match', 'published key matches'] : ['mismatch', 'published p= is a different key'];
}

/** Tags of a key record; values without whitespace (FWS may appear anywhere in base64). */
export function parseTags(text: string): Map<string, string> {
  const tags = new Map<string, string>();
  for (const part of text.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0) tags.set(part.slice(0, eq).trim().toLowerCase(), part.slice(eq + 1).replace(/\s+/g, ''));
  }
  return tags;
}

function isDkimRecord(tags: ReadonlyMap<string, string>): boolean {
  const version = tags.get('v');
  return version === undefined ? tags.has('p') : version.toUpperCase() === 'DKIM1';
}

function samePublicKey(p: string, key: SigningKey): boolean {
  if (p === key.publicKey) return true;
  if (key.algorithm !== 'rsa') return false;
  const der = Buffer.from(p, 'base64');
  for (const type of ['spki', 'pkcs1'] as const) {
    try {
      const spki = createPublicKey({ key: der, format: 'der', type }).export({ type: 'spki', format: 'der' });
      return spki.toString('base64') === key.publicKey;
    } catch {
      // not this encoding; try the next
    }
  }
  return false;
}
