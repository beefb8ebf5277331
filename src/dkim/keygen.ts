// `dkim keygen`: a new private key, PKCS#8 PEM, written to dkim.keyDir as DOMAIN.SELECTOR.key with
// mode 0600 (the directory is created 0700). An existing file is never overwritten: a selector names
// one key for ever, and rotation means a new selector.
import { generateKeyPairSync } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { DkimAlgorithm } from './key-file.js';

export const MAX_RSA_BITS = 4096;

export function generatePrivateKey(algorithm: DkimAlgorithm, bits: number): string {
  const key =
    algorithm === 'rsa'
      ? generateKeyPairSync('rsa', { modulusLength: bits, publicExponent: 0x10001 }).privateKey
      : generateKeyPairSync('ed25519').privateKey;
  return key.export({ type: 'pkcs8', format: 'pem' }).toString();
}

export function keyFileName(keyDir: string, domain: string, selector: string): string {
  return join(keyDir, `${domain}.${selector}.key`);
}

/** Write the key (mode 0600, failing with EEXIST if the file exists); returns the path. */
export function writeKeyFile(keyDir: string, domain: string, selector: string, pem: string): string {
  mkdirSync(keyDir, { recursive: true, mode: 0o700 });
  const file = keyFileName(keyDir, domain, selector);
  writeFileSync(file, pem, { mode: 0o600, flag: 'wx' });
  return file;
}
