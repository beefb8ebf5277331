// Micro-benchmark of DKIM signing per message: smarthost's signer (keys parsed once, at load) against
// mailauth's dkimSign given the PEM (which parses the key on every call). A 2 KB message, one
// signature per algorithm, then both. Run: node --import tsx bench/dkim-sign.ts [iterations]
import { generateKeyPairSync } from 'node:crypto';
import { dkimSign } from 'mailauth';
import type { DkimKeyConfig } from '../src/config/schema.js';
import { parseSigningKey, type SigningKey } from '../src/dkim/key-file.js';
import { signMessage } from '../src/dkim/signer.js';

const iterations = Number(process.argv[2] ?? 2000);
const header =
  'Received: from app (127.0.0.1)\r\n\tby relay.example.com (smarthost) with ESMTPSA id 0123456789ABCD\r\n' +
  'From: Alerts <alerts@example.com>\r\nTo: someone@remote.test\r\nSubject: disk space low\r\n' +
  'Date: Wed, 25 Nov 2026 10:00:00 +0000\r\nMessage-ID: <m1@example.com>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n';
const line = 'The quick brown fox jumps over the lazy dog, 0123456789 times.\r\n';
const message = Buffer.from(header + line.repeat(Math.ceil((2048 - header.length) / line.length)));

function key(algorithm: 'rsa' | 'ed25519'): { key: SigningKey; pem: string } {
  const pair = algorithm === 'rsa' ? generateKeyPairSync('rsa', { modulusLength: 2048 }) : generateKeyPairSync('ed25519');
  const pem = pair.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const entry: DkimKeyConfig = { domain: 'example.com', selector: algorithm, algorithm, privateKey: '-', active: true };
  return { key: parseSigningKey(entry, Buffer.from(pem)), pem };
}

async function measure(name: string, n: number, body: () => unknown): Promise<void> {
  for (let i = 0; i < Math.min(200, n); i++) await body();
  const start = process.hrtime.bigint();
  for (let i = 0; i < n; i++) await body();
  const us = Number(process.hrtime.bigint() - start) / n / 1000;
  process.stdout.write(`${name.padEnd(44)} ${us.toFixed(1).padStart(8)} µs/message\n`);
}

const ed = key('ed25519');
const rsa = key('rsa');
const time = Math.floor(Date.now() / 1000);
process.stdout.write(`message: ${message.length} bytes, ${iterations} iterations\n`);
await measure('smarthost signMessage, Ed25519', iterations, () => signMessage(message, { domain: 'example.com', keys: [ed.key] }, time));
await measure('smarthost signMessage, RSA-2048', iterations, () => signMessage(message, { domain: 'example.com', keys: [rsa.key] }, time));
await measure('smarthost signMessage, RSA-2048 + Ed25519', iterations, () =>
  signMessage(message, { domain: 'example.com', keys: [rsa.key, ed.key] }, time),
);
const viaMailauth = (pem: string, algorithm: string) => () => {
  const signature = { signingDomain: 'example.com', selector: 's', privateKey: pem, algorithm };
  return dkimSign(message, { ...signature, canonicalization: 'relaxed/relaxed', signatureData: [signature] });
};
await measure('mailauth dkimSign with PEM, Ed25519', Math.ceil(iterations / 4), viaMailauth(ed.pem, 'ed25519-sha256'));
await measure('mailauth dkimSign with PEM, RSA-2048', Math.ceil(iterations / 4), viaMailauth(rsa.pem, 'rsa-sha256'));
