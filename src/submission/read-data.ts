// Reading a DATA stream into memory with the size limit enforced while reading: once the message is
// over the limit, the rest is drained and dropped, never buffered, and null is returned. A client
// that goes away (or is cut off by a deadline) before the final dot is SMARTHOST_E_DATA_ABORTED.
import type { SMTPServerDataStream } from 'smtp-server';
import { SmtpError } from '../smtp/errors.js';
import { Replies } from '../smtp/replies.js';

export async function readData(stream: SMTPServerDataStream): Promise<Buffer | null> {
  const chunks: Buffer[] = [];
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      if (stream.sizeExceeded) {
        chunks.length = 0;
        continue;
      }
      chunks.push(chunk);
    }
  } catch (err) {
    throw new SmtpError('SMARTHOST_E_DATA_ABORTED', Replies.dataAborted, { cause: err });
  }
  return stream.sizeExceeded ? null : Buffer.concat(chunks);
}
