// Pre-fills a spool with waiting work, for the scale benchmarks: `recipients` deferred recipients
// (10 per message, over 1,000 domains, next attempt in a day) with small bodies, written directly
// with the spool's own schema in large transactions.
import { openSpool } from '../src/spool/database.js';
import { QueueIdGenerator } from '../src/spool/queue-id.js';

export function fillBacklog(path: string, recipients: number, now = Date.now()): void {
  const db = openSpool(path);
  const ids = new QueueIdGenerator(() => now - 3_600_000);
  const body = Buffer.from('From: <waiting@bench.example>\r\nSubject: waiting\r\n\r\nwaiting in the queue\r\n');
  const insertMessage = db.prepare(
    "INSERT INTO messages (id, sender, username, client_address, size, created_at, kind) VALUES (?, 'waiting@bench.example', 'bench', '127.0.0.1', ?, ?, 'message')",
  );
  const insertBody = db.prepare('INSERT INTO bodies (message_id, data) VALUES (?, ?)');
  const insertRecipient = db.prepare(
    "INSERT INTO recipients (message_id, address, domain, state, attempts, next_attempt_at, last_reply, updated_at) VALUES (?, ?, ?, 'deferred', 1, ?, '451 4.3.0 try again later', ?)",
  );
  const perMessage = 10;
  const batch = db.transaction((from: number, to: number) => {
    for (let m = from; m < to; m++) {
      const id = ids.next();
      insertMessage.run(id, body.length, now - 3_600_000);
      insertBody.run(id, body);
      for (let r = 0; r < perMessage; r++) {
        const domain = `d${(m * perMessage + r) % 1000}.waiting.example`;
        insertRecipient.run(id, `r${r}@${domain}`, domain, now + 86_400_000, now - 3_600_000);
      }
    }
  });
  const messages = Math.ceil(recipients / perMessage);
  for (let m = 0; m < messages; m += 10_000) batch(m, Math.min(messages, m + 10_000));
  db.pragma('wal_checkpoint(TRUNCATE)');
  db.close();
}
