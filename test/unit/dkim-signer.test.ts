import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { dkimVerify } from 'mailauth';
import { pino } from 'pino';
import type { DkimKeyConfig } from '../../src/config/schema.js';
import { dkimRecord } from '../../src/dkim/dns-records.js';
import { DkimKeyError } from '../../src/dkim/key-file.js';
import { DkimSigner, type DkimSettings } from '../../src/dkim/signer.js';
import { SmtpError } from '../../src/smtp/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'smarthost-signer-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function keyFile(name: string, algorithm: 'rsa' | 'ed25519'): string {
  const pair = algorithm === 'rsa' ? generateKeyPairSync('rsa', { modulusLength: 2048 }) : generateKeyPairSync('ed25519');
  const file = join(dir, name);
  writeFileSync(file, pair.privateKey.export({ type: 'pkcs8', format: 'pem' }));
  return file;
}

const entries: DkimKeyConfig[] = [
  { domain: 'example.com', selector: 'r1', algorithm: 'rsa', privateKey: keyFile('r1.key', 'rsa'), active: true },
  { domain: 'example.com', selector: 'e1', algorithm: 'ed25519', privateKey: keyFile('e1.key', 'ed25519'), active: true },
];
const settings = (over: Partial<DkimSettings> = {}): DkimSettings => ({ keyDir: dir, requireKey: false, keys: entries, ...over });
const NOW = Date.UTC(2026, 10, 25, 10, 0, 0);
const MESSAGE = Buffer.from('Received: from a\r\n\tby b; now\r\nFrom: A <a@example.com>\r\nTo: b@x.test\r\nSubject: s\r\n\r\nbody  \r\n');

function makeSigner(over: Partial<DkimSettings> = {}): { signer: DkimSigner; logs: Array<Record<string, unknown>> } {
  const logs: Array<Record<string, unknown>> = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => void logs.push(JSON.parse(line) as Record<string, unknown>) });
  return { signer: new DkimSigner(settings(over), { clock: { now: () => NOW }, logger }), logs };
}

async function verify(message: Buffer, signer: DkimSigner): Promise<string[]> {
  const records = new Map(signer.keyring.keys.map((k) => [`${k.selector}._domainkey.${k.domain}`, dkimRecord(k).strings]));
  const result = await dkimVerify(message, { resolver: async (name: string) => [[...(records.get(name) ?? [])]] });
  return result.results.map((r) => `${r.selector ?? ''}:${r.status.result}`).sort();
}

test('signs with every active key of the From: domain, prepended, t= from the clock', async () => {
  const { signer } = makeSigner();
  const signed = await signer.sign(MESSAGE, 'a@example.com', 'Q1');
  assert.ok(signed.subarray(-MESSAGE.length).equals(MESSAGE), 'the message follows unchanged');
  const head = signed.subarray(0, signed.length - MESSAGE.length).toString('latin1');
  assert.equal(head.match(/^DKIM-Signature:/gm)?.length, 2);
  assert.equal(head.match(new RegExp(`t=${NOW / 1000};`, 'g'))?.length, 2);
  assert.deepEqual(await verify(signed, signer), ['e1:pass', 'r1:pass']);
});

test('no key: the message passes unsigned with a warning carrying the queue ID', async () => {
  const { signer, logs } = makeSigner();
  assert.equal(await signer.sign(MESSAGE, 'a@example.net', 'Q2'), MESSAGE);
  assert.ok(logs.some((l) => l['level'] === 40 && l['queueId'] === 'Q2' && l['domain'] === 'example.net'));
});

test('no key under requireKey: refused with 550 5.7.1, but bounces are never refused', async () => {
  const { signer } = makeSigner({ requireKey: true });
  await assert.rejects(
    signer.sign(MESSAGE, 'a@example.net', 'Q3'),
    (err: unknown) =>
      err instanceof SmtpError && err.code === 'SMARTHOST_E_NO_DKIM_KEY' && err.reply.code === 550 && err.reply.enhanced === '5.7.1',
  );
  assert.equal(await signer.signIfKeyExists(MESSAGE, 'MAILER-DAEMON@relay.example.net', 'Q4'), MESSAGE);
});

test('a bounce from MAILER-DAEMON@hostname is signed with the key of the hostname or its parent', async () => {
  const { signer } = makeSigner({ requireKey: true });
  const signed = await signer.signIfKeyExists(MESSAGE, 'MAILER-DAEMON@relay.example.com', 'Q5');
  assert.match(signed.toString('latin1'), /^DKIM-Signature: v=1; a=rsa-sha256; c=relaxed\/relaxed; d=example\.com;/);
});

test('reload swaps the keyring; a reload with a bad key throws and keeps the old keys', async () => {
  const { signer } = makeSigner();
  assert.throws(() => signer.reload(settings({ keys: [{ ...entries[0]!, privateKey: join(dir, 'absent.key') }] })), DkimKeyError);
  assert.equal(signer.keyring.keys.length, 2);
  signer.reload(settings({ keys: [entries[1]!], requireKey: true }));
  assert.deepEqual(
    signer.keyring.keys.map((k) => k.selector),
    ['e1'],
  );
  await assert.rejects(signer.sign(MESSAGE, 'a@example.net', 'Q6'), SmtpError);
});

test('a long h= list folds between names and still verifies', async () => {
  const { signer } = makeSigner();
  const many = Array.from({ length: 30 }, (_, i) => `To: r${i}@x.test\r\n`).join('');
  const message = Buffer.from(`From: a@example.com\r\n${many}Subject: s\r\n\r\nbody\r\n`);
  const signed = (await signer.sign(message, 'a@example.com', 'Q7')).toString('latin1');
  const field = signed.slice(0, signed.indexOf('\r\nDKIM-Signature') + 2);
  assert.ok(
    field.split('\r\n').every((line) => line.length <= 78),
    field,
  );
  assert.equal(
    /h=([^;]+);/
      .exec(field)?.[1]
      ?.replace(/\s+/g, '')
      .split(':')
      .filter((n) => n === 'to').length,
    30,
  );
  assert.deepEqual(await verify(Buffer.from(signed, 'latin1'), signer), ['e1:pass', 'r1:pass']);
});
