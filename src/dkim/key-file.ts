// DKIM keys as the signer and the CLI use them: a configured entry whose PEM file has been parsed
// once into a private key object, with the public key in the form DNS publishes it (p=). Parsing a
// PEM costs hundreds of microseconds, so it happens here, at start-up and reload, never per message.
import { createPublicKey, createPrivateKey, type KeyObject } from 'node:crypto';
import { domainToASCII } from 'node:url';
import type { DkimKeyConfig } from '../config/schema.js';

export type DkimAlgorithm = DkimKeyConfig['algorithm'];

export interface SigningKey {
  /** The signing domain (d=): lower case, A-labels, no trailing dot. */
  readonly domain: string;
  readonly selector: string;
  readonly algorithm: DkimAlgorithm;
  readonly active: boolean;
  /** The PEM file it was read from. */
  readonly file: string;
  readonly privateKey: KeyObject;
  /** RSA modulus length in bits; 256 for Ed25519. */
  readonly bits: number;
  /** The p= value: base64 SubjectPublicKeyInfo for RSA, the raw 32-byte key for Ed25519 (RFC 8463). */
  readonly publicKey: string;
}

export const MIN_RSA_BITS = 2048;

/** DKIM key problems that stop start-up, a reload or a CLI command; each names the key file. */
export class DkimKeyError extends Error {
  readonly code = 'SMARTHOST_E_DKIM_KEY';
  constructor(readonly problems: readonly string[]) {
    super(problems.join('; '));
    this.name = 'DkimKeyError';
  }
}

/** Lower case, A-labels (IDNA), no trailing dot; the input lower-cased when it is not a valid name. */
export function normalizeDomain(domain: string): string {
  const trimmed = domain.trim().replace(/\.$/, '');
  return domainToASCII(trimmed) || trimmed.toLowerCase();
}

/** Parse a PEM private key for a configured entry; throws an Error whose message says what is wrong. */
export function parseSigningKey(entry: DkimKeyConfig, pem: Buffer): SigningKey {
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(pem);
  } catch (err) {
    throw new Error(`${entry.privateKey} is not a PEM private key: ${(err as Error).message}`);
  }
  const type = privateKey.asymmetricKeyType;
  if (type !== entry.algorithm) {
    throw new Error(`${entry.privateKey} is a ${type ?? 'unknown'} key, but algorithm is ${entry.algorithm}`);
  }
  const bits = type === 'rsa' ? (privateKey.asymmetricKeyDetails?.modulusLength ?? 0) : 256;
  if (type === 'rsa' && bits < MIN_RSA_BITS) {
    throw new Error(`${entry.privateKey} is RSA-${bits}; DKIM needs ${MIN_RSA_BITS} bits or more`);
  }
  return {
    domain: normalizeDomain(entry.domain),
    selector: entry.selector,
    algorithm: entry.algorithm,
    active: entry.active,
    file: entry.privateKey,
    privateKey,
    bits,
    publicKey: publicKeyValue(privateKey),
  };
}

/** The p= value of a key (private or public). */
export function publicKeyValue(key: KeyObject): string {
  const spki = createPublicKey(key).export({ type: 'spki', format: 'der' });
  // An Ed25519 SubjectPublicKeyInfo is a fixed 12-byte prefix and the 32-byte key.
  return (key.asymmetricKeyType === 'ed25519' ? spki.subarray(-32) : spki).toString('base64');
}
