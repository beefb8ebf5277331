// SMTP replies as values: { code, enhanced, text }. Every reply smarthost sends to a client, and every
// remote reply it records, goes through these types; handlers never format reply strings themselves.
// Enhanced status codes follow RFC 3463 and the IANA registry (RFC 5248).

export interface Reply {
  readonly code: number;
  readonly enhanced: string;
  readonly text: string;
}

const ENHANCED = /^([245])\.(\d{1,3})\.(\d{1,3})$/;
const LEADING_ENHANCED = /^[245]\.\d{1,3}\.\d{1,3} /;

export function reply(code: number, enhanced: string, text: string): Reply {
  if (code < 200 || code > 599) throw new RangeError(`not an SMTP reply code: ${code}`);
  const match = ENHANCED.exec(enhanced);
  if (!match || match[1] !== String(code)[0]) throw new RangeError(`bad enhanced code ${enhanced} for ${code}`);
  return Object.freeze({ code, enhanced, text });
}

/** The part after the three-digit code: "5.7.1 text". */
export function replyText(r: Reply): string {
  return `${r.enhanced} ${r.text}`;
}

/** The full reply line: "553 5.7.1 text". */
export function formatReply(r: Reply): string {
  return `${r.code} ${replyText(r)}`;
}

/** Whether a text (after the code) already carries an enhanced status code. */
export function hasEnhancedCode(text: string): boolean {
  return LEADING_ENHANCED.test(text);
}

export function isPermanent(r: Pick<Reply, 'code'>): boolean {
  return r.code >= 500;
}

export function isTransient(r: Pick<Reply, 'code'>): boolean {
  return r.code >= 400 && r.code < 500;
}

export function isPositive(r: Pick<Reply, 'code'>): boolean {
  return r.code >= 200 && r.code < 300;
}
