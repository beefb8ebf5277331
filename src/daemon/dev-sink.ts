// Development only (`devSink` in the configuration, as config/dev.yaml has it): a mail sink started
// with the daemon, the destination of every delivery (the schema requires delivery.routes to be
// { "*": devSink.listen }, on loopback), so that `npm start` shows a message arriving, signed, with
// nothing else installed and nothing able to leave the machine. It is an smtp-server instance without
// AUTH or TLS that writes each message it receives to a new file in devSink.dir, named after the
// time and the smarthost queue ID in its Received: field, with Return-Path: and X-Envelope-To: lines
// in front (the envelope, as a local delivery agent adds them), and logs it ("dev sink received").
// Bounded: one message at a time per connection, at most limits.maxMessageSize bytes held (a larger
// one is read, dropped and refused with 552), on loopback only (the schema checks devSink.listen).
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SMTPServer, type SMTPServerDataStream, type SMTPServerSession } from 'smtp-server';
import { parseEndpoint } from '../config/schema.js';
import type { Logger } from '../platform/logger.js';

export interface DevSinkOptions {
  readonly listen: string;
  readonly dir: string;
  readonly maxMessageSize: number;
}

export interface DevSink {
  /** Where it listens ("127.0.0.1:2525"). */
  readonly address: string;
  close(): Promise<void>;
}

export async function startDevSink(options: DevSinkOptions, logger: Logger): Promise<DevSink> {
  mkdirSync(options.dir, { recursive: true, mode: 0o750 });
  const server = new SMTPServer({
    name: 'smarthost-dev-sink',
    banner: 'smarthost development sink: messages are written to files, never delivered',
    authOptional: true,
    disabledCommands: ['AUTH', 'STARTTLS'],
    size: options.maxMessageSize,
    logger: false,
    onData: (stream: SMTPServerDataStream, session: SMTPServerSession, callback: (err?: Error | null) => void) => {
      const chunks: Buffer[] = [];
      let size = 0;
      stream.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size <= options.maxMessageSize) chunks.push(chunk); // past the limit: read and dropped, refused below
      });
      stream.on('end', () => {
        if (stream.sizeExceeded || size > options.maxMessageSize)
          return callback(Object.assign(new Error('message too big for the dev sink'), { responseCode: 552 }));
        const data = Buffer.concat(chunks);
        const envelope = session.envelope;
        const from = envelope.mailFrom ? envelope.mailFrom.address : '';
        const to = envelope.rcptTo.map((r) => r.address);
        const queueId = /\(smarthost\) with \S+ id ([0-9A-Z]{14})/.exec(data.toString('latin1'))?.[1];
        const file = join(options.dir, `${fileStamp(new Date())}-${queueId ?? 'message'}-${randomBytes(3).toString('hex')}.eml`);
        const head = `Return-Path: <${from}>\r\nX-Envelope-To: ${to.join(', ')}\r\n`;
        try {
          writeFileSync(file, Buffer.concat([Buffer.from(head), data]), { mode: 0o640, flag: 'wx' });
        } catch (err) {
          logger.error({ err, file }, 'the dev sink cannot write the message');
          return callback(Object.assign(new Error('cannot write the message'), { responseCode: 451 }));
        }
        const signed = /^DKIM-Signature:/im.test(data.toString('latin1'));
        logger.info({ queueId, file, from, to, size: data.length, dkim: signed }, 'dev sink received');
        callback();
      });
    },
  });
  const { host, port } = parseEndpoint(options.listen);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', (err) => logger.warn({ err }, 'dev sink connection error'));
  logger.warn({ listen: options.listen, dir: options.dir }, 'development sink started: every message is delivered to a file here');
  return {
    address: options.listen,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

function fileStamp(d: Date): string {
  return d
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
}
