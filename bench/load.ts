// The load generator, run as its own process so its CPU is not counted against the relay: sends
// `messages` messages of about `size` bytes over `connections` pooled nodemailer connections
// (STARTTLS, AUTH when credentials are given), keeping one message in flight per connection, and
// prints one JSON line with the accept times. Bounded by count and by `timeLimitMs`.
// Two latencies per message: accept latency, from the end of the data (nodemailer has written the
// final "." to the socket) to the 250; and transaction latency, from sendMail (MAIL FROM) to the 250.
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { Readable } from 'node:stream';
import nodemailer from 'nodemailer';
import SMTPConnection from 'nodemailer/lib/smtp-connection';

export interface LoadOptions {
  readonly port: number;
  readonly user?: string;
  readonly password?: string;
  readonly connections: number;
  readonly messages: number;
  readonly size: number;
  readonly recipients: number;
  readonly from: string;
  readonly toDomain: string;
  readonly timeLimitMs: number;
}

export interface LoadResult {
  readonly accepted: number;
  readonly failed: number;
  readonly firstError?: string;
  /** performance.timeOrigin-relative ms of the first send and the last 250 (epoch ms). */
  readonly startedAt: number;
  readonly finishedAt: number;
  /** Per-message time from the end of the data to the 250, ms, sorted. */
  readonly latencies: number[];
  /** Per-message time from sendMail (MAIL FROM) to the 250, ms, sorted. */
  readonly transactionLatencies: number[];
  /** CPU time (user + system) the load generator itself used, µs. */
  readonly cpuUs: number;
  /** The load generator's own event-loop delay, p99, ms (1 ms resolution): how late it notices a reply. */
  readonly eventLoopDelayP99Ms: number;
}

/**
 * Report, with each send's result, when nodemailer finished writing the message data. The end of
 * the message source does not tell: nodemailer reads the whole source into its data stream as soon
 * as the recipients are accepted, before it sends DATA. nodemailer has no public hook for the end of
 * the data, so this wraps the connection's data stream (whose end is the final "." written to the
 * socket) and its send callback; the benchmark fails loudly should either change.
 */
interface ConnectionInternals {
  _createSendStream(this: ConnectionInternals, callback: unknown): NodeJS.ReadWriteStream;
  send(this: ConnectionInternals, envelope: unknown, message: unknown, done: (err: Error | null, info?: object) => void): void;
  dataEndedAt?: number;
}

function reportDataEnd(): void {
  const proto = SMTPConnection.prototype as unknown as ConnectionInternals;
  const createSendStream = proto._createSendStream;
  const send = proto.send;
  if (typeof createSendStream !== 'function' || typeof send !== 'function') throw new Error('nodemailer changed: no data stream to time');
  proto._createSendStream = function (callback) {
    const stream = createSendStream.call(this, callback);
    stream.once('end', () => (this.dataEndedAt = performance.now()));
    return stream;
  };
  proto.send = function (envelope, message, done) {
    send.call(this, envelope, message, (err, info) => done(err, info && { ...info, dataEndedAt: this.dataEndedAt }));
  };
}

function message(i: number, o: LoadOptions, to: readonly string[]): string {
  const head = [
    `From: Bench <${o.from}>`,
    `To: ${to.join(', ')}`,
    `Subject: bench message ${i}`,
    `Date: ${new Date().toUTCString().replace('GMT', '+0000')}`,
    `Message-ID: <bench.${i}.${Date.now()}@${o.from.split('@')[1]}>`,
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=us-ascii',
    '',
    '',
  ].join('\r\n');
  const line = 'The quick brown fox jumps over the lazy dog, again and again and again.\r\n';
  return head + line.repeat(Math.max(1, Math.ceil((o.size - head.length) / line.length)));
}

export async function runLoad(o: LoadOptions): Promise<LoadResult> {
  reportDataEnd();
  const transport = nodemailer.createTransport({
    pool: true,
    maxConnections: o.connections,
    maxMessages: Infinity,
    host: '127.0.0.1',
    port: o.port,
    requireTLS: true,
    tls: { rejectUnauthorized: false },
    ...(o.user ? { auth: { user: o.user, pass: o.password ?? '' } } : {}),
  });
  const latencies: number[] = [];
  const transactionLatencies: number[] = [];
  let failed = 0;
  let firstError: string | undefined;
  let next = 0;
  const deadline = Date.now() + o.timeLimitMs;
  const startedAt = Date.now();
  const cpu0 = process.cpuUsage();
  const loopDelay = monitorEventLoopDelay({ resolution: 1 });
  loopDelay.enable();
  let finishedAt = startedAt;
  const worker = async (): Promise<void> => {
    while (next < o.messages && Date.now() < deadline) {
      const i = next++;
      const to = Array.from({ length: o.recipients }, (_, r) => `rcpt${i}.${r}@${o.toDomain}`);
      const t0 = performance.now();
      const source = Readable.from([Buffer.from(message(i, o, to))]);
      try {
        const info = await transport.sendMail({ envelope: { from: o.from, to }, raw: source });
        const t1 = performance.now();
        const dataEndedAt: unknown = Reflect.get(info, 'dataEndedAt');
        if (typeof dataEndedAt !== 'number') throw new Error('nodemailer did not report the end of the data');
        latencies.push(t1 - dataEndedAt);
        transactionLatencies.push(t1 - t0);
        finishedAt = Date.now();
      } catch (err) {
        failed++;
        firstError ??= String((err as Error).message);
      }
    }
  };
  await Promise.all(Array.from({ length: o.connections }, worker));
  transport.close();
  latencies.sort((a, b) => a - b);
  transactionLatencies.sort((a, b) => a - b);
  const cpu = process.cpuUsage(cpu0);
  loopDelay.disable();
  return {
    accepted: latencies.length,
    failed,
    ...(firstError ? { firstError } : {}),
    startedAt,
    finishedAt,
    latencies,
    transactionLatencies,
    cpuUs: cpu.user + cpu.system,
    eventLoopDelayP99Ms: loopDelay.percentile(99) / 1e6,
  };
}

if (process.argv[2] === '--run') {
  const options = JSON.parse(process.argv[3] ?? '{}') as LoadOptions;
  const result = await runLoad(options);
  process.stdout.write(`${JSON.stringify(result)}\n`);
}
