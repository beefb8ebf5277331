// The shape of a one-mailbox header value (From:), read the way RFC 5322 reads it: quoted strings,
// (nested) comments and one <angle-addr>. Used to refuse the values that different mail programs
// read differently (parser differentials), so that the address smarthost checked is the one every
// receiver and reader sees: a second <address>, an unquoted address in the display name, text after
// the <address>, a source route, unbalanced quotes, comments or brackets, control characters.

export interface MailboxShape {
  /** Text outside quotes, comments and the angle address, before it (or all of it without one). */
  readonly before: string;
  /** Text outside quotes and comments after the angle address. */
  readonly after: string;
  /** The angle address's content, or null when there is none. */
  readonly angle: string | null;
  readonly angles: number;
  readonly balanced: boolean;
}

/** C0 and C1 controls (tab excepted), DEL, and the bidirectional formatting characters. */
export const CONTROL_OR_BIDI = /[\u0000-\u0008\u000a-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/u;

export function scanMailbox(value: string): MailboxShape {
  const state = { quoted: false, comment: 0, inAngle: false, escaped: false, balanced: true };
  let before = '';
  let after = '';
  let angle = '';
  let angles = 0;
  for (const ch of value) {
    if (state.escaped) state.escaped = false;
    else if ((state.quoted || state.comment > 0) && ch === '\\') state.escaped = true;
    else if (state.quoted) state.quoted = ch !== '"';
    else if (state.comment > 0) state.comment += ch === '(' ? 1 : ch === ')' ? -1 : 0;
    else if (ch === '"') state.quoted = true;
    else if (ch === '(') state.comment = 1;
    else if (state.inAngle) {
      if (ch === '>') state.inAngle = false;
      else if (ch === '<') state.balanced = false;
      else angle += ch;
    } else if (ch === '<') {
      state.inAngle = true;
      angles += 1;
    } else if (ch === '>' || ch === ')') state.balanced = false;
    else if (angles > 0) after += ch;
    else before += ch;
  }
  const balanced = state.balanced && !state.quoted && state.comment === 0 && !state.inAngle && !state.escaped;
  return { before, after, angle: angles > 0 ? angle : null, angles, balanced };
}
