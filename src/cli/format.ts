// Formatting shared by the admin commands' text output: ages ("2d 4h", "3m 12s"), sizes ("1.2 MB"),
// ISO times, and JSON on stdout.

const AGE_UNITS: ReadonlyArray<readonly [string, number]> = [
  ['d', 86_400],
  ['h', 3600],
  ['m', 60],
  ['s', 1],
];

/** The largest non-zero unit and the next one when it is not zero: "2d 4h", "3m", "0s". */
export function formatAge(ms: number): string {
  let rest = Math.max(0, Math.floor(ms / 1000));
  const amounts = AGE_UNITS.map(([name, size]) => {
    const n = Math.floor(rest / size);
    rest -= n * size;
    return { name, n };
  });
  const first = amounts.findIndex((a) => a.n > 0);
  if (first < 0) return '0s';
  return amounts
    .slice(first, first + 2)
    .filter((a) => a.n > 0)
    .map((a) => `${a.n}${a.name}`)
    .join(' ');
}

export function formatBytes(bytes: number): string {
  if (bytes < 1000) return `${bytes} B`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let value = bytes / 1000;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

export function isoTime(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString();
}

/** "1 recipient", "2 recipients". */
export function plural(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

const DURATION_UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400, w: 604_800 };

/** "90s", "30m", "1h", "2d", "1w" (a bare number is seconds) in milliseconds, or null. */
export function parseDuration(text: string): number | null {
  const match = /^(\d+)([smhdw]?)$/.exec(text.trim());
  if (!match) return null;
  return Number(match[1]) * (DURATION_UNITS[match[2] || 's'] ?? 1) * 1000;
}

/** Buffered writes to stdout, for listings that may run to many megabytes. */
export class OutputBuffer {
  private parts: string[] = [];
  private size = 0;

  write(text: string): void {
    this.parts.push(text);
    this.size += text.length;
    if (this.size >= 65_536) this.flush();
  }

  flush(): void {
    if (this.parts.length > 0) process.stdout.write(this.parts.join(''));
    this.parts = [];
    this.size = 0;
  }
}
