// The crash campaign: clients keep submitting (implicit TLS, AUTH, one recipient, a unique token in
// each message) while the daemon is killed with SIGKILL at random moments and restarted, and a
// receiving MTA on loopback (an smtp-server receiver) takes deliveries, or is down for the whole
// window and comes up after it. At the end every message that got 250 must have arrived at least
// once (lost = 0); duplicates (delivered, killed before the outcome was recorded, delivered again)
// are counted, and the spool must pass PRAGMA integrity_check. Used by test/e2e/crash-campaign.test.ts
// (short) and bench/crash-campaign.ts (long); everything on loopback, bounded in count and time.
import { DEFAULT_USER, TestDaemon } from './daemon.js';
import { deliveryConfig } from './delivery.js';
import { DnsServer } from './dns-server.js';
import { FakeMx, freePort } from './fake-mx.js';
import { prng } from './fuzz.js';
import { authenticatedClient, type SmtpClient } from './smtp-client.js';

export interface CampaignOptions {
  readonly kills: number;
  readonly senders: number;
  /** The receiving MTA is down while the daemon is being killed, and comes up after. */
  readonly mtaDownDuringKills: boolean;
  readonly seed: number;
  /** Random part of each run of the daemon between two kills, in ms (each run lasts 0.5 s plus a random part of this). */
  readonly maxRunMs: number;
  /** How long to wait for every accepted message to arrive after the last restart. */
  readonly settleMs: number;
}

export interface CampaignFigures {
  readonly kills: number;
  /** Transactions started (MAIL FROM sent). */
  readonly attempts: number;
  readonly accepted: number;
  /** Explicit 4xx/5xx replies. */
  readonly refused: number;
  /** No final reply: the daemon died during the transaction. */
  readonly interrupted: number;
  readonly lost: number;
  readonly duplicates: number;
  /** Interrupted transactions whose message was committed before the kill and delivered anyway. */
  readonly deliveredWithout250: number;
  readonly integrity: string;
  readonly seconds: number;
}

interface Tally {
  attempts: number;
  refused: number;
  interrupted: number;
  readonly accepted: Set<string>;
  stop: boolean;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const TOKEN = /^X-Campaign-Token: (\S+)\r$/m;

async function sendOne(client: SmtpClient, token: string, tally: Tally): Promise<void> {
  tally.attempts += 1;
  let replied = false;
  try {
    const mail = await client.send('MAIL FROM:<campaign@example.com>', 5000);
    const rcpt = mail.code === 250 ? await client.send(`RCPT TO:<${token}@remote.test>`, 5000) : mail;
    const reply =
      rcpt.code === 250
        ? await client.data(`From: campaign@example.com\r\nX-Campaign-Token: ${token}\r\nSubject: ${token}\r\n\r\nbody\r\n`)
        : rcpt;
    replied = true;
    if (reply.code === 250) tally.accepted.add(token);
    else {
      tally.refused += 1;
      await client.send('RSET', 5000);
    }
  } finally {
    if (!replied) tally.interrupted += 1;
  }
}

async function sender(daemon: TestDaemon, index: number, tally: Tally): Promise<void> {
  let client: SmtpClient | null = null;
  for (let n = 0; !tally.stop; ) {
    try {
      client ??= await authenticatedClient(daemon.ports.submissions, DEFAULT_USER.name, DEFAULT_USER.password, true);
      await sendOne(client, `s${index}n${n++}`, tally);
    } catch {
      client?.close();
      client = null;
      await sleep(50);
    }
  }
  client?.close();
}

export async function runCampaign(options: CampaignOptions): Promise<CampaignFigures> {
  const random = prng(options.seed);
  const started = Date.now();
  const dns = await DnsServer.start();
  const port = await freePort('127.0.0.2');
  let mx = options.mtaDownDuringKills ? null : await FakeMx.start('127.0.0.2', port);
  dns
    .add('remote.test', { type: 'MX', exchange: 'mx.remote.test', preference: 10 })
    .add('mx.remote.test', { type: 'A', address: '127.0.0.2' });
  const config = deliveryConfig(dns, port, {
    spool: { keepDelivered: 0 },
    delivery: { retry: { minBackoff: 1, maxBackoff: 2, maxLifetime: 3600 }, timeouts: { connect: 2 } },
    limits: { perUser: { messagesPerHour: 0, recipientsPerHour: 0 } },
    log: { level: 'info' },
  });
  const daemon = await TestDaemon.start({ config });
  const tally: Tally = { attempts: 0, refused: 0, interrupted: 0, accepted: new Set(), stop: false };
  try {
    const senders = Array.from({ length: options.senders }, (_, i) => sender(daemon, i, tally));
    for (let kill = 0; kill < options.kills; kill++) {
      await sleep(500 + random() * options.maxRunMs);
      await daemon.kill();
      await sleep(random() * 200);
      await daemon.launch();
    }
    await sleep(300);
    tally.stop = true;
    await Promise.all(senders);
    mx ??= await FakeMx.start('127.0.0.2', port);
    const received = await arrivals(mx, tally.accepted, options.settleMs);
    return figures(options, tally, received, integrity(daemon), started);
  } finally {
    tally.stop = true;
    await daemon.cleanup();
    await Promise.all([mx?.close(), dns.close()]);
  }
}

/** Tokens of every message the receiver got (with repeats), once all accepted ones are in or time is up. */
async function arrivals(mx: FakeMx, accepted: ReadonlySet<string>, settleMs: number): Promise<string[]> {
  const deadline = Date.now() + settleMs;
  const tokens = (): string[] => mx.received.map((m) => TOKEN.exec(m.data.toString('latin1'))?.[1] ?? '?');
  while (Date.now() < deadline && [...accepted].some((t) => !tokens().includes(t))) await sleep(200);
  await sleep(500);
  return tokens();
}

function integrity(daemon: TestDaemon): string {
  const db = daemon.openSpool();
  try {
    return String(db.pragma('integrity_check', { simple: true }));
  } finally {
    db.close();
  }
}

function figures(
  options: CampaignOptions,
  tally: Tally,
  received: readonly string[],
  integrityCheck: string,
  started: number,
): CampaignFigures {
  const distinct = new Set(received);
  return {
    kills: options.kills,
    attempts: tally.attempts,
    accepted: tally.accepted.size,
    refused: tally.refused,
    interrupted: tally.interrupted,
    lost: [...tally.accepted].filter((t) => !distinct.has(t)).length,
    duplicates: received.length - distinct.size,
    deliveredWithout250: [...distinct].filter((t) => !tally.accepted.has(t)).length,
    integrity: integrityCheck,
    seconds: (Date.now() - started) / 1000,
  };
}
