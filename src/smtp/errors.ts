// Named errors that reach an SMTP peer: a stable SMARTHOST_E_* code for logs and tests, and the reply to
// send. The shape (message + responseCode) is what smtp-server's handler callbacks expect.
import { replyText, type Reply } from './reply.js';

export type SmtpErrorCode =
  | 'SMARTHOST_E_AUTH_REQUIRED'
  | 'SMARTHOST_E_AUTH_FAILED'
  | 'SMARTHOST_E_AUTHZID'
  | 'SMARTHOST_E_SENDER_NOT_OWNED'
  | 'SMARTHOST_E_HEADER_FROM'
  | 'SMARTHOST_E_NO_DKIM_KEY'
  | 'SMARTHOST_E_TOO_BIG'
  | 'SMARTHOST_E_SPOOL_WRITE'
  | 'SMARTHOST_E_SPOOL_FULL'
  | 'SMARTHOST_E_SYNTAX'
  | 'SMARTHOST_E_UNSUPPORTED_PARAMETER'
  | 'SMARTHOST_E_AUTH_BLOCKED'
  | 'SMARTHOST_E_TOO_MANY_CONNECTIONS'
  | 'SMARTHOST_E_CLIENT_NOT_LISTED'
  | 'SMARTHOST_E_RATE_LIMIT'
  | 'SMARTHOST_E_DATA_ABORTED';

export class SmtpError extends Error {
  readonly responseCode: number;
  constructor(
    readonly code: SmtpErrorCode,
    readonly reply: Reply,
    options?: { cause?: unknown },
  ) {
    super(replyText(reply), options);
    this.name = 'SmtpError';
    this.responseCode = reply.code;
  }
}
