// `dkim keygen`: a new private key, PKCS#8 PEM, written to dkim.keyDir as DOMAIN.SELECTOR.key with
// mode 0600 (the directory is created 0700). An existing file is never overwritten: a selector names
// one key for ever, and rotation means a new selector. Development keys (`create: true` on a
// dkim.keys entry, as config/dev.yaml has) are made the same way at start when their file is missing.
import { generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { DkimKeyConfig } from '../config/schema.js';
import { MIN_RSA_BITS, type DkimAlgorithm } from './key-file.js';

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

/** Create the missing key files of the entries marked `create: true`; returns the entries created. */
export function createMissingKeys(entries: readonly DkimKeyConfig[]): DkimKeyConfig[] {
  const created: DkimKeyConfig[] = [];
  for (const entry of entries) {
    if (!entry.create || existsSync(entry.privateKey)) continue;
    mkdirSync(dirname(entry.privateKey), { recursive: true, mode: 0o700 });
    writeFileSync(entry.privateKey, generatePrivateKey(entry.algorithm, MIN_RSA_BITS), { mode: 0o600, flag: 'wx' });
    created.push(entry);
  }
  return created;
}

/** Write the key (mode 0600, failing with EEXIST if the file exists); returns the path. */
export function writeKeyFile(keyDir: string, domain: string, selector: string, pem: string): string {
  mkdirSync(keyDir, { recursive: true, mode: 0o700 });
  const file = keyFileName(keyDir, domain, selector);
  writeFileSync(file, pem, { mode: 0o600, flag: 'wx' });
  return file;
}
