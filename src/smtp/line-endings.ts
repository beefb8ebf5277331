// Line-ending normalisation, the defence against SMTP smuggling: every bare CR and every bare LF in
// a message becomes CRLF, and the message ends with CRLF. Stored, signed and relayed bytes therefore
// have exactly one kind of line break, so no receiver can see a line (or an end of data) that this
// relay did not see too.
//
// CrlfNormalizer does it as a stream, in one linear pass over each chunk as it arrives: it looks for
// the next CR and the next LF with indexOf (memchr), hands every run of bytes that needs no change to
// its sink as a range of the chunk (the sink copies it where it keeps the message), and a CRLF in
// place of each bare line break. No per-line allocation, no list of positions; the only state carried
// from one chunk to the next is whether the previous chunk ended with a CR (is it CRLF or bare?).
// Bound: O(chunk) time per chunk, O(1) memory of its own.

const CR = 0x0d;
const LF = 0x0a;
const CRLF = Buffer.from('\r\n');

/** Where normalised bytes go: `source[start, end)`, to be copied before append returns. */
export interface ByteSink {
  append(source: Buffer, start: number, end: number): void;
}

export class CrlfNormalizer {
  /** The last chunk ended with a CR whose LF (if any) is in the next chunk. */
  private pendingCr = false;
  /** The last byte handed to the sink (-1: nothing yet). */
  private lastOut = -1;

  constructor(private readonly sink: ByteSink) {}

  write(chunk: Buffer): void {
    const end = chunk.length;
    if (end === 0) return;
    let from = 0;
    if (this.pendingCr) {
      this.pendingCr = false;
      this.emit(CRLF, 0, 2);
      if (chunk[0] === LF) from = 1;
    }
    let start = from;
    let cr = chunk.indexOf(CR, from);
    let lf = chunk.indexOf(LF, from);
    while (cr >= 0 || lf >= 0) {
      if (lf >= 0 && (cr < 0 || lf < cr)) {
        // An LF before any CR: bare (an LF after a CR is consumed with it below).
        this.emit(chunk, start, lf);
        this.emit(CRLF, 0, 2);
        start = lf + 1;
        lf = chunk.indexOf(LF, start);
        continue;
      }
      if (cr === end - 1) {
        // A CR at the end of the chunk: the next chunk says what it is.
        this.emit(chunk, start, cr);
        this.pendingCr = true;
        return;
      }
      if (chunk[cr + 1] === LF) {
        // CRLF as it should be: part of the run.
        lf = chunk.indexOf(LF, cr + 2);
        cr = chunk.indexOf(CR, cr + 2);
        continue;
      }
      this.emit(chunk, start, cr);
      this.emit(CRLF, 0, 2);
      start = cr + 1;
      cr = chunk.indexOf(CR, start);
    }
    this.emit(chunk, start, end);
  }

  /** The end of the message: a last bare CR, and a final CRLF if the message does not end with one. */
  end(): void {
    if (this.pendingCr) {
      this.pendingCr = false;
      this.emit(CRLF, 0, 2);
    }
    if (this.lastOut !== -1 && this.lastOut !== LF) this.emit(CRLF, 0, 2);
  }

  private emit(source: Buffer, start: number, end: number): void {
    if (end <= start) return;
    this.sink.append(source, start, end);
    this.lastOut = source[end - 1] ?? -1;
  }
}

/** A whole message at once (messages smarthost writes itself, tests). */
export function normalizeLineEndings(input: Buffer): Buffer {
  const parts: Buffer[] = [];
  const normalizer = new CrlfNormalizer({ append: (source, start, end) => parts.push(source.subarray(start, end)) });
  normalizer.write(input);
  normalizer.end();
  return parts.length === 1 && parts[0]?.length === input.length ? input : Buffer.concat(parts);
}
