// Reading what a remote server said into a Reply value. nodemailer hands over a reply as text
// ("550 5.1.1 <a@b>: Recipient address rejected", continuation lines joined with "\n"); the
// enhanced status code is optional on the wire, so a missing one becomes X.0.0 of the reply's class,
// and one whose class contradicts the reply code takes the reply code's class (as Postfix does).
import { reply, type Reply } from '../smtp/reply.js';

const LINE = /^(\d{3})(?:[ -](.*))?$/;
const ENHANCED = /^([245])\.(\d{1,3}\.\d{1,3})(?:\s+|$)/;

export function parseRemoteReply(text: string): Reply | null {
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== '');
  const first = LINE.exec(lines[0]?.trim() ?? '');
  if (!first) return null;
  const code = Number(first[1]);
  if (code < 200 || code > 599) return null;
  const klass = String(code)[0];
  const texts = lines.map((l) => (LINE.exec(l.trim())?.[2] ?? l).trim());
  const enhanced = ENHANCED.exec(texts[0] ?? '');
  const detail = enhanced ? `${klass}.${enhanced[2]}` : `${klass}.0.0`;
  const rest = texts
    .map((t) => t.replace(ENHANCED, ''))
    .join(' ')
    .trim();
  return reply(code, detail, rest);
}
