// Real SMTP clients for end-to-end tests: nodemailer, swaks, curl and Python's smtplib, each run the
// way an application would use it against a submission port.
import { spawn } from 'node:child_process';
import nodemailer from 'nodemailer';

export interface Submission {
  readonly port: number;
  readonly implicitTls: boolean;
  readonly user: string;
  readonly password: string;
  readonly from: string;
  readonly to: readonly string[];
  /** The complete message, CRLF line ends. */
  readonly message: string;
  readonly authMethod?: 'PLAIN' | 'LOGIN';
}

export interface Outcome {
  readonly ok: boolean;
  /** The server's final reply line to DATA (or the error text). */
  readonly response: string;
}

export function queueIdOf(response: string): string | null {
  return /queued as ([0-9A-Z]{14})/.exec(response)?.[1] ?? null;
}

export async function sendWithNodemailer(s: Submission): Promise<Outcome> {
  const transport = nodemailer.createTransport({
    host: '127.0.0.1',
    port: s.port,
    secure: s.implicitTls,
    requireTLS: !s.implicitTls,
    auth: { user: s.user, pass: s.password, method: s.authMethod ?? 'PLAIN' },
    tls: { rejectUnauthorized: false },
  });
  try {
    const info = await transport.sendMail({ envelope: { from: s.from, to: [...s.to] }, raw: s.message });
    return { ok: true, response: info.response };
  } catch (err) {
    return { ok: false, response: String((err as { response?: string }).response ?? (err as Error).message) };
  } finally {
    transport.close();
  }
}

interface Proc {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export function runProcess(cmd: string, args: readonly string[], stdin: string | Buffer = '', timeoutMs = 30_000): Promise<Proc> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: 'pipe' });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(stdin);
  });
}

export async function sendWithSwaks(s: Submission): Promise<Outcome> {
  const args = [
    '--server',
    `127.0.0.1:${s.port}`,
    s.implicitTls ? '--tls-on-connect' : '--tls',
    '--auth',
    s.authMethod ?? 'PLAIN',
    '--auth-user',
    s.user,
    '--auth-password',
    s.password,
    '--from',
    s.from,
    '--to',
    s.to.join(','),
    '--data',
    '-',
    '--hide-all',
    '--output-file-stderr',
    '/dev/null',
  ];
  const verbose = args.filter((a) => a !== '--hide-all');
  const result = await runProcess('swaks', verbose, s.message);
  const lines = result.stdout
    .split('\n')
    .filter((l) => l.startsWith('<~ ') || l.startsWith('<  ') || l.startsWith('<** ') || l.startsWith('<~* '));
  const last = lines.at(-2) ?? lines.at(-1) ?? result.stdout;
  return { ok: result.code === 0, response: last.replace(/^<[~*\s]+/, '') };
}

export async function sendWithCurl(s: Submission): Promise<Outcome> {
  const url = `${s.implicitTls ? 'smtps' : 'smtp'}://127.0.0.1:${s.port}`;
  const args = [
    url,
    '--ssl-reqd',
    '--insecure',
    '--user',
    `${s.user}:${s.password}`,
    '--mail-from',
    s.from,
    '--upload-file',
    '-',
    '--verbose',
    '--silent',
  ];
  for (const to of s.to) args.push('--mail-rcpt', to);
  const result = await runProcess('curl', args, s.message);
  const replies = result.stderr.split('\n').filter((l) => /^< \d{3}[ -]/.test(l));
  const data = replies.filter((l) => /^< 250 /.test(l)).at(-1) ?? replies.at(-1) ?? result.stderr;
  return { ok: result.code === 0, response: data.slice(2).trimEnd() };
}

const PYTHON_SUBMIT = `
import smtplib, ssl, sys, json
cfg = json.loads(sys.argv[1])
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
if cfg["implicitTls"]:
    s = smtplib.SMTP_SSL("127.0.0.1", cfg["port"], context=ctx, timeout=20)
else:
    s = smtplib.SMTP("127.0.0.1", cfg["port"], timeout=20); s.starttls(context=ctx)
s.login(cfg["user"], cfg["password"])
s.mail(cfg["from"])
for r in cfg["to"]:
    s.rcpt(r)
code, text = s.data(sys.stdin.buffer.read())
print(code, text.decode())
s.quit()
`;

export async function sendWithPython(s: Submission): Promise<Outcome> {
  const result = await runProcess('/usr/bin/python3', ['-c', PYTHON_SUBMIT, JSON.stringify(s)], s.message);
  return { ok: result.code === 0 && result.stdout.startsWith('250'), response: result.stdout.trim() || result.stderr.trim() };
}
