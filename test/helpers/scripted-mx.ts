// A receiving MTA scripted line by line, for what smtp-server cannot be made to do: slow set-up
// steps, a STARTTLS whose handshake breaks, a connection lost at an exact point, replies out of the
// ordinary. It listens on host:port, greets, and answers each command line in order (pipelined
// commands are answered one after another): by default like a plain accepting server (EHLO lists
// `extensions`; MAIL, RCPT, DATA, the end of data, RSET, NOOP and QUIT as usual; STARTTLS upgrades
// with the test certificate), and as `script` says wherever it returns an answer: a reply line,
// 'close' (hang up without a reply), 'hang' (never answer), 'break-tls' (say 220 to STARTTLS, then
// hang up instead of the handshake) or { reply, delayMs, close }. The end of data is the command "."
// with the message in ctx.data. Every connection, command line and accepted message is recorded.
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import tls from 'node:tls';
import { ROOT } from './daemon.js';

export interface ScriptContext {
  /** 1 for the first connection this server accepted, 2 for the next … */
  readonly connection: number;
  readonly secure: boolean;
  /** The message, for the end of data ("."). */
  readonly data?: Buffer;
}

export type Answer =
  | string
  | 'close'
  | 'hang'
  | 'break-tls'
  | { readonly reply?: string; readonly delayMs?: number; readonly close?: boolean };

/** An answer for the command line (upper-cased verb first), or undefined for the default one. */
export type Script = (line: string, ctx: ScriptContext) => Answer | undefined;

export interface ScriptedMessage {
  readonly connection: number;
  readonly mailFrom: string;
  readonly rcptTo: readonly string[];
  readonly data: Buffer;
  readonly secure: boolean;
}

export interface ScriptedOptions {
  readonly extensions?: readonly string[];
  readonly greeting?: Answer;
  readonly script?: Script;
}

const DEFAULT_EXTENSIONS = ['PIPELINING', '8BITMIME', 'SMTPUTF8', 'ENHANCEDSTATUSCODES', 'STARTTLS'];
const tlsContext = (): tls.SecureContext =>
  tls.createSecureContext({
    cert: readFileSync(join(ROOT, 'test/fixtures/tls/cert.pem')),
    key: readFileSync(join(ROOT, 'test/fixtures/tls/key.pem')),
  });

/** Whether an answer (undefined: the default one) is a positive reply. */
function accepts(answer: Answer | undefined): boolean {
  const reply = typeof answer === 'object' ? answer.reply : answer;
  return reply === undefined || reply.startsWith('2');
}

export class ScriptedMx {
  connections = 0;
  readonly lines: Array<{ connection: number; line: string }> = [];
  readonly received: ScriptedMessage[] = [];
  private readonly sockets = new Set<net.Socket>();

  private constructor(
    private readonly server: net.Server,
    private readonly options: ScriptedOptions,
  ) {}

  static async start(host: string, port: number, options: ScriptedOptions = {}): Promise<ScriptedMx> {
    let mx!: ScriptedMx;
    const server = net.createServer((socket) => mx.serve(socket));
    mx = new ScriptedMx(server, options);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
    return mx;
  }

  /** Command lines (the verb and arguments) received on connection n, or on all. */
  commands(connection?: number): string[] {
    return this.lines.filter((l) => connection === undefined || l.connection === connection).map((l) => l.line);
  }

  private serve(raw: net.Socket): void {
    const connection = ++this.connections;
    this.sockets.add(raw);
    raw.on('close', () => this.sockets.delete(raw));
    raw.on('error', () => undefined);
    const state = {
      socket: raw,
      secure: false,
      buffer: '',
      data: null as string[] | null,
      from: '',
      to: [] as string[],
      busy: Promise.resolve(),
    };
    const ctx = (data?: Buffer): ScriptContext => ({ connection, secure: state.secure, ...(data ? { data } : {}) });
    const send = async (answer: Answer | undefined, fallback: string): Promise<boolean> => {
      if (answer === 'hang') return false;
      if (answer === 'close') {
        state.socket.end(); // what was said before still goes out
        return false;
      }
      const a = typeof answer === 'object' ? answer : { reply: answer ?? fallback };
      if (a.delayMs) await new Promise((r) => setTimeout(r, a.delayMs));
      if (state.socket.destroyed || state.socket.writableEnded) return false; // hung up: the rest goes unanswered
      const text = a.reply ?? fallback;
      if (text) state.socket.write(`${text.replace(/\n/g, '\r\n')}\r\n`);
      if (a.close) {
        state.socket.end();
        return false;
      }
      return true;
    };
    const handle = async (line: string): Promise<void> => {
      if (state.data) {
        if (line !== '.') return void state.data.push(line.startsWith('.') ? line.slice(1) : line);
        const data = Buffer.from(state.data.map((l) => `${l}\r\n`).join(''));
        state.data = null;
        this.lines.push({ connection, line: '.' });
        const answer = this.options.script?.('.', ctx(data));
        if (accepts(answer)) this.received.push({ connection, mailFrom: state.from, rcptTo: state.to, data, secure: state.secure });
        await send(answer, '250 2.0.0 Ok: queued as SCRIPTED');
        state.to = [];
        return;
      }
      this.lines.push({ connection, line });
      const verb = line.split(/[ :]/)[0]?.toUpperCase() ?? '';
      const answer = this.options.script?.(line, ctx());
      if (verb === 'EHLO') {
        const ext = (this.options.extensions ?? DEFAULT_EXTENSIONS).filter((e) => !(state.secure && e === 'STARTTLS'));
        const lines = ['scripted.test', ...ext];
        await send(answer, lines.map((l, i) => `250${i === lines.length - 1 ? ' ' : '-'}${l}`).join('\n'));
      } else if (verb === 'STARTTLS') {
        if (answer === 'break-tls') {
          await send('220 2.0.0 Ready to start TLS', '');
          state.socket.destroy();
          return;
        }
        if (!(await send(answer, '220 2.0.0 Ready to start TLS'))) return;
        if (typeof answer === 'string' && !answer.startsWith('220')) return;
        this.upgrade(state);
      } else if (verb === 'MAIL') {
        if ((await send(answer, '250 2.1.0 Ok')) && accepts(answer)) {
          state.from = /<([^>]*)>/.exec(line)?.[1] ?? '';
          state.to = [];
        }
      } else if (verb === 'RCPT') {
        const ok = await send(answer, '250 2.1.5 Ok');
        if (ok && accepts(answer)) state.to.push(/<([^>]*)>/.exec(line)?.[1] ?? '');
      } else if (verb === 'DATA') {
        const said = typeof answer === 'string' ? answer : '354 End data with <CR><LF>.<CR><LF>';
        if ((await send(answer, said)) && said.startsWith('354')) state.data = [];
      } else if (verb === 'QUIT') {
        await send(answer ?? { reply: '221 2.0.0 Bye', close: true }, '');
      } else await send(answer, verb === 'RSET' || verb === 'NOOP' ? '250 2.0.0 Ok' : '502 5.5.2 Error: command not recognized');
    };
    const onData = (chunk: Buffer): void => {
      state.buffer += chunk.toString('latin1');
      for (let end = state.buffer.indexOf('\r\n'); end >= 0; end = state.buffer.indexOf('\r\n')) {
        const line = Buffer.from(state.buffer.slice(0, end), 'latin1').toString('utf8');
        state.buffer = state.buffer.slice(end + 2);
        const verb = line.split(' ')[0]?.toUpperCase();
        state.busy = state.busy.then(() => handle(line));
        if (verb === 'STARTTLS') {
          state.socket.removeListener('data', onData); // the rest belongs to the TLS layer
          return;
        }
      }
    };
    (state as { onData?: typeof onData }).onData = onData;
    raw.on('data', onData);
    void send(this.options.greeting, '220 scripted.test ESMTP');
  }

  private upgrade(state: { socket: net.Socket; secure: boolean; buffer: string }): void {
    const onData = (state as { onData?: (chunk: Buffer) => void }).onData as (chunk: Buffer) => void;
    const secure = new tls.TLSSocket(state.socket, { isServer: true, secureContext: tlsContext() });
    secure.on('error', () => undefined);
    secure.once('secure', () => {
      state.secure = true;
      state.buffer = '';
    });
    state.socket = secure;
    this.sockets.add(secure);
    secure.on('close', () => this.sockets.delete(secure));
    secure.on('data', onData);
  }

  close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
