// MTA-STS (RFC 8461), the pure part: reading the `_mta-sts.<domain>` TXT record, parsing the policy
// file, and deciding which MX hosts a policy allows. No I/O here (mta-sts-policies.ts looks records
// up, fetches and caches policies).
//
// The TXT record (§3.1): of the domain's TXT records, those beginning with "v=STSv1" count; exactly
// one must remain, of the form `v=STSv1; id=<1-32 letters and digits>[; key=value]…`, else the
// domain has no policy available (a cached one still applies). The strings of one record are joined.
//
// The policy (§3.2): `key: value` lines ended by CRLF or LF; version (STSv1), mode
// (enforce | testing | none) and max_age (seconds) are required, and at least one mx unless the mode
// is none. Of a repeated key the first counts, except mx, which may be repeated; unknown keys are
// ignored. max_age above 31557600 (a year, the RFC's maximum) is taken as a year. Anything else
// makes the policy invalid, which is handled like a failed fetch. A policy larger than
// MAX_POLICY_BYTES is invalid too (§3.3 caps the fetch at 64 KiB).
//
// MX patterns (§4.1): a name matches itself; "*.example.com" matches exactly one more label on the
// left (mx1.example.com, not example.com, not a.b.example.com). Case-insensitive, without a final dot.
import { lowerDomain } from '../smtp/address.js';

export const MAX_POLICY_BYTES = 64 * 1024;
export const MAX_MAX_AGE = 31_557_600;

export type StsMode = 'enforce' | 'testing' | 'none';

export interface StsPolicy {
  readonly mode: StsMode;
  /** MX patterns, lower case: "mx.example.com" or "*.example.com". */
  readonly mx: readonly string[];
  /** Seconds the policy may be cached. */
  readonly maxAge: number;
}

export type Parsed<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly reason: string };

const ID = /^[A-Za-z0-9]{1,32}$/;
const KEY = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$/;
const LABEL = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;

/** The policy id of a domain's TXT answer (`_mta-sts.<domain>`), or why there is none. */
export function parseStsRecord(records: readonly (readonly string[])[]): Parsed<string> {
  const sts = records.map((strings) => strings.join('')).filter((text) => text.startsWith('v=STSv1'));
  if (sts.length === 0) return { ok: false, reason: 'no v=STSv1 TXT record' };
  if (sts.length > 1) return { ok: false, reason: `${sts.length} v=STSv1 TXT records` };
  const fields = (sts[0] as string).split(';').map((field) => field.trim());
  if (fields[0] !== 'v=STSv1') return { ok: false, reason: 'the TXT record does not start with "v=STSv1;"' };
  if (fields.at(-1) === '') fields.pop();
  let id: string | undefined;
  for (const field of fields.slice(1)) {
    const eq = field.indexOf('=');
    const key = field.slice(0, eq);
    const value = field.slice(eq + 1);
    if (eq <= 0 || !KEY.test(key) || !/^[!-:<>-~]+$/.test(value)) return { ok: false, reason: `bad TXT field "${field}"` };
    if (key === 'id' && id === undefined) {
      if (!ID.test(value)) return { ok: false, reason: `bad id "${value}"` };
      id = value;
    }
  }
  return id === undefined ? { ok: false, reason: 'the TXT record has no id' } : { ok: true, value: id };
}

/** A policy file's text, parsed. */
export function parseStsPolicy(text: string): Parsed<StsPolicy> {
  if (Buffer.byteLength(text) > MAX_POLICY_BYTES) return { ok: false, reason: `policy larger than ${MAX_POLICY_BYTES} bytes` };
  const first = new Map<string, string>();
  const mx: string[] = [];
  const lines = text.split(/\r?\n/);
  if (lines.at(-1) === '') lines.pop();
  for (const line of lines) {
    const colon = line.indexOf(':');
    const key = line.slice(0, colon);
    const value = line.slice(colon + 1).trim();
    if (colon <= 0 || !KEY.test(key)) return { ok: false, reason: `bad policy line "${line.slice(0, 80)}"` };
    if (key === 'mx') {
      const pattern = mxPattern(value);
      if (pattern === null) return { ok: false, reason: `bad mx pattern "${value.slice(0, 80)}"` };
      mx.push(pattern);
    } else if (!first.has(key)) first.set(key, value);
  }
  const version = first.get('version');
  const mode = first.get('mode');
  const maxAge = first.get('max_age');
  if (version !== 'STSv1') return { ok: false, reason: version === undefined ? 'no version' : `version "${version}" is not STSv1` };
  if (mode !== 'enforce' && mode !== 'testing' && mode !== 'none')
    return { ok: false, reason: mode === undefined ? 'no mode' : `unknown mode "${mode}"` };
  if (maxAge === undefined || !/^\d{1,10}$/.test(maxAge))
    return { ok: false, reason: maxAge === undefined ? 'no max_age' : `bad max_age "${maxAge}"` };
  if (mx.length === 0 && mode !== 'none') return { ok: false, reason: 'no mx' };
  return { ok: true, value: { mode, mx, maxAge: Math.min(Number(maxAge), MAX_MAX_AGE) } };
}

/** A valid mx value in lower case ("*." allowed as the first label only), or null. */
function mxPattern(value: string): string | null {
  const name = lowerDomain(value);
  const labels = (name.startsWith('*.') ? name.slice(2) : name).split('.');
  return labels.length >= 1 && labels.every((label) => LABEL.test(label)) ? name : null;
}

/** Whether an MX host name matches one of a policy's patterns. */
export function mxAllowed(policy: Pick<StsPolicy, 'mx'>, host: string): boolean {
  const name = lowerDomain(host);
  const parent = name.slice(name.indexOf('.') + 1);
  return policy.mx.some((pattern) => (pattern.startsWith('*.') ? name.includes('.') && parent === pattern.slice(2) : pattern === name));
}
