// A line-level SMTP client for tests: sends exactly the bytes a test gives it and returns each reply
// parsed, so tests can assert exact codes and try what well-behaved clients never send.
import net from 'node:net';
import tls from 'node:tls';

export interface SmtpReply {
  readonly code: number;
  /** The text after "NNN " / "NNN-" of every line, joined with "\n". */
  readonly text: string;
  readonly lines: readonly string[];
}

export interface ConnectOptions {
  readonly host?: string;
  readonly implicitTls?: boolean;
  readonly tlsOptions?: tls.ConnectionOptions;
  /** Local address to connect from (127.0.0.2, 127.0.0.3 … are distinct clients). */
  readonly localAddress?: string;
}

export class SmtpClient {
  private buffer = '';
  private waiting: Array<() => void> = [];
  private ended = false;
  greeting!: SmtpReply;

  private constructor(private socket: net.Socket) {
    this.attach(socket);
  }

  static async connect(port: number, options: ConnectOptions = {}): Promise<SmtpClient> {
    const host = options.host ?? '127.0.0.1';
    const raw = net.connect({ host, port, localAddress: options.localAddress });
    const socket = options.implicitTls ? tls.connect({ socket: raw, rejectUnauthorized: false, ...options.tlsOptions }) : raw;
    await new Promise<void>((resolve, reject) => {
      socket.once(options.implicitTls ? 'secureConnect' : 'connect', () => resolve());
      socket.once('error', reject);
      socket.once('close', () => reject(new Error('connection closed while connecting')));
    });
    const client = new SmtpClient(socket);
    client.greeting = await client.read();
    return client;
  }

  get tlsSocket(): tls.TLSSocket | null {
    return this.socket instanceof tls.TLSSocket ? this.socket : null;
  }

  private attach(socket: net.Socket): void {
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      this.buffer += chunk;
      this.wake();
    });
    socket.on('close', () => {
      this.ended = true;
      this.wake();
    });
    socket.on('error', () => undefined);
  }

  private wake(): void {
    const waiting = this.waiting;
    this.waiting = [];
    for (const w of waiting) w();
  }

  /** Read one (possibly multi-line) reply; rejects if the server closes first or after timeoutMs. */
  async read(timeoutMs = 10_000): Promise<SmtpReply> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const reply = this.take();
      if (reply) return reply;
      if (this.ended) throw new Error(`connection closed; unread: ${JSON.stringify(this.buffer)}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no reply within ${timeoutMs} ms; unread: ${JSON.stringify(this.buffer)}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiting.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  private take(): SmtpReply | null {
    const lines: string[] = [];
    let offset = 0;
    for (;;) {
      const end = this.buffer.indexOf('\r\n', offset);
      if (end < 0) return null;
      const line = this.buffer.slice(offset, end);
      offset = end + 2;
      lines.push(line);
      if (line[3] !== '-') break;
    }
    this.buffer = this.buffer.slice(offset);
    return { code: Number(lines[0]?.slice(0, 3)), text: lines.map((l) => l.slice(4)).join('\n'), lines };
  }

  /** Write raw bytes (no CRLF added). */
  write(data: string | Buffer): void {
    this.socket.write(typeof data === 'string' ? Buffer.from(data, 'latin1') : data);
  }

  /** Write raw bytes and wait until the socket takes more (for large bodies). */
  async writeDrained(data: Buffer): Promise<void> {
    if (this.socket.write(data) || this.ended) return;
    await new Promise<void>((resolve) => {
      const done = (): void => {
        this.socket.off('drain', done).off('close', done);
        resolve();
      };
      this.socket.on('drain', done).on('close', done);
    });
  }

  /** Send one command line and read its reply. */
  async send(line: string, timeoutMs?: number): Promise<SmtpReply> {
    this.write(`${line}\r\n`);
    return this.read(timeoutMs);
  }

  async ehlo(name = 'client.test'): Promise<SmtpReply> {
    return this.send(`EHLO ${name}`);
  }

  async starttls(): Promise<SmtpReply> {
    const reply = await this.send('STARTTLS');
    if (reply.code !== 220) return reply;
    this.socket.removeAllListeners('data');
    this.socket.removeAllListeners('close');
    const secure = tls.connect({ socket: this.socket, rejectUnauthorized: false });
    await new Promise<void>((resolve, reject) => {
      secure.once('secureConnect', () => resolve());
      secure.once('error', reject);
    });
    this.socket = secure;
    this.attach(secure);
    return reply;
  }

  async authPlain(user: string, password: string, authzid = ''): Promise<SmtpReply> {
    return this.send(`AUTH PLAIN ${Buffer.from(`${authzid}\0${user}\0${password}`).toString('base64')}`);
  }

  async authLogin(user: string, password: string): Promise<SmtpReply> {
    const first = await this.send('AUTH LOGIN');
    if (first.code !== 334) return first;
    const second = await this.send(Buffer.from(user).toString('base64'));
    if (second.code !== 334) return second;
    return this.send(Buffer.from(password).toString('base64'));
  }

  /** DATA, then the message (given with CRLF line ends, unstuffed), then "." */
  async data(message: string | Buffer): Promise<SmtpReply> {
    const go = await this.send('DATA');
    if (go.code !== 354) return go;
    const text = typeof message === 'string' ? Buffer.from(message, 'utf8') : message;
    const stuffed = Buffer.from(text.toString('latin1').replace(/^\./gm, '..'), 'latin1');
    this.write(stuffed);
    this.write(stuffed.subarray(-2).toString() === '\r\n' ? '.\r\n' : '\r\n.\r\n');
    return this.read();
  }

  close(): void {
    this.socket.destroy();
  }

  async quit(): Promise<void> {
    try {
      await this.send('QUIT', 2000);
    } catch {
      // the server may already have closed
    }
    this.close();
  }
}

/** Connect and EHLO; on a STARTTLS port (implicitTls false) also STARTTLS and EHLO again. */
export async function encryptedClient(port: number, implicitTls = false, localAddress?: string): Promise<SmtpClient> {
  const client = await SmtpClient.connect(port, { implicitTls, localAddress });
  await client.ehlo();
  if (!implicitTls) {
    await client.starttls();
    await client.ehlo();
  }
  return client;
}

/** An encrypted session (encryptedClient) logged in with AUTH PLAIN. */
export async function authenticatedClient(
  port: number,
  user: string,
  password: string,
  implicitTls = false,
  localAddress?: string,
): Promise<SmtpClient> {
  const client = await encryptedClient(port, implicitTls, localAddress);
  const auth = await client.authPlain(user, password);
  if (auth.code !== 235) throw new Error(`AUTH failed: ${auth.code} ${auth.text}`);
  return client;
}
