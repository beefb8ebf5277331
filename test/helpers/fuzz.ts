// Generated bad input for the fuzz run: SMTP command lines (known verbs with mangled arguments,
// garbage, huge lines, NUL bytes, invalid UTF-8, 8-bit text) and DATA bodies (8-bit and invalid
// UTF-8 headers, NULs, bare CR/LF, dot lines, long lines, odd From: fields), from a seeded PRNG so
// a failing run can be replayed with the same seed.

/** mulberry32: a small, fast, seedable PRNG. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class Fuzzer {
  constructor(private readonly random: () => number) {}

  int(max: number): number {
    return Math.floor(this.random() * max);
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)] as T;
  }

  chance(p: number): boolean {
    return this.random() < p;
  }

  /** Random bytes of a flavour: printable, 8-bit, control, invalid UTF-8, or anything. */
  bytes(length: number): Buffer {
    const flavour = this.int(5);
    const out = Buffer.alloc(length);
    for (let i = 0; i < length; i++) {
      out[i] =
        [
          () => 0x20 + this.int(95),
          () => 0x80 + this.int(128),
          () => this.int(32),
          () => this.pick([0xc0, 0xff, 0xfe, 0xed, 0xa0]),
          () => this.int(256),
        ][flavour]?.() ?? 0;
    }
    return out;
  }

  /** Text that goes where an argument goes: sometimes sane, often not. */
  argument(): Buffer {
    const choices: (() => Buffer)[] = [
      () =>
        Buffer.from(
          this.pick([
            'a@example.com',
            '<a@example.com>',
            '<>',
            '<@x:a@example.com>',
            'a@[127.0.0.1]',
            '"a b"@example.com',
            'a@example.com SIZE=1',
            'a@example.com BODY=8BITMIME SMTPUTF8',
          ]),
        ),
      () => Buffer.from(`<${'x'.repeat(this.int(2000))}@example.com>`),
      () => this.bytes(this.int(64)),
      () => Buffer.concat([Buffer.from('<a'), Buffer.from([0]), Buffer.from('@example.com>')]),
      () =>
        Buffer.from(
          `<a@example.com> ${this.pick(['SIZE=', 'SIZE=99999999999999999999999', 'BODY=BINARYMIME', 'RET=FULL', 'ENVID=x', 'AUTH=<>', 'X=Y', 'SMTPUTF8=1', 'SIZE=1 SIZE=2'])}`,
        ),
      () => Buffer.from('ü@exämple.com'),
    ];
    return this.pick(choices)();
  }

  /** One command line, without its line end (which commandLine adds, sometimes bare). */
  command(): Buffer {
    const verb = this.pick([
      'MAIL FROM:',
      'RCPT TO:',
      'MAIL FROM: ',
      'RCPT TO: ',
      'EHLO ',
      'HELO ',
      'VRFY ',
      'EXPN ',
      'HELP ',
      'NOOP ',
      'RSET',
      'AUTH ',
      'BDAT ',
      'ETRN ',
      'XCLIENT ',
      'XFORWARD ',
      'STARTTLS ',
      'WIZ ',
      'SHELL ',
      'KILL ',
      'DEBUG',
      'mail from:',
      'GET / HTTP/1.1',
      '',
    ]);
    const huge = this.chance(0.01) ? Buffer.alloc(20_000 + this.int(100_000), 0x41) : Buffer.alloc(0);
    return Buffer.concat([Buffer.from(verb), this.argument(), huge]);
  }

  lineEnd(): string {
    return this.chance(0.9) ? '\r\n' : this.pick(['\n', '\r\r\n', '\n\r']);
  }

  /** A DATA body, not yet dot-stuffed or terminated. */
  body(allowedFrom: string): Buffer {
    const from = this.pick([
      `From: ${allowedFrom}`,
      `From: "x" <${allowedFrom}>`,
      'From: ceo@bank.test',
      `From: ${allowedFrom}, b@bank.test`,
      `From: =?utf-8?B?Y2VvQGJhbmsudGVzdA==?= <${allowedFrom}>`,
      '',
    ]);
    const parts: Buffer[] = [Buffer.from(from ? `${from}\r\n` : '')];
    for (let i = this.int(6); i > 0; i--) parts.push(this.headerLine());
    parts.push(Buffer.from(this.pick(['\r\n', '\n', '\r\n\r\n', ''])));
    for (let i = this.int(12); i > 0; i--) parts.push(this.bodyLine());
    return Buffer.concat(parts);
  }

  private headerLine(): Buffer {
    return Buffer.concat([
      Buffer.from(this.pick(['Subject: ', 'X-Fuzz: ', 'Received: ', ' continued ', 'Bad Header ', 'To: ', 'Date: ', ':'])),
      this.bytes(this.int(200)),
      Buffer.from(this.lineEnd()),
    ]);
  }

  private bodyLine(): Buffer {
    const length = this.chance(0.02) ? 10_000 + this.int(200_000) : this.int(200);
    const line = this.chance(0.1) ? Buffer.from(this.pick(['.', '..', '. ', '.\r', '.\n.'])) : this.bytes(length);
    return Buffer.concat([line, Buffer.from(this.lineEnd())]);
  }
}

/** SMTP dot-stuffing of a raw body, then the terminator (CRLF.CRLF, after a CRLF if needed). */
export function dataPayload(body: Buffer): Buffer {
  const stuffed = Buffer.from(body.toString('latin1').replace(/(^|\r\n)\./g, '$1..'), 'latin1');
  const end = stuffed.length >= 2 && stuffed[stuffed.length - 2] === 0x0d && stuffed[stuffed.length - 1] === 0x0a ? '.\r\n' : '\r\n.\r\n';
  return Buffer.concat([stuffed, Buffer.from(end)]);
}
