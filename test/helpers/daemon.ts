// Runs the real daemon (`bin/smarthost.js serve`) as a child process in a temporary directory with
// its own config, spool and self-signed certificate, listening on ephemeral loopback ports, and runs
// CLI commands against the same configuration.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Database, type SqliteDatabase } from '../../src/spool/sqlite.js';

export const ROOT = resolve(import.meta.dirname, '..', '..');
const BIN = join(ROOT, 'bin', 'smarthost.js');

/** The SMTP listeners whose (first) port a test can reach. */
export type ListenerKind = 'submission' | 'submissions' | 'relay';

export type LogLine = Record<string, unknown> & { msg?: string; level?: string };

export interface TestUser {
  readonly name: string;
  readonly password: string;
  readonly allow: readonly string[];
}

export const DEFAULT_USER: TestUser = { name: 'app', password: 'correct horse battery staple', allow: ['@example.com', 'ops@example.org'] };

export interface DaemonOptions {
  /**
   * Merged over the base configuration: objects deeply, everything else (and {}) replaced; null
   * removes a key the base has (e.g. `delivery: { routes: { '*': null } }`).
   */
  readonly config?: Record<string, unknown>;
  readonly users?: readonly TestUser[];
  readonly env?: NodeJS.ProcessEnv;
  /** Use this directory (an existing spool, say) instead of a new temporary one. */
  readonly dir?: string;
  /** Run the daemon (not the CLI) as this user. */
  readonly user?: { readonly uid: number; readonly gid: number };
}

export interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export function baseConfig(dir: string): Record<string, unknown> {
  return {
    hostname: 'relay.test',
    spool: { path: join(dir, 'spool.db') },
    tls: { cert: join(dir, 'tls', 'cert.pem'), key: join(dir, 'tls', 'key.pem'), selfSigned: true },
    listen: { submission: ['127.0.0.1:0'], submissions: ['127.0.0.1:0'] },
    delivery: { routes: { '*': '127.0.0.1:1' } },
    dkim: { keyDir: join(dir, 'dkim') },
    metrics: { listen: false },
    log: { level: 'debug' },
  };
}

export function merge(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(over)) {
    const current = out[key];
    const bothObjects = isPlainObject(current) && isPlainObject(value) && Object.keys(value).length > 0;
    if (value === null && key in out) delete out[key];
    else out[key] = bothObjects ? merge(current, value) : value;
  }
  return out;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Run `smarthost ARGS` to completion. */
export function runCli(args: readonly string[], options: { stdin?: string; env?: NodeJS.ProcessEnv } = {}): Promise<CliResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, ...options.env }, stdio: 'pipe' });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolvePromise({ code, stdout, stderr }));
    child.stdin.end(options.stdin ?? '');
  });
}

export class TestDaemon {
  readonly logs: LogLine[] = [];
  stderr = '';
  ports: Record<ListenerKind, number> = { submission: 0, submissions: 0, relay: 0 };
  private child: ChildProcess | null = null;
  private exit: Promise<number | null> = Promise.resolve(null);
  private listeners: Array<() => void> = [];

  private constructor(
    readonly dir: string,
    readonly configPath: string,
    readonly config: Record<string, unknown>,
    private readonly env: NodeJS.ProcessEnv,
    private readonly ownsDir: boolean,
    private readonly user?: { readonly uid: number; readonly gid: number },
  ) {}

  /** Write the config, add the users, start the daemon and wait until it is ready. */
  static async start(options: DaemonOptions = {}): Promise<TestDaemon> {
    const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'smarthost-test-'));
    const config = merge(baseConfig(dir), options.config ?? {});
    const configPath = join(dir, 'smarthost.yaml');
    writeFileSync(configPath, JSON.stringify(config, null, 2));
    const daemon = new TestDaemon(dir, configPath, config, options.env ?? {}, options.dir === undefined, options.user);
    for (const user of options.users ?? [DEFAULT_USER]) await daemon.addUser(user);
    await daemon.launch();
    return daemon;
  }

  get spoolPath(): string {
    return String((this.config['spool'] as { path: string }).path);
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  async addUser(user: TestUser): Promise<void> {
    const result = await this.cli(['user', 'add', user.name, '--allow', user.allow.join(','), '--password-stdin'], `${user.password}\n`);
    if (result.code !== 0) throw new Error(`user add failed: ${result.stderr}`);
  }

  cli(args: readonly string[], stdin?: string): Promise<CliResult> {
    return runCli([...args, '--config', this.configPath], { stdin, env: this.env });
  }

  /** Start the process (again, after stop or kill) and wait for its "ready" line. */
  async launch(): Promise<void> {
    const child = spawn(process.execPath, [BIN, 'serve', '--config', this.configPath], {
      env: { ...process.env, ...this.env },
      stdio: ['ignore', 'pipe', 'pipe'],
      ...this.user,
    });
    this.child = child;
    this.exit = new Promise((res) => child.once('exit', (code, signal) => res(code ?? (signal ? -1 : null))));
    let partial = '';
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      partial += chunk;
      const lines = partial.split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) this.record(line);
    });
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (this.stderr += chunk));
    const from = this.logs.length;
    // A daemon that exits before it is ready (a refused start) ends the wait at once, once its stderr is read.
    const closed = new Promise<never>((_res, rej) => child.once('close', () => rej(new Error('exited before it was ready'))));
    closed.catch(() => undefined);
    const ready = this.waitForLog((l) => l.msg === 'ready', 15_000, from);
    await Promise.race([ready, closed]).catch(async (err: Error) => {
      ready.catch(() => undefined);
      const code = await Promise.race([this.exit, new Promise((r) => setTimeout(() => r('running'), 100))]);
      throw new Error(`${err.message}; exit=${String(code)}; stderr=${this.stderr}`);
    });
    for (const line of this.logs.slice(from)) {
      if (line.msg === 'listening' && line['listener'] !== 'metrics') this.ports[line['listener'] as ListenerKind] = Number(line['port']);
    }
  }

  private record(line: string): void {
    if (line.trim() === '') return;
    try {
      this.logs.push(JSON.parse(line) as LogLine);
    } catch {
      this.logs.push({ msg: line, level: 'raw' });
    }
    for (const wake of this.listeners.splice(0)) wake();
  }

  /** The first log line (from index `from`) matching the predicate, waiting up to timeoutMs. */
  async waitForLog(predicate: (line: LogLine) => boolean, timeoutMs = 10_000, from = 0): Promise<LogLine> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.logs.slice(from).find(predicate);
      if (found) return found;
      if (this.child && (this.child.exitCode !== null || this.child.signalCode !== null))
        throw new Error('log line not seen: the daemon exited');
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`log line not seen within ${timeoutMs} ms`);
      await new Promise<void>((res) => {
        const timer = setTimeout(res, Math.min(left, 200));
        this.listeners.push(() => {
          clearTimeout(timer);
          res();
        });
      });
    }
  }

  /** Send a signal and wait for the exit status (-1 when killed by a signal). */
  async stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 15_000): Promise<number | null> {
    if (!this.child || this.child.exitCode !== null || this.child.signalCode !== null) return this.exit;
    this.child.kill(signal);
    const timer = setTimeout(() => this.child?.kill('SIGKILL'), timeoutMs);
    const code = await this.exit;
    clearTimeout(timer);
    return code;
  }

  kill(): Promise<number | null> {
    return this.stop('SIGKILL');
  }

  /** A read-only handle on the spool (close it when done). */
  openSpool(): SqliteDatabase {
    return new Database(this.spoolPath, { readonly: true, fileMustExist: true });
  }

  async cleanup(): Promise<void> {
    await this.stop('SIGKILL');
    if (this.ownsDir) rmSync(this.dir, { recursive: true, force: true });
  }
}
