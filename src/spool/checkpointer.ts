// WAL checkpoints off the hot path. SQLite normally checkpoints inside whichever commit pushes the
// WAL past 1,000 pages: that commit then copies megabytes into the database file and fsyncs it, and
// every client waiting on it sees the stall in its 250 (the worst of the accept latencies). Instead, a
// worker thread with its own connection runs a PASSIVE checkpoint every CHECKPOINT_EVERY_MS; a passive
// checkpoint never blocks writers, so submissions and delivery go on while it works. The daemon's own
// connections keep automatic checkpoints only as a backstop (a much larger threshold), should the
// thread ever fall behind or stop.
import { Worker } from 'node:worker_threads';
import type { SpoolDatabase } from './database.js';

const CHECKPOINT_EVERY_MS = 200;
/** Pages (4 KiB) of WAL past which a committing connection checkpoints by itself after all. */
export const BACKSTOP_AUTOCHECKPOINT_PAGES = 16_384;

export interface Checkpointer {
  stop(): Promise<void>;
}

export interface CheckpointerOptions {
  readonly path: string;
  readonly busyTimeout: number;
  readonly onError?: (err: Error) => void;
}

/** Raise the automatic checkpoint threshold of a daemon connection to the backstop. */
export function deferAutomaticCheckpoints(db: SpoolDatabase): void {
  db.pragma(`wal_autocheckpoint = ${BACKSTOP_AUTOCHECKPOINT_PAGES}`);
}

export function startCheckpointer(options: CheckpointerOptions): Checkpointer {
  const worker = new Worker(new URL('./checkpoint-thread.js', import.meta.url), {
    workerData: { path: options.path, busyTimeout: options.busyTimeout, everyMs: CHECKPOINT_EVERY_MS },
  });
  worker.on('error', (err) => options.onError?.(err));
  worker.unref();
  return {
    stop: async () => {
      worker.postMessage('stop');
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => void worker.terminate().then(() => resolve()), 5000);
        worker.once('exit', () => {
          clearTimeout(timer);
          resolve();
        });
      });
    },
  };
}
