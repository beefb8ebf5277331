// The DKIM stage's contract with the rest of the pipeline: a finished message in, the same message
// with DKIM-Signature fields prepended out. Submission calls it before spooling, bounce for DSNs.

/** Signs a finished CRLF message for the domain of `fromAddress`; may throw an SmtpError to refuse it. */
export type MessageSigner = (message: Buffer, fromAddress: string, queueId: string) => Promise<Buffer>;
