// Which sender addresses a user may use. A user's allow list holds exact addresses ("a@example.com")
// and whole domains ("@example.com", that domain only, not its subdomains). Addresses compare with
// the domain case-insensitive and the local part case-insensitive too (as mailbox providers do), so
// "Alerts@Example.COM" matches "alerts@example.com".
import { parseAddress } from '../smtp/address.js';

export function isSenderAllowed(allowed: readonly string[], address: string): boolean {
  const parsed = parseAddress(address);
  if (!parsed) return false;
  const full = `${parsed.local}@${parsed.domain}`.toLowerCase();
  return allowed.some((entry) => {
    const rule = entry.toLowerCase();
    return rule.startsWith('@') ? rule.slice(1) === parsed.domain : rule === full;
  });
}
