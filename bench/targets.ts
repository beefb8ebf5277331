// The relays under test, started fresh for each run with a throw-away directory: smarthost (the
// built daemon, its own config and spool) and Postfix (Debian's package, configured from
// bench/postfix/ into the temp directory, never /etc/postfix; installed by apt when missing).
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { chmodSync, chownSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join, resolve } from 'node:path';
import { selfSignedCertificate } from '../src/tls/self-signed.js';

export const ROOT = resolve(import.meta.dirname, '..');

export interface Target {
  readonly name: 'smarthost' | 'postfix';
  readonly port: number;
  readonly pid: number;
  readonly dir: string;
  readonly user?: string;
  readonly password?: string;
  stop(): Promise<void>;
}

export interface SmarthostOptions {
  readonly port: number;
  readonly sink: string;
  readonly dkim: 'none' | 'ed25519' | 'rsa';
  /** Extra configuration merged over the bench defaults (e.g. a pre-filled spool path). */
  readonly spoolPath?: string;
  readonly logLevel?: string;
  /** Write a V8 CPU profile of the daemon into this directory (node --cpu-prof). */
  readonly profileDir?: string;
}

const USER = { name: 'bench', password: 'bench-password-0123456789' };

function runCli(args: string[], configPath: string, stdin = ''): string {
  return execFileSync(process.execPath, [join(ROOT, 'bin', 'smarthost.js'), ...args, '--config', configPath], {
    input: stdin,
    encoding: 'utf8',
  });
}

export async function startSmarthost(o: SmarthostOptions): Promise<Target> {
  const dir = mkdtempSync(join(tmpdir(), 'smarthost-bench-'));
  const keys =
    o.dkim === 'none' ? [] : [{ domain: 'bench.example', selector: 'bench', algorithm: o.dkim, privateKey: writeDkimKey(dir, o.dkim) }];
  const config = {
    hostname: 'relay.bench.example',
    spool: { path: o.spoolPath ?? join(dir, 'spool.db') },
    tls: { cert: join(dir, 'cert.pem'), key: join(dir, 'key.pem'), selfSigned: true },
    listen: { submission: [`127.0.0.1:${o.port}`], submissions: [] },
    delivery: { routes: { '*': o.sink } },
    limits: { perUser: { messagesPerHour: 0, recipientsPerHour: 0 } },
    dkim: { keyDir: dir, keys },
    metrics: { listen: `127.0.0.1:${o.port + 100}` },
    log: { level: o.logLevel ?? 'info' },
  };
  const configPath = join(dir, 'smarthost.yaml');
  writeFileSync(configPath, JSON.stringify(config));
  try {
    runCli(['user', 'add', USER.name, '--allow', '@bench.example', '--password-stdin'], configPath, `${USER.password}\n`);
  } catch {
    // already there (a pre-filled spool)
  }
  const nodeArgs = o.profileDir ? ['--cpu-prof', `--cpu-prof-dir=${o.profileDir}`] : [];
  const child = spawn(process.execPath, [...nodeArgs, join(ROOT, 'bin', 'smarthost.js'), 'serve', '--config', configPath], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  child.stdout?.resume();
  await waitForGreeting(child, o.port);
  return {
    name: 'smarthost',
    port: o.port,
    pid: child.pid ?? 0,
    dir,
    user: USER.name,
    password: USER.password,
    stop: async () => {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function writeDkimKey(dir: string, algorithm: 'ed25519' | 'rsa'): string {
  const { privateKey } = algorithm === 'rsa' ? generateKeyPairSync('rsa', { modulusLength: 2048 }) : generateKeyPairSync('ed25519');
  const path = join(dir, `dkim-${algorithm}.key`);
  writeFileSync(path, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  return path;
}

/** Wait until the daemon answers with a 220 greeting on its port (whatever its log level). */
async function waitForGreeting(child: ChildProcess, port: number, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`smarthost exited with ${child.exitCode}`);
    const greeted = await new Promise<boolean>((resolvePromise) => {
      const socket = connect({ host: '127.0.0.1', port }, () => undefined);
      socket.once('data', (chunk) => {
        socket.destroy();
        resolvePromise(chunk.toString().startsWith('220'));
      });
      socket.once('error', () => resolvePromise(false));
    });
    if (greeted) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill('SIGKILL');
  throw new Error(`smarthost did not greet on port ${port} within ${timeoutMs} ms`);
}

export function ensurePostfix(): void {
  if (existsSync('/usr/sbin/postfix')) return;
  if (userInfo().uid !== 0) throw new Error('Postfix is not installed and installing it needs root');
  execFileSync(
    'sh',
    [
      '-c',
      'echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postfix',
    ],
    { stdio: 'inherit' },
  );
}

export async function startPostfix(o: { port: number; plainPort: number; sinkHost: string; sinkPort: number }): Promise<Target> {
  ensurePostfix();
  const dir = mkdtempSync(join(tmpdir(), 'pfbench-'));
  chmodSync(dir, 0o755); // Postfix's unprivileged processes must reach data/ and the queue
  for (const sub of ['conf', 'spool', 'data', 'log', 'tls']) mkdirSync(join(dir, sub));
  const postfixUid = Number(execFileSync('id', ['-u', 'postfix'], { encoding: 'utf8' }).trim());
  chownSync(join(dir, 'data'), postfixUid, 0);
  const { cert, key } = selfSignedCertificate('pfbench.localdomain');
  writeFileSync(join(dir, 'tls', 'cert.pem'), cert);
  writeFileSync(join(dir, 'tls', 'key.pem'), key, { mode: 0o600 });
  const fill = (text: string): string =>
    text
      .replaceAll('@BENCH_DIR@', dir)
      .replaceAll('@SUBMIT_PORT@', String(o.port))
      .replaceAll('@PLAIN_PORT@', String(o.plainPort))
      .replaceAll('@SINK_HOST@', o.sinkHost)
      .replaceAll('@SINK_PORT@', String(o.sinkPort));
  for (const file of ['main.cf', 'master.cf'])
    writeFileSync(join(dir, 'conf', file), fill(readFileSync(join(ROOT, 'bench', 'postfix', file), 'utf8')));
  execFileSync('postfix', ['-c', join(dir, 'conf'), 'start'], { stdio: 'ignore' });
  const pidFile = join(dir, 'spool', 'pid', 'master.pid');
  for (let i = 0; i < 100 && !existsSync(pidFile); i++) await new Promise((r) => setTimeout(r, 50));
  const pid = Number(readFileSync(pidFile, 'utf8').trim());
  await new Promise((r) => setTimeout(r, 500));
  return {
    name: 'postfix',
    port: o.port,
    pid,
    dir,
    stop: async () => {
      execFileSync('postfix', ['-c', join(dir, 'conf'), 'stop'], { stdio: 'ignore' });
      for (let i = 0; i < 100 && existsSync(`/proc/${pid}`); i++) await new Promise((r) => setTimeout(r, 50));
      copyFileSync(join(dir, 'log', 'postfix.log'), join(tmpdir(), 'pfbench-last.log'));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
