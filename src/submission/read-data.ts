// Reading a DATA stream into memory with the size limit enforced while reading: every chunk goes
// through the line-ending normaliser into a MessageBuffer as it arrives. Once the message is over
// the limit, the rest is drained and dropped, never buffered, and null is returned. A client that
// goes away (or is cut off by a deadline) before the final dot is SMARTHOST_E_DATA_ABORTED.
import type { SMTPServerDataStream } from 'smtp-server';
import { SmtpError } from '../smtp/errors.js';
import { CrlfNormalizer } from '../smtp/line-endings.js';
import { Replies } from '../smtp/replies.js';
import { MessageBuffer, type ReceivedMessage } from './message-buffer.js';

export async function readData(stream: SMTPServerDataStream): Promise<ReceivedMessage | null> {
  let buffer: MessageBuffer | null = new MessageBuffer();
  let normalizer: CrlfNormalizer | null = new CrlfNormalizer(buffer);
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      if (stream.sizeExceeded) normalizer = buffer = null;
      normalizer?.write(chunk);
    }
  } catch (err) {
    throw new SmtpError('SMARTHOST_E_DATA_ABORTED', Replies.dataAborted, { cause: err });
  }
  if (stream.sizeExceeded || !normalizer || !buffer) return null;
  normalizer.end();
  return buffer.finish();
}
