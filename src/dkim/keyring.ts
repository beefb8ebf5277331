// The keyring: every configured DKIM key, parsed once, and the rule that picks the keys for a message.
// A message is signed for its From: domain, or failing that for the nearest parent domain that has a
// key (mail.example.com falls back to example.com, which still aligns under relaxed DMARC). Only
// active keys sign; inactive ones are kept so the CLI can publish and check them during a rotation.
// A keyring is immutable: a reload builds a new one and swaps it in.
import { loadDkimKeys } from '../config/files.js';
import type { DkimKeyConfig } from '../config/schema.js';
import { DkimKeyError, normalizeDomain, type SigningKey } from './key-file.js';

export interface Selection {
  /** The domain the keys belong to (d=): the From: domain itself or one of its parents. */
  readonly domain: string;
  readonly keys: readonly SigningKey[];
}

export class Keyring {
  private readonly byDomain = new Map<string, SigningKey[]>();

  constructor(readonly keys: readonly SigningKey[]) {
    for (const key of keys) this.byDomain.set(key.domain, [...(this.byDomain.get(key.domain) ?? []), key]);
  }

  /** Read every configured key file; throws DkimKeyError naming each key that cannot be used. */
  static load(entries: readonly DkimKeyConfig[]): Keyring {
    const { keys, problems } = loadDkimKeys(entries);
    if (problems.length > 0) throw new DkimKeyError(problems);
    return new Keyring(keys);
  }

  /** The active keys that sign mail from `domain`, or null when neither it nor a parent has one. */
  signingKeys(domain: string): Selection | null {
    return this.nearest(domain, (key) => key.active);
  }

  /** Every configured key (active or not) of the domain that signs for `domain`, or null. */
  configuredKeys(domain: string): Selection | null {
    return this.nearest(domain, () => true);
  }

  private nearest(domain: string, usable: (key: SigningKey) => boolean): Selection | null {
    for (const candidate of domainAndParents(normalizeDomain(domain))) {
      const keys = (this.byDomain.get(candidate) ?? []).filter(usable);
      if (keys.length > 0) return { domain: candidate, keys };
    }
    return null;
  }
}

/** "a.b.example" → ["a.b.example", "b.example", "example"]; [] for "". */
export function domainAndParents(domain: string): string[] {
  const labels = domain.split('.').filter((label) => label !== '');
  return labels.map((_, i) => labels.slice(i).join('.'));
}
