// A scripted submission session through Python's smtplib (Debian's /usr/bin/python3): STARTTLS on
// 587 (or implicit TLS), EHLO with any name (8-bit too), AUTH, then the steps in order, with any
// MAIL/RCPT parameters a test wants to try. Returns one reply per step; a step after which the
// server hung up ends the list with { code: 0, text: 'disconnected' }.
import { runProcess } from './clients.js';

export type Step =
  | { readonly mail: string; readonly options?: readonly string[] }
  | { readonly rcpt: string; readonly options?: readonly string[] }
  | { readonly data: string }
  | { readonly raw: string };

export interface PythonSession {
  readonly port: number;
  readonly implicitTls?: boolean;
  readonly user: string;
  readonly password: string;
  /** The EHLO name (default: smtplib's, the machine's FQDN). */
  readonly ehlo?: string;
  readonly steps: readonly Step[];
}

export interface StepReply {
  readonly code: number;
  readonly text: string;
}

const SCRIPT = `
import json, smtplib, ssl, sys
cfg = json.loads(sys.argv[1])
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
name = cfg.get("ehlo")
if cfg.get("implicitTls"):
    s = smtplib.SMTP_SSL("127.0.0.1", cfg["port"], local_hostname=name, context=ctx, timeout=20)
else:
    s = smtplib.SMTP("127.0.0.1", cfg["port"], local_hostname=name, timeout=20)
s.command_encoding = "utf-8"
if not cfg.get("implicitTls"):
    s.ehlo(); s.starttls(context=ctx)
s.ehlo()
s.login(cfg["user"], cfg["password"])

def closed(s):
    # after a 421 the server must have hung up: a NOOP then fails
    try:
        s.docmd("NOOP")
        return False
    except (smtplib.SMTPServerDisconnected, OSError):
        return True

out = []
for step in cfg["steps"]:
    try:
        if "mail" in step:
            code, text = s.mail(step["mail"], step.get("options", []))
        elif "rcpt" in step:
            code, text = s.rcpt(step["rcpt"], step.get("options", []))
        elif "data" in step:
            code, text = s.data(step["data"].encode("utf-8"))
        else:
            code, text = s.docmd(step["raw"])
    except smtplib.SMTPDataError as e:
        code, text = e.smtp_code, e.smtp_error
    except smtplib.SMTPServerDisconnected:
        out.append({"code": 0, "text": "disconnected"})
        break
    out.append({"code": code, "text": text.decode("utf-8", "replace")})
    if code == 421:
        out.append({"code": 0, "text": "disconnected"} if closed(s) else {"code": -1, "text": "still open"})
        break
print(json.dumps(out))
`;

export async function pythonSession(session: PythonSession): Promise<StepReply[]> {
  const result = await runProcess('/usr/bin/python3', ['-c', SCRIPT, JSON.stringify(session)]);
  if (result.code !== 0) throw new Error(`smtplib session failed: ${result.stderr}`);
  return JSON.parse(result.stdout) as StepReply[];
}
