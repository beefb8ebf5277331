import assert from 'node:assert/strict';
import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { test } from 'node:test';
import { checkKey, parseTags } from '../../src/dkim/check.js';
import { dkimRecord, dmarcRecord, spfRecord, splitTxt, zoneLine } from '../../src/dkim/dns-records.js';
import { parseSigningKey, type SigningKey } from '../../src/dkim/key-file.js';
import type { Resolver } from '../../src/platform/resolver.js';

function signingKey(algorithm: 'rsa' | 'ed25519', selector = 's1'): SigningKey {
  const pair = algorithm === 'rsa' ? generateKeyPairSync('rsa', { modulusLength: 2048 }) : generateKeyPairSync('ed25519');
  const pem = Buffer.from(pair.privateKey.export({ type: 'pkcs8', format: 'pem' }));
  return parseSigningKey({ domain: 'example.com', selector, algorithm, privateKey: '/k', active: true }, pem);
}

const rsa = signingKey('rsa');
const ed = signingKey('ed25519');

function resolverWith(answer: string[][] | { code: string }): Resolver {
  const fail = (): never => {
    throw new Error('not used');
  };
  return {
    resolveMx: fail,
    resolve4: fail,
    resolve6: fail,
    resolveTxt: async () => {
      if (Array.isArray(answer)) return answer;
      throw Object.assign(new Error(answer.code), answer);
    },
  };
}

test('TXT values are split into strings of at most 255 bytes, never inside a UTF-8 character', () => {
  assert.deepEqual(splitTxt('abc'), ['abc']);
  const long = 'x'.repeat(600);
  assert.deepEqual(
    splitTxt(long).map((s) => s.length),
    [255, 255, 90],
  );
  const utf8 = `${'x'.repeat(254)}é${'y'.repeat(10)}`;
  assert.deepEqual(splitTxt(utf8), ['x'.repeat(254), `é${'y'.repeat(10)}`]);
});

test('DKIM records: p= is the SubjectPublicKeyInfo for RSA and the raw 32-byte key for Ed25519', () => {
  const edRecord = dkimRecord(ed);
  assert.equal(edRecord.name, 's1._domainkey.example.com');
  assert.match(edRecord.value, /^v=DKIM1; k=ed25519; p=[A-Za-z0-9+/]{43}=$/);
  assert.equal(Buffer.from(ed.publicKey, 'base64').length, 32);
  const rsaRecord = dkimRecord(rsa);
  assert.equal(rsaRecord.strings.length, 2);
  const spki = createPublicKey({ key: Buffer.from(rsa.publicKey, 'base64'), format: 'der', type: 'spki' });
  assert.equal(spki.asymmetricKeyDetails?.modulusLength, 2048);
});

test('zone-file lines: one string plain, several in parentheses, quotes escaped', () => {
  assert.equal(zoneLine(spfRecord('example.com', 'relay.example.net')), 'example.com. IN TXT "v=spf1 a:relay.example.net ~all"');
  assert.equal(zoneLine(dmarcRecord('example.com')), '_dmarc.example.com. IN TXT "v=DMARC1; p=none; adkim=r; aspf=r"');
  const record = dkimRecord(rsa);
  assert.equal(zoneLine(record), `s1._domainkey.example.com. IN TXT ( "${record.strings[0]}"\n\t"${record.strings[1]}" )`);
  assert.equal(zoneLine({ ...record, strings: ['a"b\\c'] }), 's1._domainkey.example.com. IN TXT "a\\"b\\\\c"');
});

test('tag lists: names lower-cased, whitespace removed from values', () => {
  assert.deepEqual(
    [...parseTags(' v=DKIM1 ; K=rsa; p=AB C\tD ;')],
    [
      ['v', 'DKIM1'],
      ['k', 'rsa'],
      ['p', 'ABCD'],
    ],
  );
});

test('check: the published record matches, joined from several strings, with or without v=', async () => {
  const strings = [...dkimRecord(rsa).strings];
  assert.equal((await checkKey(resolverWith([strings]), rsa)).status, 'match');
  assert.equal((await checkKey(resolverWith([[`p=${ed.publicKey}; k=ed25519`]]), ed)).status, 'match');
});

test('check: an RSA key published as PKCS#1 RSAPublicKey still matches', async () => {
  const pkcs1 = createPublicKey(rsa.privateKey).export({ type: 'pkcs1', format: 'der' }).toString('base64');
  assert.equal((await checkKey(resolverWith([[`v=DKIM1; p=${pkcs1}`]]), rsa)).status, 'match');
});

test('check: missing, mismatched, revoked, ambiguous and failed look-ups', async () => {
  const other = signingKey('ed25519');
  const cases: Array<[string[][] | { code: string }, string, RegExp]> = [
    [{ code: 'ENOTFOUND' }, 'missing', /no TXT record/],
    [[['v=spf1 -all']], 'missing', /no DKIM key record/],
    [[[`v=DKIM1; k=ed25519; p=${other.publicKey}`]], 'mismatch', /different key/],
    [[[`v=DKIM1; k=rsa; p=${ed.publicKey}`]], 'mismatch', /k=rsa, configured ed25519/],
    [[['v=DKIM1; k=ed25519; p=']], 'mismatch', /revoked/],
    [[[`v=DKIM1; k=ed25519; p=${ed.publicKey}`], [`v=DKIM1; k=ed25519; p=${other.publicKey}`]], 'mismatch', /2 DKIM key records/],
    [{ code: 'ETIMEOUT' }, 'error', /ETIMEOUT/],
  ];
  for (const [answer, status, detail] of cases) {
    const result = await checkKey(resolverWith(answer), ed);
    assert.equal(result.status, status, JSON.stringify(answer));
    assert.match(result.detail, detail);
  }
});
