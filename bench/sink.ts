// The receiving MTA for benchmarks: Postfix's smtp-sink when installed (a real MTA, very cheap),
// else a minimal smtp-server sink in its own process. Both write "mesg=N" counters, to a file this
// module polls, recording when each count was reached.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, fstatSync, mkdtempSync, openSync, readSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SMTPServer } from 'smtp-server';

const SMTP_SINK = '/usr/sbin/smtp-sink';

export class Sink {
  count = 0;
  lastAt = 0;
  private readonly timer: NodeJS.Timeout;

  private constructor(
    private readonly child: ChildProcess,
    private readonly counterFile: string,
    readonly kind: 'smtp-sink' | 'smtp-server',
  ) {
    this.timer = setInterval(() => this.poll(), 50);
  }

  /**
   * The counters go to a file, not a pipe: a sink writing into a pipe nobody reads for a moment
   * would block, and stall every session with it.
   */
  static async start(host: string, port: number): Promise<Sink> {
    // smtp-sink binds with SO_REUSEPORT: a sink left over from an earlier run would share the port
    // and silently take part of the traffic.
    if (await isListening(host, port)) throw new Error(`${host}:${port} is already in use (a sink left over from an earlier run?)`);
    const useSink = existsSync(SMTP_SINK);
    const dir = mkdtempSync(join(tmpdir(), 'bench-sink-'));
    const counterFile = join(dir, 'counters');
    const out = openSync(counterFile, 'w');
    const child = useSink
      ? spawn(SMTP_SINK, ['-u', 'nobody', '-c', `${host}:${port}`, '1024'], { stdio: ['ignore', out, 'inherit'] })
      : spawn(process.execPath, ['--import', 'tsx', new URL(import.meta.url).pathname, '--serve', host, String(port)], {
          stdio: ['ignore', out, 'inherit'],
        });
    closeSync(out);
    const sink = new Sink(child, counterFile, useSink ? 'smtp-sink' : 'smtp-server');
    let exited: number | null = null;
    child.once('exit', (code) => (exited = code ?? -1));
    await waitForPort(host, port);
    await new Promise((r) => setTimeout(r, 100));
    if (exited !== null) throw new Error(`the sink exited (${exited}): is ${host}:${port} taken by another process?`);
    return sink;
  }

  /** Read the last counter line the sink wrote. */
  private poll(): void {
    const fd = openSync(this.counterFile, 'r');
    try {
      const size = fstatSync(fd).size;
      const tail = Buffer.alloc(Math.min(size, 256));
      readSync(fd, tail, 0, tail.length, size - tail.length);
      const all = [...tail.toString('latin1').matchAll(/mesg=(\d+)/g)];
      const n = Number(all.at(-1)?.[1] ?? 0);
      if (n > this.count) {
        this.count = n;
        this.lastAt = Date.now();
      }
    } finally {
      closeSync(fd);
    }
  }

  /** Resolves when `n` messages have arrived, or after timeoutMs with whatever arrived. */
  async waitFor(n: number, timeoutMs: number): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    while (this.count < n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    return this.count;
  }

  /** Kill the sink (it may hold idle sessions open) and wait until it is gone. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    if (this.child.exitCode === null && this.child.signalCode === null) {
      const gone = new Promise((resolve) => this.child.once('exit', resolve));
      this.child.kill('SIGKILL');
      await gone;
    }
    rmSync(join(this.counterFile, '..'), { recursive: true, force: true });
  }
}

function isListening(host: string, port: number): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const socket = connect({ host, port }, () => {
      socket.destroy();
      resolve(true);
    });
    socket.on('error', () => resolve(false));
  });
}

async function waitForPort(host: string, port: number): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (await isListening(host, port)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`sink did not listen on ${host}:${port}`);
}

/** The fallback sink: accept everything, discard it, print running counters like smtp-sink -c. */
function serve(host: string, port: number): void {
  let messages = 0;
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['AUTH'],
    hideSTARTTLS: false,
    logger: false,
    disableReverseLookup: true,
    onData(stream, _session, callback) {
      stream.on('end', () => {
        messages++;
        process.stdout.write(`mesg=${messages}\r`);
        callback();
      });
      stream.resume();
    },
  });
  server.listen(port, host);
}

if (process.argv[2] === '--serve') serve(process.argv[3] ?? '127.0.0.2', Number(process.argv[4]));
