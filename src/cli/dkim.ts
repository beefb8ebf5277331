// `smarthost dkim keygen|list|dns|check`: create DKIM keys, show the configured ones, print the DNS
// records a domain should publish, and check the published key records through the configured
// resolver (dns.servers). Keys are read from the files the configuration names, as the daemon does.
import { Option, type Command } from 'commander';
import { stringify } from 'yaml';
import { loadDkimKey, loadDkimKeys } from '../config/files.js';
import { ConfigError } from '../config/load.js';
import { selectorPattern, type Config } from '../config/schema.js';
import { checkKey } from '../dkim/check.js';
import { dkimName, dkimRecord, dmarcRecord, spfRecord, zoneLine, type TxtRecord } from '../dkim/dns-records.js';
import { MIN_RSA_BITS, normalizeDomain, parseSigningKey, type DkimAlgorithm } from '../dkim/key-file.js';
import { Keyring, type Selection } from '../dkim/keyring.js';
import { MAX_RSA_BITS, generatePrivateKey, keyFileName, writeKeyFile } from '../dkim/keygen.js';
import { createResolver } from '../platform/resolver.js';
import { CliError, EXIT, configFrom, run, withConfig, type ConfigOption } from './common.js';
import { commandHint as hint } from '../platform/command-hint.js';
import { printJson } from './format.js';

interface JsonOption extends ConfigOption {
  json?: boolean;
}

interface KeygenOptions extends JsonOption {
  selector: string;
  algorithm: DkimAlgorithm;
  bits: string;
}

export function registerDkimCommands(program: Command): void {
  const dkim = program.command('dkim').description('DKIM keys and the DNS records to publish');

  withConfig(dkim.command('keygen <domain>'))
    .description('create a private key in dkim.keyDir; prints the DNS record to publish and the config entry to add')
    .requiredOption('--selector <selector>', 'selector, e.g. s2026 (a new one for every new key)')
    .addOption(new Option('--algorithm <algorithm>', 'key type').choices(['ed25519', 'rsa']).default('rsa'))
    .option('--bits <bits>', `RSA key size (${MIN_RSA_BITS}-${MAX_RSA_BITS})`, String(MIN_RSA_BITS))
    .option('--json', 'print JSON')
    .action((domain: string, options: KeygenOptions) => run(() => keygen(domain, options)));

  withConfig(dkim.command('list'))
    .description('list the configured keys')
    .option('--json', 'print JSON')
    .action((options: JsonOption) => run(() => list(options)));

  withConfig(dkim.command('dns <domain>'))
    .description('print the DNS records the domain should publish: DKIM per selector, SPF, DMARC')
    .option('--json', 'print JSON')
    .action((domain: string, options: JsonOption) => run(() => dns(domain, options)));

  withConfig(dkim.command('check <domain>'))
    .description("look up the domain's published DKIM records and compare them with the keys; exit 1 unless all match")
    .option('--json', 'print JSON')
    .action((domain: string, options: JsonOption) => run(() => check(domain, options)));
}

function keygen(domainArg: string, options: KeygenOptions): void {
  const domain = domainArgument(domainArg);
  const bits = Number(options.bits);
  if (!selectorPattern.test(options.selector)) throw new CliError(`bad selector "${options.selector}": use DNS labels`, EXIT.usage);
  if (!Number.isInteger(bits) || bits < MIN_RSA_BITS || bits > MAX_RSA_BITS) {
    throw new CliError(`bad --bits ${options.bits}: use ${MIN_RSA_BITS} to ${MAX_RSA_BITS}`, EXIT.usage);
  }
  const { path, config } = configFrom(options);
  if (config.dkim.keys.some((k) => normalizeDomain(k.domain) === domain && k.selector.toLowerCase() === options.selector.toLowerCase())) {
    throw new CliError(`selector ${options.selector} is already configured for ${domain}; choose a new one`);
  }
  const file = keyFileName(config.dkim.keyDir, domain, options.selector);
  const active = !hasActiveKey(config, domain, options.algorithm);
  const base = { domain, selector: options.selector, algorithm: options.algorithm, privateKey: file };
  const configEntry = active ? base : { ...base, active: false };
  const pem = generatePrivateKey(options.algorithm, bits);
  const record = dkimRecord(parseSigningKey({ ...base, active }, Buffer.from(pem)));
  writeNewKey(config, base, pem);
  if (options.json) return printJson({ file, entry: configEntry, record });
  const last = active
    ? 'reload smarthost (systemctl reload smarthost, or SIGHUP): messages from it are then signed with this key.'
    : 'switch to this key as docs/dkim.md (key rotation) describes.\n' +
      `   It starts inactive because ${domain} already has an active ${options.algorithm} key.`;
  process.stdout.write(
    `wrote ${file} (${options.algorithm}${options.algorithm === 'rsa' ? `-${bits}` : ''}, mode 0600)\n\n` +
      `1. Add this entry under dkim.keys in ${path}:\n${indent(stringify([configEntry]))}\n` +
      `2. Publish this DNS TXT record:\n${zoneLine(record)}\n\n` +
      `3. When \`${hint(`dkim check ${domain}`, path)}\` reports a match, ${last}\n`,
  );
}

function list(options: JsonOption): void {
  const { path, config } = configFrom(options);
  const rows = config.dkim.keys.map((entry, i) => {
    const key = loadDkimKey(entry, `dkim.keys.${i}.privateKey`);
    const domain = normalizeDomain(entry.domain);
    const base = {
      domain,
      selector: entry.selector,
      algorithm: entry.algorithm,
      active: entry.active,
      privateKey: entry.privateKey,
      dnsName: dkimName(entry.selector, domain),
    };
    return typeof key === 'string'
      ? { ...base, bits: null, record: null, problem: key }
      : { ...base, bits: key.bits, record: dkimRecord(key).value, problem: null };
  });
  if (options.json) return printJson({ requireKey: config.dkim.requireKey, keys: rows });
  if (rows.length === 0) {
    process.stderr.write(
      `smarthost: no DKIM keys in ${path} (dkim.keys); create one with: ${hint('dkim keygen DOMAIN --selector SELECTOR', path)}\n`,
    );
  }
  for (const r of rows) {
    const fields = [r.domain, r.selector, r.algorithm, r.bits ?? '-', r.active ? 'active' : 'inactive', r.privateKey, r.problem ?? ''];
    process.stdout.write(`${fields.join('\t').trimEnd()}\n`);
  }
}

function dns(domainArg: string, options: JsonOption): number {
  const domain = domainArgument(domainArg);
  const { path, config, selection } = keysFor(domain, options);
  const records: TxtRecord[] = [...(selection?.keys.map(dkimRecord) ?? []), spfRecord(domain, config.hostname), dmarcRecord(domain)];
  const missing = selection
    ? null
    : `no DKIM key for ${domain}; create one with: ${hint(`dkim keygen ${domain} --selector SELECTOR`, path)}`;
  if (options.json) {
    printJson({ domain, signingDomain: selection?.domain ?? null, records });
  } else {
    if (selection && selection.domain !== domain)
      process.stdout.write(`; ${domain} is signed as its parent ${selection.domain} (d=${selection.domain})\n`);
    for (const r of records) process.stdout.write(`; ${describe(r)}\n${zoneLine(r)}\n`);
  }
  if (missing) process.stderr.write(`smarthost: ${missing}\n`);
  return missing ? EXIT.notFound : EXIT.ok;
}

async function check(domainArg: string, options: JsonOption): Promise<number> {
  const domain = domainArgument(domainArg);
  const { config, selection } = keysFor(domain, options);
  if (!selection) throw new CliError(`no DKIM key configured for ${domain}`);
  const resolver = createResolver({ servers: config.dns.servers, timeoutMs: config.dns.timeout });
  const results = await Promise.all(selection.keys.map((key) => checkKey(resolver, key)));
  const ok = results.every((r) => r.status === 'match');
  if (options.json) printJson({ domain, signingDomain: selection.domain, ok, selectors: results });
  else
    for (const r of results)
      process.stdout.write(`${r.name}\t${r.algorithm}\t${r.active ? 'active' : 'inactive'}\t${r.status}\t${r.detail}\n`);
  return ok ? EXIT.ok : EXIT.notFound;
}

/** The configuration and every configured key of the domain that signs for `domain`. */
function keysFor(domain: string, options: ConfigOption): { path: string; config: Config; selection: Selection | null } {
  const { path, config } = configFrom(options);
  const { keys, problems } = loadDkimKeys(config.dkim.keys);
  if (problems.length > 0) throw new ConfigError(path, problems);
  return { path, config, selection: new Keyring(keys).configuredKeys(domain) };
}

function hasActiveKey(config: Config, domain: string, algorithm: DkimAlgorithm): boolean {
  return config.dkim.keys.some((k) => k.active && k.algorithm === algorithm && normalizeDomain(k.domain) === domain);
}

function writeNewKey(config: Config, entry: { domain: string; selector: string }, pem: string): void {
  try {
    writeKeyFile(config.dkim.keyDir, entry.domain, entry.selector, pem);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const reason = code === 'EEXIST' ? 'it already exists; choose a new selector' : (err as Error).message;
    throw new CliError(`cannot write ${keyFileName(config.dkim.keyDir, entry.domain, entry.selector)}: ${reason}`);
  }
}

function domainArgument(text: string): string {
  const domain = normalizeDomain(text);
  if (!/^[a-z0-9_-]+(\.[a-z0-9_-]+)*$/.test(domain)) throw new CliError(`bad domain "${text}"`, EXIT.usage);
  return domain;
}

function describe(r: TxtRecord): string {
  const what = r.purpose === 'dkim' ? `DKIM key, selector ${r.selector ?? ''}` : r.purpose === 'spf' ? 'SPF' : 'DMARC';
  return r.note ? `${what}: ${r.note}` : what;
}

function indent(text: string): string {
  return text.replace(/^(?=.)/gm, '  ');
}
