// The parameters of the DSN extension (RFC 3461) as smarthost keeps them, from submission through
// the spool to delivery and the notifications: per message RET (FULL or HDRS) and ENVID, per
// recipient NOTIFY and ORCPT, xtext already decoded. Which notifications a recipient asked for:
// NOTIFY=NEVER none; a list (SUCCESS, FAILURE, DELAY) exactly those; no NOTIFY the default of
// RFC 3461 §4.1, failures and delays but no success. Also the spool's text form of NOTIFY.

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
