// The free-space reserve of the spool's file system (`spool.minFree`, Postfix's queue_minfree). New
// mail is taken only while the file system would keep at least minFree bytes free after it: below
// that, MAIL (when its SIZE says the message would cross the line) or DATA gets 452 4.3.1, and the
// room left is for what the daemon must still write: delivery outcomes, DSNs, the retention sweep's
// deletions. So a disk filling up stops submissions before it stops the bookkeeping whose failure
// would have a delivered message delivered again. Free space is what an unprivileged process may use
// (statfs f_bavail), read afresh at each check: one system call, a few microseconds.
import { statfsSync } from 'node:fs';

export interface DiskSpace {
  /** Bytes an unprivileged process may still write on the spool's file system. */
  readonly free: number;
  readonly minFree: number;
  /** free >= minFree */
  readonly ok: boolean;
}

export class DiskReserve {
  private wasOk = true;

  /** `onChange` is told when the free space falls below the reserve and when it is back above. */
  constructor(
    private readonly dir: string,
    readonly minFree: number,
    private readonly onChange: (space: DiskSpace) => void = () => undefined,
    private readonly statfs: (dir: string) => { bavail: number; bsize: number } = statfsSync,
  ) {}

  space(): DiskSpace {
    const { bavail, bsize } = this.statfs(this.dir);
    const free = bavail * bsize;
    const space = { free, minFree: this.minFree, ok: free >= this.minFree };
    if (space.ok !== this.wasOk) {
      this.wasOk = space.ok;
      this.onChange(space);
    }
    return space;
  }

  /** Whether `bytes` more can be spooled without going below the reserve (always, with minFree 0). */
  allows(bytes: number): boolean {
    return this.minFree === 0 || this.space().free - bytes >= this.minFree;
  }
}
