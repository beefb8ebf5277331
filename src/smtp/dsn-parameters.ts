// The parameters of the DSN extension (RFC 3461) as smarthost keeps them, from submission through
// the spool to delivery and the notifications: per message RET (FULL or HDRS) and ENVID, per
// recipient NOTIFY and ORCPT, xtext already decoded. Which notifications a recipient asked for:
// NOTIFY=NEVER none; a list (SUCCESS, FAILURE, DELAY) exactly those; no NOTIFY the default of
// RFC 3461 §4.1, failures and delays but no success. Also the spool's text form of NOTIFY, and the
// parameters as sent on to a next hop that offers DSN (xtext-encoded, RFC 3461 §4).

export type NotifyEvent = 'SUCCESS' | 'FAILURE' | 'DELAY';

export interface MessageDsn {
  /** RET: FULL returns the whole message in a failure DSN, HDRS (or null, not given) its headers. */
  readonly ret: 'FULL' | 'HDRS' | null;
  /** ENVID, decoded: the client's identifier for this transmission, echoed in every DSN. */
  readonly envid: string | null;
}

export interface RecipientDsn {
  /** NOTIFY as given: "NEVER", or a list of events; null when not given. */
  readonly notify: 'NEVER' | readonly NotifyEvent[] | null;
  /** ORCPT, decoded: "addr-type;address" (e.g. "rfc822;a@example.com"). */
  readonly orcpt: string | null;
}

/** All of a transaction's DSN parameters. */
export interface EnvelopeDsn {
  readonly message: MessageDsn;
  /** By recipient address; a recipient missing here gave none. */
  readonly recipients: ReadonlyMap<string, RecipientDsn>;
}

export const NO_MESSAGE_DSN: MessageDsn = Object.freeze({ ret: null, envid: null });
export const NO_RECIPIENT_DSN: RecipientDsn = Object.freeze({ notify: null, orcpt: null });

const EVENTS: readonly string[] = ['SUCCESS', 'FAILURE', 'DELAY'];

/** Whether a recipient's NOTIFY asks for a DSN on `event`. */
export function wantsNotice(dsn: RecipientDsn, event: NotifyEvent): boolean {
  if (dsn.notify === null) return event !== 'SUCCESS';
  return dsn.notify !== 'NEVER' && dsn.notify.includes(event);
}

/** NOTIFY values (upper case, as smtp-server gives them) as kept; null when none were given. */
export function parseNotify(values: readonly string[] | undefined): RecipientDsn['notify'] {
  if (!values || values.length === 0) return null;
  if (values.includes('NEVER')) return 'NEVER';
  return [...new Set(values.filter((v): v is NotifyEvent => EVENTS.includes(v)))];
}

/** The spool's text form: "NEVER", "SUCCESS,FAILURE" …, or null. */
export function notifyText(notify: RecipientDsn['notify']): string | null {
  if (notify === null) return null;
  return notify === 'NEVER' ? 'NEVER' : notify.join(',');
}

export function notifyFromText(text: string | null): RecipientDsn['notify'] {
  return text === null ? null : parseNotify(text.split(','));
}

export function retFromText(text: string | null): MessageDsn['ret'] {
  return text === 'FULL' || text === 'HDRS' ? text : null;
}

/** " RET=… ENVID=…" for MAIL FROM ("" when neither was given). */
export function mailParameters(dsn: MessageDsn): string {
  return `${dsn.ret ? ` RET=${dsn.ret}` : ''}${dsn.envid !== null ? ` ENVID=${xtext(dsn.envid)}` : ''}`;
}

/** " NOTIFY=… ORCPT=…" for RCPT TO ("" when neither was given). */
export function rcptParameters(dsn: RecipientDsn): string {
  const notify = notifyText(dsn.notify);
  return `${notify !== null ? ` NOTIFY=${notify}` : ''}${dsn.orcpt !== null ? ` ORCPT=${xtext(dsn.orcpt)}` : ''}`;
}

/** RFC 3461 xtext: "+" and "=", controls, space and every byte beyond ASCII as "+XX". */
export function xtext(value: string): string {
  if (/^[\x21-\x2a\x2c-\x3c\x3e-\x7e]*$/.test(value)) return value;
  let out = '';
  for (const byte of Buffer.from(value, 'utf8')) {
    const safe = byte >= 0x21 && byte <= 0x7e && byte !== 0x2b && byte !== 0x3d;
    out += safe ? String.fromCharCode(byte) : `+${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}
