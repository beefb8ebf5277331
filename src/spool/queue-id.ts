// Queue IDs: short, unique and sortable by arrival time, like Postfix's long queue IDs.
// 9 characters of milliseconds since the epoch in Crockford base32 (enough until the year 3084),
// then 5 characters (25 bits) that start random for each new millisecond and count up within it, so
// IDs made by one process are strictly increasing and collisions across processes are unlikely
// (and would be refused by the primary key, never silently merged).
import { randomInt } from 'node:crypto';

const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const SUFFIX_SPACE = 32 ** 5;

function encode(value: number, width: number): string {
  let out = '';
  for (let i = 0; i < width; i++) {
    out = ALPHABET[value % 32] + out;
    value = Math.floor(value / 32);
  }
  return out;
}

export class QueueIdGenerator {
  private lastMs = -1;
  private suffix = 0;

  constructor(private readonly now: () => number = Date.now) {}

  next(): string {
    let ms = this.now();
    if (ms <= this.lastMs) {
      ms = this.lastMs;
      this.suffix++;
      if (this.suffix >= SUFFIX_SPACE) {
        ms++;
        this.suffix = randomInt(SUFFIX_SPACE / 2);
      }
    } else {
      this.suffix = randomInt(SUFFIX_SPACE / 2);
    }
    this.lastMs = ms;
    return encode(ms, 9) + encode(this.suffix, 5);
  }
}

export function queueIdTime(id: string): number {
  let ms = 0;
  for (const ch of id.slice(0, 9)) ms = ms * 32 + ALPHABET.indexOf(ch);
  return ms;
}

export const QUEUE_ID_PATTERN = /^[0-9A-HJKMNP-TV-Z]{14}$/;
