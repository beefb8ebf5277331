// A message being received, held in memory as a list of blocks: appended bytes are copied into the
// last block until it is full, then into a new one. Blocks start small (most messages are a few
// kilobytes) and double up to BLOCK_MAX, so a message costs at most one partly used block on top of
// its size, and it is never copied again to grow. Each block is searched once for the end of the
// header section (the first empty line) when it is full, so nobody has to search the whole message
// for it later; a match that straddles two blocks is carried over as a partial match.
// Bound: exactly the bytes appended plus the unused end of the last block; O(bytes) time in all.
import type { ByteSink } from '../smtp/line-endings.js';

const BLOCK_MIN = 16 * 1024;
export const BLOCK_MAX = 1024 * 1024;
const CR = 0x0d;
const LF = 0x0a;
const CRLFCRLF = Buffer.from('\r\n\r\n');

/** A whole message in memory, CRLF-normalised, in blocks. */
export interface ReceivedMessage {
  readonly chunks: readonly Buffer[];
  readonly length: number;
  /** Offset of the first CRLFCRLF (the end of the header section), or -1 if there is none. */
  readonly headerEnd: number;
}

export class MessageBuffer implements ByteSink {
  private readonly blocks: Buffer[] = [];
  private filled = 0;
  private total = 0;
  private allocated = 0;
  /** Blocks searched for the header end so far, and bytes before the first unsearched one. */
  private searched = 0;
  private searchedBytes = 0;
  /** How many bytes of CRLFCRLF the searched bytes end with (0 to 3). */
  private matched = 0;
  private headerEndAt = -1;

  /** Bytes appended so far. */
  get length(): number {
    return this.total;
  }

  /** Bytes of memory the blocks take. */
  get capacity(): number {
    return this.allocated;
  }

  /** Size of the block the next append beyond the current one will allocate. */
  get nextBlockSize(): number {
    return Math.min(BLOCK_MAX, Math.max(BLOCK_MIN, this.allocated));
  }

  /** Whether the next append of `n` bytes needs a new block. */
  needsBlock(n: number): boolean {
    const last = this.blocks[this.blocks.length - 1];
    return n > 0 && (!last || last.length - this.filled < n);
  }

  append(source: Buffer, start: number, end: number): void {
    let at = start;
    while (at < end) {
      let block = this.blocks[this.blocks.length - 1];
      if (!block || this.filled === block.length) {
        block = Buffer.allocUnsafe(this.nextBlockSize);
        this.blocks.push(block);
        this.allocated += block.length;
        this.filled = 0;
      }
      const n = Math.min(end - at, block.length - this.filled);
      source.copy(block, this.filled, at, at + n);
      this.filled += n;
      this.total += n;
      at += n;
      if (this.filled === block.length) this.searchFullBlocks();
    }
  }

  /** The message as received: call once every byte has been appended. */
  finish(): ReceivedMessage {
    this.searchFullBlocks();
    const chunks = this.blocks.map((block, i) => (i === this.blocks.length - 1 ? block.subarray(0, this.filled) : block));
    const last = chunks[chunks.length - 1];
    if (this.headerEndAt < 0 && last && this.searched === chunks.length - 1) this.search(last);
    return { chunks, length: this.total, headerEnd: this.headerEndAt };
  }

  private searchFullBlocks(): void {
    while (this.headerEndAt < 0 && this.searched < this.blocks.length) {
      const block = this.blocks[this.searched];
      if (!block || (this.searched === this.blocks.length - 1 && this.filled < block.length)) return;
      this.search(block);
    }
  }

  /** Search one block (all of it filled), carrying a partial match over from the blocks before. */
  private search(bytes: Buffer): void {
    const base = this.searchedBytes;
    this.searched += 1;
    this.searchedBytes += bytes.length;
    const head = Math.min(bytes.length, 3);
    for (let i = 0; i < head; i++) {
      this.matched = step(this.matched, bytes[i] ?? 0);
      if (this.matched === 4) {
        this.headerEndAt = base + i - 3;
        return;
      }
    }
    const inside = bytes.indexOf(CRLFCRLF);
    if (inside >= 0) {
      this.headerEndAt = base + inside;
      return;
    }
    if (bytes.length < 3) return;
    this.matched = 0;
    for (let i = bytes.length - 3; i < bytes.length; i++) this.matched = step(this.matched, bytes[i] ?? 0);
  }
}

/** One byte through the CRLFCRLF matcher: how much of the pattern the bytes so far end with. */
function step(matched: number, byte: number): number {
  if (byte === (matched % 2 === 0 ? CR : LF)) return matched + 1;
  return byte === CR ? 1 : 0;
}
