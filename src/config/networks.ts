// Client networks in the configuration (relay.clients[].networks, proxy.trusted): CIDR syntax, the
// check that a network stays inside the private, loopback and link-local ranges, and matching a
// client address against a list of networks. A plain address is a network of one ("10.0.0.5" is
// 10.0.0.5/32, "fd00::5" is fd00::5/128). IPv4-mapped IPv6 addresses (::ffff:10.0.0.5) are judged
// as the IPv4 address they carry, both in the configuration and in client addresses, so a
// dual-stack listener matches an IPv4 entry. Matching is a scan of the list: O(networks).
import ipaddr from 'ipaddr.js';

export interface Network {
  readonly address: ipaddr.IPv4 | ipaddr.IPv6;
  readonly bits: number;
  /** As written in the configuration. */
  readonly text: string;
}

/** The ranges a relay network may lie in without relay.allowPublicNetworks. */
const LOCAL_RANGES: readonly Network[] = [
  '10.0.0.0/8',
  '172.16.0.0/12',
  '192.168.0.0/16',
  '127.0.0.0/8',
  '169.254.0.0/16',
  '::1/128',
  'fc00::/7',
  'fe80::/10',
].map((text) => {
  const network = parseNetwork(text);
  if (typeof network === 'string') throw new Error(network);
  return network;
});

/** The network, or why the text is not one (for a config error message). */
export function parseNetwork(text: string): Network | string {
  const [host = '', prefix, extra] = text.split('/');
  if (extra !== undefined || !ipaddr.isValid(host)) return 'must be an IP address or a network in CIDR notation ("10.0.5.0/24")';
  const parsed = ipaddr.process(host);
  const mapped = parsed.kind() === 'ipv4' && ipaddr.parse(host).kind() === 'ipv6';
  const max = parsed.kind() === 'ipv4' ? 32 : 128;
  let bits = max;
  if (prefix !== undefined) {
    if (!/^\d{1,3}$/.test(prefix)) return 'must be an IP address or a network in CIDR notation ("10.0.5.0/24")';
    bits = Number(prefix) - (mapped ? 96 : 0);
    if (bits < 0 || bits > max) return `prefix length /${prefix} is out of range`;
  }
  const base = networkAddress(parsed, bits);
  if (base.toString() !== parsed.toString()) {
    return `${text} has host bits set; the network is ${base.toString()}/${bits}`;
  }
  return { address: parsed, bits, text };
}

function networkAddress(address: ipaddr.IPv4 | ipaddr.IPv6, bits: number): ipaddr.IPv4 | ipaddr.IPv6 {
  const bytes = address.toByteArray();
  for (let i = 0; i < bytes.length; i++) {
    const keep = Math.max(0, Math.min(8, bits - i * 8));
    bytes[i] = (bytes[i] ?? 0) & ((0xff << (8 - keep)) & 0xff);
  }
  return ipaddr.fromByteArray(bytes);
}

/** Whether every address of the network is private, loopback or link-local. */
export function isLocalNetwork(network: Network): boolean {
  return LOCAL_RANGES.some((range) => range.bits <= network.bits && contains(range, network.address));
}

function contains(network: Network, address: ipaddr.IPv4 | ipaddr.IPv6): boolean {
  return address.kind() === network.address.kind() && address.match(network.address, network.bits);
}

/** A client address as a comparable value, or null when it is not an IP address. */
export function parseClientAddress(address: string): ipaddr.IPv4 | ipaddr.IPv6 | null {
  return ipaddr.isValid(address) ? ipaddr.process(address) : null;
}

/** The longest prefix among `networks` that holds `address`, or -1 when none does. */
export function matchLength(networks: readonly Network[], address: ipaddr.IPv4 | ipaddr.IPv6): number {
  let best = -1;
  for (const network of networks) if (network.bits > best && contains(network, address)) best = network.bits;
  return best;
}

/** Whether `address` (a client address as the socket gives it) is in one of `networks`. */
export function inNetworks(networks: readonly Network[], address: string): boolean {
  const parsed = parseClientAddress(address);
  return parsed !== null && matchLength(networks, parsed) >= 0;
}
