// Shared pieces of the delivery end-to-end tests: a daemon configuration that delivers through the
// test's DNS server to fake MX hosts on one port (keeping delivered bodies, so DSNs can be read back
// from the spool), submitting a message on 587, and waiting for the
// spool to reach a state.
import type { SqliteDatabase } from '../../src/spool/sqlite.js';
import { queueIdOf, sendWithNodemailer } from './clients.js';
import { DEFAULT_USER, merge, type TestDaemon } from './daemon.js';
import type { DnsServer } from './dns-server.js';

export function deliveryConfig(dns: DnsServer, port: number, over: Record<string, unknown> = {}): Record<string, unknown> {
  const base = {
    spool: { keepDelivered: 3600 },
    delivery: { routes: {}, port, allowPrivateDestinations: true, retry: { minBackoff: 60, maxBackoff: 120, maxLifetime: 3600 } },
    dns: { servers: [dns.address], timeout: 1000 },
  };
  return merge(base, over);
}

export function testMessage(subject: string, to: string): string {
  return [
    'From: App <alerts@example.com>',
    `To: ${to}`,
    `Subject: ${subject}`,
    'Date: Wed, 25 Nov 2026 10:00:00 +0000',
    `Message-ID: <${subject.replace(/\W+/g, '-')}@example.com>`,
    'Content-Type: text/plain; charset=utf-8',
    '',
    'Körper mit Umlauten, and a line that starts with a dot:',
    '.like this one',
    '',
  ].join('\r\n');
}

/** Submit on 587 as alerts@example.com; resolves with the queue ID. */
export async function submit(
  daemon: TestDaemon,
  to: readonly string[],
  message = testMessage(`to ${to.join(' ')}`, to.join(', ')),
): Promise<string> {
  const outcome = await sendWithNodemailer({
    port: daemon.ports.submission,
    implicitTls: false,
    user: DEFAULT_USER.name,
    password: DEFAULT_USER.password,
    from: 'alerts@example.com',
    to,
    message,
  });
  const id = queueIdOf(outcome.response);
  if (!outcome.ok || !id) throw new Error(`submission failed: ${outcome.response}`);
  return id;
}

export interface RecipientRow {
  readonly address: string;
  readonly state: string;
  readonly attempts: number;
  readonly last_reply: string | null;
  readonly last_mx: string | null;
  readonly lease_until: number | null;
}

export function withSpool<T>(daemon: TestDaemon, read: (db: SqliteDatabase) => T): T {
  const db = daemon.openSpool();
  try {
    return read(db);
  } finally {
    db.close();
  }
}

export function recipientsOf(daemon: TestDaemon, queueId: string): RecipientRow[] {
  return withSpool(
    daemon,
    (db) =>
      db
        .prepare('SELECT address, state, attempts, last_reply, last_mx, lease_until FROM recipients WHERE message_id = ? ORDER BY address')
        .all(queueId) as RecipientRow[],
  );
}

/** Poll the spool until `done` holds for the message's recipients (every 50 ms, up to timeoutMs). */
export async function waitForRecipients(
  daemon: TestDaemon,
  queueId: string,
  done: (rows: RecipientRow[]) => boolean,
  timeoutMs = 10_000,
): Promise<RecipientRow[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const rows = recipientsOf(daemon, queueId);
    if (rows.length > 0 && done(rows)) return rows;
    if (Date.now() > deadline) throw new Error(`recipients of ${queueId} not as expected within ${timeoutMs} ms: ${JSON.stringify(rows)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export const allFinal = (rows: RecipientRow[]): boolean => rows.every((r) => r.state === 'delivered' || r.state === 'bounced');

/** The DSNs (kind "bounce") in the spool that report on `queueId`, with their bodies. */
export function dsnsFor(daemon: TestDaemon, queueId: string): Array<{ id: string; sender: string; recipients: string; body: string }> {
  return withSpool(daemon, (db) => {
    const rows = db
      .prepare(
        `SELECT m.id, m.sender, group_concat(r.address) AS recipients, b.data FROM messages m
         JOIN recipients r ON r.message_id = m.id LEFT JOIN bodies b ON b.message_id = m.id
        WHERE m.kind = 'bounce' GROUP BY m.id`,
      )
      .all() as Array<{ id: string; sender: string; recipients: string; data: Buffer | null }>;
    return rows
      .map((r) => ({ id: r.id, sender: r.sender, recipients: r.recipients, body: r.data?.toString('utf8') ?? '' }))
      .filter((r) => r.body.includes(`X-Smarthost-Queue-ID: ${queueId}`));
  });
}
