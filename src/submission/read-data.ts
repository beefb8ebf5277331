// Reading a DATA stream into memory with the size limit enforced while reading: once the message is
// over the limit, the rest is drained and dropped, never buffered, and null is returned.
import type { SMTPServerDataStream } from 'smtp-server';

export async function readData(stream: SMTPServerDataStream): Promise<Buffer | null> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    if (stream.sizeExceeded) {
      chunks.length = 0;
      continue;
    }
    chunks.push(chunk);
  }
  return stream.sizeExceeded ? null : Buffer.concat(chunks);
}
