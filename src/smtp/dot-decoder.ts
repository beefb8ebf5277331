// The SMTP DATA transparency procedure (RFC 5321 §4.5.2), as a stream: finds the end of data
// (CRLF "." CRLF) and removes the extra dot of every dot-stuffed line, chunk by chunk as the bytes
// arrive, in one linear pass. It reads exactly as smtp-server's own data parser did, so the message
// bytes are the same for every input (test/unit/dot-decoder.test.ts compares the two):
//  - a line starts at the beginning of the data and after every LF, bare or not (except an LF that
//    is the very first byte of the data);
//  - a line that starts with "." and then another "." loses the first one;
//  - the data ends at a line "." after CRLF (or at the very beginning); a "." line after a bare LF
//    or a bare CR is content (the line-ending normaliser later makes it an ordinary CRLF line).
// The next LF is found with indexOf (memchr); a chunk without a stuffed dot is passed on as a view of
// itself, a chunk with some is compacted into one new buffer. The state carried between chunks is the
// two bytes before the chunk, its position, and at most two held-back bytes: a "." or ".\r" at the
// end of a chunk that the next chunk decides. Bound: O(chunk) time, O(1) memory of its own.

const CR = 0x0d;
const LF = 0x0a;
const DOT = 0x2e;

export interface DecodedChunk {
  /** Message bytes from this chunk, dot-unstuffed: a view of the input when nothing was removed. */
  readonly data: Buffer;
  /** When this chunk held the end of data: the bytes after it, which belong to the next command. */
  readonly rest: Buffer | null;
}

export class DotDecoder {
  /** Position in the data of the next byte to decide (the first held-back one, if any). */
  private position = 0;
  /** The two bytes before it (-1 before the data started). */
  private prev1 = -1;
  private prev2 = -1;
  private held: Buffer | null = null;

  write(input: Buffer): DecodedChunk {
    const chunk = this.held ? Buffer.concat([this.held, input]) : input;
    this.held = null;
    const base = this.position;
    const at = (i: number): number => (i >= 0 ? (chunk[i] ?? -1) : i === -1 ? this.prev1 : this.prev2);
    let out: Buffer | null = null;
    let written = 0;
    let run = 0;
    const flush = (end: number): void => {
      if (!out) return;
      chunk.copy(out, written, run, end);
      written += end - run;
    };
    const finish = (end: number, rest: Buffer | null): DecodedChunk => {
      flush(end);
      this.prev2 = at(end - 2);
      this.prev1 = at(end - 1);
      this.position = base + end;
      return { data: out ? out.subarray(0, written) : chunk.subarray(0, end), rest };
    };

    let candidate = base === 0 || (this.prev1 === LF && base > 1) ? 0 : nextLineStart(chunk, 0, base);
    while (candidate >= 0 && candidate < chunk.length) {
      const d = candidate;
      candidate = nextLineStart(chunk, d, base);
      if (chunk[d] !== DOT) continue;
      if (d + 1 >= chunk.length) return this.hold(chunk, d, finish);
      const next = chunk[d + 1];
      if (next === DOT) {
        // A stuffed dot: drop it, keep the one after it as content.
        out ??= Buffer.allocUnsafe(chunk.length);
        flush(d);
        run = d + 1;
        continue;
      }
      if (next !== CR) continue;
      if (d + 2 >= chunk.length) return this.hold(chunk, d, finish);
      const afterCrlf = base + d === 0 || (at(d - 1) === LF && at(d - 2) === CR);
      if (chunk[d + 2] === LF && afterCrlf) return finish(d, chunk.subarray(d + 3));
    }
    return finish(chunk.length, null);
  }

  /** A "." or ".\r" at the end of the chunk: pass on what comes before it, decide it with the next chunk. */
  private hold(chunk: Buffer, from: number, finish: (end: number, rest: null) => DecodedChunk): DecodedChunk {
    const decoded = finish(from, null);
    this.held = Buffer.from(chunk.subarray(from));
    return decoded;
  }
}

/** The next position after `from` where a line starts (after an LF that is not the data's first byte), or -1. */
function nextLineStart(chunk: Buffer, from: number, base: number): number {
  let lf = chunk.indexOf(LF, from);
  if (lf >= 0 && base + lf === 0) lf = chunk.indexOf(LF, lf + 1);
  return lf < 0 ? -1 : lf + 1;
}
