// SMTP smuggling material shared by the spool-side and relay-side tests: the end-of-data look-alikes
// from the published research (SEC Consult, 2023; CVE-2023-51764/51765/51766), and a message that
// hides one, optionally followed by the commands of a second, smuggled transaction.

/** Sequences that some SMTP servers take for the end of DATA; only CRLF.CRLF really is. */
export const END_OF_DATA_VARIANTS: readonly string[] = [
  '\n.\n',
  '\n.\r\n',
  '\r.\r',
  '\r\n.\r',
  '\r.\r\n',
  '\n.\r',
  '\r\n.\n',
  '\r\n\x00.\r\n',
];

const SMUGGLED_COMMANDS =
  'MAIL FROM:<a@example.com>\r\nRCPT TO:<victim@remote.test>\r\nDATA\r\nFrom: a@example.com\r\nSubject: smuggled\r\n\r\n';

/** A raw DATA payload (already ending with the real CRLF.CRLF) hiding `variant`. */
export function smugglingPayload(variant: string, withCommands: boolean): string {
  const after = `${withCommands ? SMUGGLED_COMMANDS : ''}after the look-alike\r\n`;
  return `From: a@example.com\r\nSubject: smuggling\r\n\r\nbefore the look-alike${variant}${after}.\r\n`;
}

/** The payload cut into writes: everything before the look-alike, each of its bytes, the rest. */
export function splitAround(payload: string, variant: string): string[] {
  const at = payload.indexOf(variant);
  return [payload.slice(0, at), ...variant, payload.slice(at + variant.length)];
}

/** Whether a message has a CR not followed by LF or an LF not preceded by CR. */
export function hasBareLineBreak(data: Buffer): boolean {
  for (let i = 0; i < data.length; i++) {
    if (data[i] === 0x0d && data[i + 1] !== 0x0a) return true;
    if (data[i] === 0x0a && data[i - 1] !== 0x0d) return true;
  }
  return false;
}
