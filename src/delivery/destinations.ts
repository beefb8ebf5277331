// Where a recipient domain's mail goes: the ordered list of (host, address, port) to try, or a final
// answer for every recipient when there is nowhere to go.
//
// An explicit route (routes.ts) wins and is trusted. Otherwise the domain's MX records are looked up
// through the Resolver seam: lower preference first, random order among equal preferences (RFC 5321
// §5.1). No MX records (NODATA) means the domain itself is the only host (the "implicit MX"). A null
// MX (RFC 7505: the single record "0 .") bounces at once with 5.1.10; a domain that does not exist
// (NXDOMAIN) bounces with 5.1.2; a DNS failure (SERVFAIL, timeout) defers with 4.4.3. Each host's A
// and then AAAA addresses are tried in turn; at most MAX_ADDRESSES addresses per attempt (Postfix's
// smtp_mx_address_limit). Hosts whose names do not exist are skipped; when no host has an address the
// recipients bounce (5.4.4) if every lookup was a definite "no", and are deferred otherwise (always
// deferred for a route: a route naming an unknown host is a configuration error to fix, not a bounce).
// Addresses that are not globally routable are dropped unless allowed (address-policy.ts); when that
// leaves nothing, the recipients are deferred with the reason, so an operator can see and fix it.
import { isIP } from 'node:net';
import { errorCode } from '../platform/error-code.js';
import type { MxRecord, Resolver } from '../platform/resolver.js';
import { isNotFound } from '../platform/resolver.js';
import { reply, type Reply } from '../smtp/reply.js';
import { isPrivateAddress } from './address-policy.js';
import { hostName } from './reply-policy.js';
import { RouteTable } from './routes.js';
import type { OutcomeStatus, Relay } from './types.js';

export const MAX_ADDRESSES = 5;

/** Where to connect: an MX (or route) host, one of its addresses, and the port. */
export type Destination = Relay;

export type DestinationAnswer =
  | { readonly ok: true; readonly destinations: readonly Destination[] }
  | { readonly ok: false; readonly status: Exclude<OutcomeStatus, 'delivered'>; readonly reply: Reply };

export interface DestinationOptions {
  readonly port: number;
  readonly routes: Readonly<Record<string, string>>;
  readonly allowPrivateDestinations: boolean;
}

interface HostAddresses {
  readonly host: string;
  readonly addresses: readonly string[];
  /** Every lookup for the host answered "no such name or record". */
  readonly notFound: boolean;
}

/** MX hosts by preference, shuffled among equal preferences; null MX entries ("" / ".") removed. */
export function orderMx(records: readonly MxRecord[], random: () => number = Math.random): string[] {
  const keyed = records
    .filter((r) => !isNullExchange(r.exchange))
    .map((r) => ({ host: r.exchange.replace(/\.$/, ''), priority: r.priority, tiebreak: random() }));
  keyed.sort((a, b) => a.priority - b.priority || a.tiebreak - b.tiebreak);
  return keyed.map((r) => r.host);
}

/** RFC 7505: a domain that publishes only the null MX accepts no mail. */
export function isNullMx(records: readonly MxRecord[]): boolean {
  return records.length > 0 && records.every((r) => isNullExchange(r.exchange));
}

function isNullExchange(exchange: string): boolean {
  return exchange === '' || exchange === '.';
}

export class DestinationResolver {
  private readonly routes: RouteTable;

  constructor(
    private readonly resolver: Resolver,
    private readonly options: DestinationOptions,
    private readonly random: () => number = Math.random,
  ) {
    this.routes = new RouteTable(options.routes);
  }

  async resolve(domain: string): Promise<DestinationAnswer> {
    const route = this.routes.find(domain);
    if (route) return this.toDestinations([await this.addressesOf(route.host)], route.port, true, domain);
    let records: MxRecord[];
    try {
      records = await this.resolver.resolveMx(domain);
    } catch (err) {
      if (errorCode(err) === 'ENODATA') return this.toDestinations([await this.addressesOf(domain)], this.options.port, false, domain);
      if (errorCode(err) === 'ENOTFOUND')
        return bounce('5.1.2', `Host or domain name not found. Name service error for name=${domain} type=MX: Host not found`);
      return defer('4.4.3', `Host or domain name lookup failed: name=${domain} type=MX: ${errorCode(err) || (err as Error).message}`);
    }
    if (isNullMx(records)) return bounce('5.1.10', `Recipient domain ${domain} does not accept mail (null MX)`);
    const hosts = await Promise.all(orderMx(records, this.random).map((host) => this.addressesOf(host)));
    return this.toDestinations(hosts, this.options.port, false, domain);
  }

  /** A host's A then AAAA addresses; an IP literal is its own address. */
  private async addressesOf(host: string): Promise<HostAddresses> {
    if (isIP(host) !== 0) return { host, addresses: [host], notFound: false };
    const [v4, v6] = await Promise.allSettled([this.resolver.resolve4(host), this.resolver.resolve6(host)]);
    const addresses = [...(v4.status === 'fulfilled' ? v4.value : []), ...(v6.status === 'fulfilled' ? v6.value : [])];
    const notFound = [v4, v6].every((r) => r.status === 'rejected' && isNotFound(r.reason));
    return { host, addresses, notFound };
  }

  private toDestinations(hosts: readonly HostAddresses[], port: number, trusted: boolean, domain: string): DestinationAnswer {
    const all = hosts.flatMap((h) => h.addresses.map((address) => ({ host: h.host, address, port })));
    if (all.length === 0) {
      const names = hosts.map((h) => h.host).join(', ');
      if (!trusted && hosts.every((h) => h.notFound)) return bounce('5.4.4', `Host or domain name not found: no address for ${names}`);
      return defer('4.4.3', `Host or domain name lookup failed: no address found for ${names}`);
    }
    const allowed = trusted || this.options.allowPrivateDestinations ? all : all.filter((d) => !isPrivateAddress(d.address));
    if (allowed.length === 0) {
      const refused = all.map(hostName).join(', ');
      return defer('4.4.0', `delivery to ${domain} refused: ${refused} is not a public address (delivery.allowPrivateDestinations is off)`);
    }
    return { ok: true, destinations: allowed.slice(0, MAX_ADDRESSES) };
  }
}

function bounce(enhanced: string, text: string): DestinationAnswer {
  return { ok: false, status: 'bounced', reply: reply(550, enhanced, text) };
}

function defer(enhanced: string, text: string): DestinationAnswer {
  return { ok: false, status: 'deferred', reply: reply(451, enhanced, text) };
}
