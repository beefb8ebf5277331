// A delivery status notification as Python's `email` package (Debian's /usr/bin/python3) reads it:
// the top-level type and report-type, the subject, the type of each part, the delivery-status
// fields (the per-message block first, then one block per recipient, names lower-cased), and the
// returned message (the subject and body of a message/rfc822 part, or the text/rfc822-headers).
import { runProcess } from './clients.js';

export interface ParsedDsn {
  readonly type: string;
  readonly reportType: string | null;
  readonly subject: string | null;
  readonly autoSubmitted: string | null;
  readonly parts: readonly string[];
  readonly status: ReadonlyArray<Readonly<Record<string, string>>>;
  readonly returned: { readonly subject?: string; readonly body?: string; readonly headers?: string } | null;
}

const SCRIPT = `
import email, json, sys
from email import policy
msg = email.message_from_bytes(sys.stdin.buffer.read(), policy=policy.default)
out = {"type": msg.get_content_type(), "reportType": msg.get_param("report-type"), "subject": msg["subject"],
       "autoSubmitted": msg["auto-submitted"], "parts": [], "status": [], "returned": None}
for part in msg.iter_parts():
    kind = part.get_content_type()
    out["parts"].append(kind)
    if kind == "message/delivery-status":
        for block in part.get_payload():
            out["status"].append({k.lower(): str(v) for k, v in block.items()})
    elif kind == "message/rfc822":
        inner = part.get_payload()[0]
        out["returned"] = {"subject": str(inner["subject"]), "body": inner.get_content()}
    elif kind == "text/rfc822-headers":
        out["returned"] = {"headers": part.get_content()}
print(json.dumps(out))
`;

export async function parseDsnWithPython(raw: Buffer): Promise<ParsedDsn> {
  const result = await runProcess('/usr/bin/python3', ['-c', SCRIPT], raw);
  if (result.code !== 0) throw new Error(`python email failed: ${result.stderr}`);
  return JSON.parse(result.stdout) as ParsedDsn;
}
