// DKIM fixtures and the independent verification of signed messages. Keys are generated per test run
// (never committed) and their DNS records derived here with node:crypto, not with smarthost's code.
// verifyDkim() checks a message with two implementations, each asking the loopback DNS server for the
// key records: mailauth's verifier (in process) and python3-dkim (Debian's /usr/bin/python3, whose
// dnsfunc queries the same server with dnspython). Give it the exact bytes a receiver would get:
// the spooled message, or what a receiving MTA on loopback was sent.
import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { Resolver } from 'node:dns/promises';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { dkimVerify, type DKIMResult } from 'mailauth';
import { runProcess } from './clients.js';
import type { DnsServer } from './dns-server.js';

export type Algorithm = 'rsa' | 'ed25519';

export interface TestKey {
  readonly domain: string;
  readonly selector: string;
  readonly algorithm: Algorithm;
  readonly active: boolean;
  readonly privateKey: string;
  /** The TXT record value to publish at SELECTOR._domainkey.DOMAIN. */
  readonly record: string;
}

export interface Verdict {
  readonly domain: string;
  readonly selector: string;
  readonly algorithm: string;
  /** "pass", "fail", "neutral", "none", … as the verifier reports it. */
  readonly result: string;
}

export interface Verdicts {
  readonly mailauth: readonly Verdict[];
  readonly python: readonly Verdict[];
}

/** Generate a key, write it (mode 0600) under dir, and return its config entry and DNS record. */
export function makeKey(
  dir: string,
  spec: { domain: string; selector: string; algorithm: Algorithm; active?: boolean; bits?: number },
): TestKey {
  const { privateKey } =
    spec.algorithm === 'rsa' ? generateKeyPairSync('rsa', { modulusLength: spec.bits ?? 2048 }) : generateKeyPairSync('ed25519');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${spec.domain}.${spec.selector}.key`);
  writeFileSync(file, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  const spki = createPublicKey(privateKey).export({ type: 'spki', format: 'der' });
  const p = spec.algorithm === 'rsa' ? spki.toString('base64') : String(createPublicKey(privateKey).export({ format: 'jwk' }).x ?? '');
  const value = spec.algorithm === 'rsa' ? p : Buffer.from(p, 'base64url').toString('base64');
  return {
    domain: spec.domain,
    selector: spec.selector,
    algorithm: spec.algorithm,
    active: spec.active ?? true,
    privateKey: file,
    record: `v=DKIM1; k=${spec.algorithm}; p=${value}`,
  };
}

/** The dkim.keys entry for a test key. */
export function keyEntry(key: TestKey): Record<string, unknown> {
  return { domain: key.domain, selector: key.selector, algorithm: key.algorithm, privateKey: key.privateKey, active: key.active };
}

export function publish(dns: DnsServer, keys: readonly TestKey[]): void {
  for (const key of keys) dns.set(`${key.selector}._domainkey.${key.domain}`, [{ type: 'TXT', data: key.record }]);
}

export async function verifyDkim(message: Buffer, dns: DnsServer): Promise<Verdicts> {
  const [mailauth, python] = await Promise.all([verifyWithMailauth(message, dns), verifyWithPython(message, dns)]);
  return { mailauth, python };
}

async function verifyWithMailauth(message: Buffer, dns: DnsServer): Promise<Verdict[]> {
  const resolver = new Resolver({ timeout: 2000, tries: 1 });
  resolver.setServers([dns.address]);
  const result = await dkimVerify(message, { resolver: (name: string) => resolver.resolveTxt(name) });
  return (
    result.results
      .filter((r) => r.status.result !== 'none')
      // mailauth 4.13 reports the a= value as `algo` (its typings say `algorithm`).
      .map((r: DKIMResult & { algo?: string }) => ({
        domain: r.signingDomain,
        selector: r.selector ?? '',
        algorithm: r.algo ?? r.algorithm ?? '',
        result: r.status.result,
      }))
  );
}

const PYTHON_VERIFY = `
import sys, json, dkim, dkim.util, dns.resolver
resolver = dns.resolver.Resolver(configure=False)
resolver.nameservers = ["127.0.0.1"]
resolver.port = int(sys.argv[1])
resolver.lifetime = 5
def txt(name, timeout=5):
    try:
        answer = resolver.resolve(name.decode().rstrip("."), "TXT")
    except Exception:
        return None
    return b"".join(answer[0].strings)
message = sys.stdin.buffer.read()
headers, _ = dkim.rfc822_parse(message)
signatures = [v for (n, v) in headers if n.lower() == b"dkim-signature"]
checker = dkim.DKIM(message)
out = []
for i, value in enumerate(signatures):
    tags = dkim.util.parse_tag_value(value)
    try:
        ok = checker.verify(idx=i, dnsfunc=txt)
    except dkim.DKIMException:
        ok = False
    out.append({"domain": tags[b"d"].decode(), "selector": tags[b"s"].decode(), "algorithm": tags[b"a"].decode(), "result": "pass" if ok else "fail"})
print(json.dumps(out))
`;

export async function verifyWithPython(message: Buffer, dns: DnsServer): Promise<Verdict[]> {
  const result = await runProcess('/usr/bin/python3', ['-c', PYTHON_VERIFY, String(dns.port)], message, 20_000);
  if (result.code !== 0) throw new Error(`python3-dkim failed: ${result.stderr}`);
  return JSON.parse(result.stdout) as Verdict[];
}
