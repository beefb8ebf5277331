// Which destination addresses delivery may connect to. An MX that resolves to a loopback, private,
// link-local, unspecified (or otherwise not globally routable) address is refused, so a hostile or
// broken DNS answer cannot turn the relay against the machine's own services or its LAN. Operators
// opt out with `delivery.allowPrivateDestinations`, and an explicit route is always trusted.
// IPv4-mapped IPv6 addresses are judged as the IPv4 address they carry.
import ipaddr from 'ipaddr.js';

const REFUSED = new Set([
  'unspecified',
  'broadcast',
  'multicast',
  'linkLocal',
  'loopback',
  'private',
  'uniqueLocal',
  'carrierGradeNat',
  'reserved',
]);

export function isPrivateAddress(address: string): boolean {
  if (!ipaddr.isValid(address)) return true;
  return REFUSED.has(ipaddr.process(address).range());
}
