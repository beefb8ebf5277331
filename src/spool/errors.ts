// Translating a failed spool write into the reply the client gets: storage exhausted is 452 4.3.1
// (try later, the disk may have room then), anything else (I/O error, read-only file system, lock
// held past the busy timeout) is 451 4.3.0. Either way the client keeps the message and retries.
// Also the error for a spool that cannot be used at all (SpoolError).
import { errorCode } from '../platform/error-code.js';
import { SmtpError } from '../smtp/errors.js';
import { Replies } from '../smtp/replies.js';

function isStorageFull(err: unknown): boolean {
  const code = errorCode(err);
  return code === 'SQLITE_FULL' || code === 'ENOSPC' || /database or disk is full/i.test(String(err));
}

export function spoolWriteError(err: unknown): SmtpError {
  return isStorageFull(err)
    ? new SmtpError('SMARTHOST_E_SPOOL_FULL', Replies.insufficientStorage, { cause: err })
    : new SmtpError('SMARTHOST_E_SPOOL_WRITE', Replies.localError, { cause: err });
}

export type SpoolErrorCode = 'SMARTHOST_E_SPOOL_ACCESS' | 'SMARTHOST_E_SPOOL_LOCKED' | 'SMARTHOST_E_SPOOL_DAMAGED';

/** A spool the daemon or the CLI will not use: not accessible, in use by another daemon, or damaged. */
export class SpoolError extends Error {
  constructor(
    readonly code: SpoolErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'SpoolError';
  }
}
