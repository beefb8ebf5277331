// Envelope and header address helpers: splitting an address into local part and domain, and the
// canonical (lower-case domain) forms used for policy checks and per-domain delivery.

export interface ParsedAddress {
  readonly local: string;
  readonly domain: string;
}

/** Split at the last "@"; null when there is no local part or no domain. */
export function parseAddress(address: string): ParsedAddress | null {
  const at = address.lastIndexOf('@');
  if (at <= 0 || at === address.length - 1) return null;
  const domain = address.slice(at + 1);
  if (/[\s<>()[\],;:"\\]/.test(domain)) return null;
  return { local: address.slice(0, at), domain: lowerDomain(domain) };
}

/** A domain as stored and compared: lower case, without a trailing dot. */
export function lowerDomain(domain: string): string {
  return domain.toLowerCase().replace(/\.$/, '');
}

/** The lower-case domain of an address, "" when it has none. */
export function domainOf(address: string): string {
  return parseAddress(address)?.domain ?? '';
}

/** Local part kept as given (it may be case-sensitive), domain lower-cased. */
export function canonicalAddress(address: string): string {
  const parsed = parseAddress(address);
  return parsed ? `${parsed.local}@${parsed.domain}` : address;
}
