// The checkpointer's worker thread (see checkpointer.ts): its own connection to the spool, a PASSIVE
// checkpoint every few hundred milliseconds, a last one on "stop".
import { parentPort, workerData } from 'node:worker_threads';
import { Database } from './sqlite.js';

const { path, busyTimeout, everyMs } = workerData as { path: string; busyTimeout: number; everyMs: number };
const db = new Database(path, { timeout: busyTimeout });
const checkpoint = db.prepare('PRAGMA wal_checkpoint(PASSIVE)');

function run(): void {
  try {
    checkpoint.run();
  } catch (err) {
    // SQLITE_BUSY and friends: the next round tries again. Anything lasting shows in the WAL size.
    void err;
  }
}

const timer = setInterval(run, everyMs);
parentPort?.on('message', (message) => {
  if (message !== 'stop') return;
  clearInterval(timer);
  run();
  db.close();
  parentPort?.close();
});
