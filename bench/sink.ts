// The receiving MTA for benchmarks: Postfix's smtp-sink when installed (a real MTA, very cheap),
// else a minimal smtp-server sink in its own process. Both print "mesg=N" counters; this module
// follows them and records when each count was reached.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { SMTPServer } from 'smtp-server';

const SMTP_SINK = '/usr/sbin/smtp-sink';

export class Sink {
  count = 0;
  lastAt = 0;
  private waiters: Array<() => void> = [];

  private constructor(
    private readonly child: ChildProcess,
    readonly kind: 'smtp-sink' | 'smtp-server',
  ) {
    let partial = '';
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      partial += chunk;
      const parts = partial.split(/[\r\n]/);
      partial = parts.pop() ?? '';
      for (const part of parts) {
        const n = /mesg=(\d+)/.exec(part);
        if (n && Number(n[1]) > this.count) {
          this.count = Number(n[1]);
          this.lastAt = Date.now();
        }
      }
      for (const wake of this.waiters.splice(0)) wake();
    });
  }

  static async start(host: string, port: number): Promise<Sink> {
    const useSink = existsSync(SMTP_SINK);
    const child = useSink
      ? spawn(SMTP_SINK, ['-u', 'nobody', '-c', `${host}:${port}`, '1024'], { stdio: ['ignore', 'pipe', 'inherit'] })
      : spawn(process.execPath, ['--import', 'tsx', new URL(import.meta.url).pathname, '--serve', host, String(port)], { stdio: ['ignore', 'pipe', 'inherit'] });
    const sink = new Sink(child, useSink ? 'smtp-sink' : 'smtp-server');
    await waitForPort(host, port);
    return sink;
  }

  /** Resolves when `n` messages have arrived, or after timeoutMs with whatever arrived. */
  async waitFor(n: number, timeoutMs: number): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    while (this.count < n && Date.now() < deadline) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 200);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return this.count;
  }

  stop(): void {
    this.child.kill('SIGTERM');
  }
}

async function waitForPort(host: string, port: number): Promise<void> {
  const { connect } = await import('node:net');
  for (let i = 0; i < 100; i++) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = connect({ host, port }, () => {
        socket.destroy();
        resolve(true);
      });
      socket.on('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`sink did not listen on ${host}:${port}`);
}

/** The fallback sink: accept everything, discard it, print running counters like smtp-sink -c. */
function serve(host: string, port: number): void {
  let messages = 0;
  const server = new SMTPServer({
    authOptional: true, disabledCommands: ['AUTH'], hideSTARTTLS: false, logger: false, disableReverseLookup: true,
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
