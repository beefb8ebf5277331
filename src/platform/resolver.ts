// The DNS seam. Delivery (MX, A, AAAA) and `dkim check` (TXT) ask through a Resolver, built from
// `dns.servers` (a loopback DNS server in tests, the system's resolvers otherwise) with a timeout.
// Errors keep node:dns's codes (ENOTFOUND/ENODATA for "no such name/record", ETIMEOUT, ESERVFAIL…),
// so callers can tell a permanent answer from a temporary failure.
import { Resolver as NodeResolver } from 'node:dns/promises';
import { errorCode } from './error-code.js';

export interface MxRecord {
  readonly exchange: string;
  readonly priority: number;
}

export interface Resolver {
  resolveMx(domain: string): Promise<MxRecord[]>;
  resolve4(host: string): Promise<string[]>;
  resolve6(host: string): Promise<string[]>;
  resolveTxt(name: string): Promise<string[][]>;
}

export interface ResolverOptions {
  readonly servers?: readonly string[] | undefined;
  readonly timeoutMs?: number;
  readonly tries?: number;
}

export function createResolver(options: ResolverOptions = {}): Resolver {
  const resolver = new NodeResolver({ timeout: options.timeoutMs ?? 5000, tries: options.tries ?? 2 });
  if (options.servers && options.servers.length > 0) resolver.setServers([...options.servers]);
  return {
    resolveMx: (domain) => resolver.resolveMx(domain),
    resolve4: (host) => resolver.resolve4(host),
    resolve6: (host) => resolver.resolve6(host),
    resolveTxt: (name) => resolver.resolveTxt(name),
  };
}

/** DNS error codes that mean "the name or record does not exist" (a definite answer). */
export function isNotFound(err: unknown): boolean {
  const code = errorCode(err);
  return code === 'ENOTFOUND' || code === 'ENODATA';
}
