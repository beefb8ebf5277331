// `smarthost dkim keygen → dns → check` against a loopback DNS server that serves exactly the printed
// records; `dkim list`; and the start-up checks that refuse a missing, mismatched or short key file
// (exit 78, naming the key).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parse } from 'yaml';
import { baseConfig, merge, runCli, type CliResult } from '../helpers/daemon.js';
import { keyEntry, makeKey } from '../helpers/dkim.js';
import { DnsServer } from '../helpers/dns-server.js';

interface PrintedRecord {
  readonly name: string;
  readonly strings: string[];
}

/** Zone-file TXT records in command output: `name. IN TXT "a"` or `name. IN TXT ( "a"\n\t"b" )`. */
function printedRecords(output: string): PrintedRecord[] {
  const records: PrintedRecord[] = [];
  for (const match of output.matchAll(/^(\S+)\. IN TXT (\( [^)]*\)|"[^"\n]*")$/gm)) {
    const strings = [...(match[2] ?? '').matchAll(/"((?:[^"\\]|\\.)*)"/g)].map((m) => (m[1] ?? '').replace(/\\(.)/g, '$1'));
    records.push({ name: match[1] ?? '', strings });
  }
  return records;
}

describe('dkim keygen, dns, check', () => {
  let dir: string;
  let dns: DnsServer;
  let configPath: string;
  let config: Record<string, unknown>;
  const keys: Array<Record<string, unknown>> = [];
  const cli = (...args: string[]): Promise<CliResult> => runCli([...args, '--config', configPath]);
  const writeConfig = (): void => writeFileSync(configPath, JSON.stringify(merge(config, { dkim: { keys } })));

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'smarthost-dkim-cli-'));
    dns = await DnsServer.start();
    configPath = join(dir, 'smarthost.yaml');
    config = merge(baseConfig(dir), { dns: { servers: [dns.address], timeout: 1000 } });
    writeConfig();
  });
  after(async () => {
    await dns.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('keygen writes a 0600 key and prints the record and the config entry; dns prints it; check matches', async () => {
    const gen = await cli('dkim', 'keygen', 'Example.COM', '--selector', 'e2026', '--algorithm', 'ed25519');
    assert.equal(gen.code, 0, gen.stderr);
    const [record] = printedRecords(gen.stdout);
    assert.equal(record?.name, 'e2026._domainkey.example.com');
    const yamlBlock = /under dkim\.keys in .*\n((?: {2}.*\n)+)/.exec(gen.stdout)?.[1] ?? '';
    const [entry] = parse(yamlBlock.replace(/^ {2}/gm, '')) as Array<Record<string, unknown>>;
    assert.deepEqual(entry, {
      domain: 'example.com',
      selector: 'e2026',
      algorithm: 'ed25519',
      privateKey: join(dir, 'dkim', 'example.com.e2026.key'),
    });
    assert.equal(statSync(String(entry?.['privateKey'])).mode & 0o777, 0o600);
    keys.push(entry ?? {});
    writeConfig();

    assert.equal((await cli('dkim', 'check', 'example.com')).code, 1, 'nothing published yet');
    const printed = await cli('dkim', 'dns', 'example.com');
    assert.equal(printed.code, 0, printed.stderr);
    const records = printedRecords(printed.stdout);
    assert.deepEqual(
      records.map((r) => r.name),
      ['e2026._domainkey.example.com', 'example.com', '_dmarc.example.com'],
    );
    assert.deepEqual(records[0], record);
    assert.match(records[1]?.strings.join('') ?? '', /^v=spf1 a:relay\.test ~all$/);
    assert.match(records[2]?.strings.join('') ?? '', /^v=DMARC1; p=none/);
    for (const r of records) dns.set(r.name, [{ type: 'TXT', data: r.strings }]);

    const checked = await cli('dkim', 'check', 'example.com');
    assert.equal(checked.code, 0, checked.stdout + checked.stderr);
    assert.match(checked.stdout, /^e2026\._domainkey\.example\.com\ted25519\tactive\tmatch\t/m);
  });

  test('an RSA key record is split into 255-byte strings and round-trips; a missing one fails check', async () => {
    const gen = await cli('dkim', 'keygen', 'example.com', '--selector', 'r2026', '--json');
    assert.equal(gen.code, 0, gen.stderr);
    const out = JSON.parse(gen.stdout) as { entry: Record<string, unknown>; record: { name: string; value: string; strings: string[] } };
    assert.equal(out.entry['algorithm'], 'rsa');
    assert.ok(out.record.strings.length >= 2 && out.record.strings.every((s) => Buffer.byteLength(s) <= 255));
    assert.equal(out.record.strings.join(''), out.record.value);
    keys.push(out.entry);
    writeConfig();

    const missing = await cli('dkim', 'check', 'example.com', '--json');
    assert.equal(missing.code, 1);
    const statuses = (JSON.parse(missing.stdout) as { selectors: Array<{ selector: string; status: string }> }).selectors;
    assert.deepEqual(
      statuses.map((s) => [s.selector, s.status]),
      [
        ['e2026', 'match'],
        ['r2026', 'missing'],
      ],
    );

    const printed = printedRecords((await cli('dkim', 'dns', 'example.com')).stdout);
    const rsa = printed.find((r) => r.name === out.record.name);
    assert.deepEqual(rsa?.strings, out.record.strings);
    dns.set(out.record.name, [{ type: 'TXT', data: rsa?.strings ?? [] }]);
    assert.equal((await cli('dkim', 'check', 'example.com')).code, 0);
  });

  test('a second key of the same algorithm starts inactive; check reports a different published key as mismatch', async () => {
    const gen = await cli('dkim', 'keygen', 'example.com', '--selector', 'e2027', '--algorithm', 'ed25519', '--json');
    assert.equal(gen.code, 0, gen.stderr);
    const out = JSON.parse(gen.stdout) as { entry: Record<string, unknown>; record: { name: string; strings: string[] } };
    assert.equal(out.entry['active'], false);
    keys.push(out.entry);
    writeConfig();
    const other = makeKey(join(dir, 'other'), { domain: 'example.com', selector: 'e2027', algorithm: 'ed25519' });
    dns.set(out.record.name, [{ type: 'TXT', data: other.record }]);
    const checked = await cli('dkim', 'check', 'example.com');
    assert.equal(checked.code, 1);
    assert.match(checked.stdout, /^e2027\._domainkey\.example\.com\ted25519\tinactive\tmismatch\t/m);

    const listed = JSON.parse((await cli('dkim', 'list', '--json')).stdout) as {
      keys: Array<{ selector: string; active: boolean; bits: number }>;
    };
    assert.deepEqual(
      listed.keys.map((k) => [k.selector, k.active, k.bits]),
      [
        ['e2026', true, 256],
        ['r2026', true, 2048],
        ['e2027', false, 256],
      ],
    );
  });

  test('keygen refuses a selector already in use, and bad arguments with exit 2', async () => {
    assert.equal((await cli('dkim', 'keygen', 'example.com', '--selector', 'e2026', '--algorithm', 'ed25519')).code, 1);
    assert.equal(
      (await cli('dkim', 'keygen', 'example.com', '--selector', 'E2026', '--algorithm', 'ed25519')).code,
      1,
      'selectors compare without case, as in the config',
    );
    assert.equal((await cli('dkim', 'keygen', 'example.com', '--selector', 'bad selector')).code, 2);
    assert.equal((await cli('dkim', 'keygen', 'example.com', '--selector', 's', '--bits', '1024')).code, 2);
    assert.equal((await cli('dkim', 'keygen', 'example.com', '--selector', 's', '--algorithm', 'dsa')).code, 2);
  });
});

describe('DKIM key files at start-up', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'smarthost-dkim-bad-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const start = (keys: Array<Record<string, unknown>>, command = 'serve'): Promise<CliResult> => {
    const path = join(dir, `${command}-${keys.length}-${Math.random().toString(36).slice(2)}.yaml`);
    writeFileSync(path, JSON.stringify(merge(baseConfig(dir), { dkim: { keys } })));
    return runCli([command, '--config', path]);
  };

  test('a missing key file stops serve with exit 78, naming the key', async () => {
    const result = await start([{ domain: 'example.com', selector: 's1', algorithm: 'ed25519', privateKey: join(dir, 'absent.key') }]);
    assert.equal(result.code, 78);
    assert.match(result.stderr, /dkim\.keys\.0\.privateKey: cannot read .*absent\.key: no such file/);
  });

  test('a key of the wrong type, a short RSA key and two active keys of one algorithm are refused', async () => {
    const ed = keyEntry(makeKey(dir, { domain: 'example.com', selector: 'e1', algorithm: 'ed25519' }));
    const short = keyEntry(makeKey(dir, { domain: 'example.com', selector: 'r1', algorithm: 'rsa', bits: 1024 }));
    const mismatch = await start([{ ...ed, algorithm: 'rsa' }]);
    assert.equal(mismatch.code, 78);
    assert.match(mismatch.stderr, /dkim\.keys\.0\.privateKey: .*example\.com\.e1\.key is a ed25519 key, but algorithm is rsa/);
    const weak = await start([short], 'check-config');
    assert.equal(weak.code, 78);
    assert.match(weak.stderr, /RSA-1024; DKIM needs 2048 bits or more/);
    const twoActive = await start([ed, { ...ed, selector: 'e2' }], 'check-config');
    assert.equal(twoActive.code, 78);
    assert.match(twoActive.stderr, /dkim\.keys\.1\.active: example\.com already has an active ed25519 key/);
  });
});
