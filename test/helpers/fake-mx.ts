// Scripted receiving MTAs for delivery tests: smtp-server instances on 127.0.0.x (every fake MX of a
// test on the same port, since `delivery.port` is one port for all hosts), each answering as its
// script says at four points: the connection (greeting), MAIL FROM, each RCPT TO and the end of DATA
// (smtp-server answers each RCPT TO after a refused MAIL FROM with 503, as Postfix does). Answers:
// accept (250), tempfail (451), reject (550), close (421 and hang up), hang (never answer).
// STARTTLS is offered with smtp-server's built-in self-signed certificate; DSN too (with the
// parameters each message came with recorded), unless started with { dsn: false }.
// Also: a free port finder, and Postfix's smtp-sink as a real MTA writing each message to a file.
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SMTPServer, type SMTPServerSession } from 'smtp-server';

export type Answer = 'accept' | 'tempfail' | 'reject' | 'close' | 'hang';

export interface MxScript {
  greeting?: (connection: number) => Answer;
  mail?: (address: string, count: number) => Answer;
  rcpt?: (address: string, count: number) => Answer;
  /** `count` is 1 for the first DATA this server sees, 2 for the next …; a promise answers when it settles. */
  data?: (count: number, recipients: readonly string[]) => Answer | Promise<Answer>;
}

export interface Received {
  readonly from: string;
  readonly to: readonly string[];
  readonly data: Buffer;
  readonly tls: boolean;
  /** DSN parameters received: RET and ENVID, and NOTIFY/ORCPT by recipient. */
  readonly dsn: { readonly ret: string | null; readonly envid: string | null } | null;
  readonly rcptDsn: ReadonlyMap<string, { readonly notify?: readonly string[]; readonly orcpt?: string }>;
}

const REPLIES: Record<Exclude<Answer, 'accept' | 'hang'>, [number, string]> = {
  tempfail: [451, '4.3.0 Try again later'],
  reject: [550, '5.1.1 No such user here'],
  close: [421, '4.3.2 Service not available, closing transmission channel'],
};

function refusal(answer: Answer): Error & { responseCode: number } {
  const [code, text] = REPLIES[answer as keyof typeof REPLIES];
  return Object.assign(new Error(text), { responseCode: code });
}

export class FakeMx {
  readonly received: Received[] = [];
  connections = 0;
  /** Connections open now, and the most open at once. */
  open = 0;
  maxOpen = 0;
  private mails = 0;
  private rcpts = 0;
  private datas = 0;
  private waiters: Array<() => void> = [];

  private constructor(
    private readonly server: SMTPServer,
    readonly host: string,
    readonly port: number,
    public script: MxScript,
  ) {}

  static async start(
    host: string,
    port: number,
    script: MxScript = {},
    options: { size?: number; smtputf8?: boolean; dsn?: boolean } = {},
  ): Promise<FakeMx> {
    let mx!: FakeMx;
    const server = new SMTPServer({
      name: `mx.${host}`,
      banner: 'fake mx',
      authOptional: true,
      logger: false,
      size: options.size,
      hideSMTPUTF8: options.smtputf8 === false,
      hideDSN: options.dsn === false,
      disabledCommands: ['AUTH'],
      onConnect: (_session, cb) => {
        mx.maxOpen = Math.max(mx.maxOpen, ++mx.open);
        const n = ++mx.connections;
        mx.answer(mx.script.greeting?.(n) ?? 'accept', cb);
      },
      onClose: () => mx.open--,
      onMailFrom: (address, _session, cb) => {
        const n = ++mx.mails;
        mx.answer(mx.script.mail?.(address.address, n) ?? 'accept', cb);
      },
      onRcptTo: (address, _session, cb) => {
        const n = ++mx.rcpts;
        mx.answer(mx.script.rcpt?.(address.address, n) ?? 'accept', cb);
      },
      onData: (stream, session, cb) => mx.onData(stream, session, cb),
    });
    server.on('error', () => undefined);
    await new Promise<void>((resolve, reject) => {
      server.server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
    mx = new FakeMx(server, host, port, script);
    return mx;
  }

  private answer(answer: Answer, cb: (err?: Error | null) => void): void {
    if (answer === 'hang') return;
    cb(answer === 'accept' ? null : refusal(answer));
  }

  private onData(stream: NodeJS.ReadableStream, session: SMTPServerSession, cb: (err?: Error | null) => void): void {
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('end', () => {
      const to = session.envelope.rcptTo.map((r) => r.address);
      const n = ++this.datas;
      void Promise.resolve(this.script.data?.(n, to) ?? 'accept').then((answer) => {
        if (answer === 'accept') {
          const from = session.envelope.mailFrom ? session.envelope.mailFrom.address : '';
          const dsn = session.envelope.dsn ?? null;
          const rcptDsn = new Map(session.envelope.rcptTo.filter((r) => r.dsn).map((r) => [r.address, r.dsn ?? {}]));
          this.received.push({ from, to, data: Buffer.concat(chunks), tls: session.secure, dsn, rcptDsn });
          for (const wake of this.waiters.splice(0)) wake();
        }
        this.answer(answer, cb);
      });
    });
  }

  /** Wait until at least `count` messages were accepted. */
  async waitFor(count: number, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.received.length < count) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`${this.host}: ${this.received.length} of ${count} messages within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 200));
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  close(): Promise<void> {
    for (const connection of (this.server as unknown as { connections: Set<{ close(): void }> }).connections) connection.close();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

/** A TCP port free on `host` right now. */
export async function freePort(host = '127.0.0.2'): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Postfix's smtp-sink on host:port, writing one file per message (envelope lines, then the message). */
export class SmtpSink {
  private constructor(
    private readonly child: ChildProcess,
    readonly dir: string,
  ) {}

  /** `args`: more smtp-sink options, e.g. ['-W', 'connect:3'] (greet after 3 s) or ['-8'] (no 8BITMIME). */
  static async start(host: string, port: number, args: readonly string[] = []): Promise<SmtpSink> {
    const dir = mkdtempSync(join(tmpdir(), 'smtp-sink-'));
    chmodSync(dir, 0o777);
    const options = ['-u', 'nobody', '-d', `${dir}/%M.`, ...args, `${host}:${port}`, '100'];
    const child = spawn('/usr/sbin/smtp-sink', options, { stdio: 'ignore' });
    const deadline = Date.now() + 5000;
    for (;;) {
      const up = await new Promise<boolean>((resolve) => {
        const socket = net.connect({ host, port }, () => {
          socket.destroy();
          resolve(true);
        });
        socket.on('error', () => resolve(false));
      });
      if (up) break;
      if (Date.now() > deadline) throw new Error('smtp-sink did not start');
      await new Promise((r) => setTimeout(r, 50));
    }
    return new SmtpSink(child, dir);
  }

  messages(): string[] {
    return readdirSync(this.dir).map((f) => readFileSync(join(this.dir, f), 'utf8'));
  }

  async waitFor(count: number, timeoutMs = 10_000): Promise<string[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.messages().length < count) {
      if (Date.now() > deadline) throw new Error(`smtp-sink: ${this.messages().length} of ${count} messages`);
      await new Promise((r) => setTimeout(r, 50));
    }
    return this.messages();
  }

  stop(): void {
    this.child.kill('SIGKILL');
    rmSync(this.dir, { recursive: true, force: true });
  }
}
