// Brute force against SMTP AUTH, from several client addresses (127.0.0.x), against the real daemon:
// an address that keeps failing is slowed, then refused with 421 4.7.0 (AUTH and new connections)
// for the cooling period, while other addresses log in; a user name guessed from many addresses is
// locked except from the address its owner logs in from; every block ends; the log lines a
// fail2ban filter matches cannot be forged through the user name; the metrics count all of it.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { UserStore } from '../../src/auth/users.js';
import { parseConfig } from '../../src/config/load.js';
import { systemClock } from '../../src/platform/clock.js';
import { createLogger } from '../../src/platform/logger.js';
import { Metrics } from '../../src/platform/metrics.js';
import { openSpool } from '../../src/spool/database.js';
import { Enqueuer } from '../../src/spool/enqueue.js';
import { QueueIdGenerator } from '../../src/spool/queue-id.js';
import { startSubmission, stopSubmission } from '../../src/submission/listeners.js';
import { readTlsFiles } from '../../src/config/files.js';
import { DEFAULT_USER, ROOT, TestDaemon, type LogLine } from '../helpers/daemon.js';
import { SmtpClient } from '../helpers/smtp-client.js';

const COOLDOWN = 3;
const AUTH_FAILURES = { window: 60, slowAfter: 2, delay: 1, maxPerClient: 4, maxPerUser: 6, cooldown: COOLDOWN };
const VICTIM = { name: 'victim', password: 'victim password 1', allow: ['@victim.example'] };
/** The failregex of docs/hardening.md's fail2ban filter, on the "msg" of a log line. */
const FAIL2BAN = /^authentication failed: client=(\S+) /;

async function tryLogin(
  port: number,
  from: string,
  user: string,
  password: string,
): Promise<{ code: number; ms: number; client: SmtpClient }> {
  const client = await SmtpClient.connect(port, { implicitTls: true, localAddress: from });
  if (client.greeting.code !== 220) return { code: client.greeting.code, ms: 0, client };
  await client.ehlo();
  const started = Date.now();
  const reply = await client.authPlain(user, password);
  return { code: reply.code, ms: Date.now() - started, client };
}

async function loginCode(port: number, from: string, user: string, password: string): Promise<number> {
  const { code, client } = await tryLogin(port, from, user, password);
  client.close();
  return code;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Retry a login every 250 ms until it gets 235 (bounded); the time it first did. */
async function firstAcceptedAt(login: () => Promise<number>, limitMs: number): Promise<number> {
  const deadline = Date.now() + limitMs;
  while (Date.now() < deadline) {
    if ((await login()) === 235) return Date.now();
    await sleep(250);
  }
  throw new Error(`still refused after ${limitMs} ms`);
}

describe('brute force against AUTH', () => {
  let daemon: TestDaemon;
  let port: number;
  before(async () => {
    daemon = await TestDaemon.start({ config: { authFailures: AUTH_FAILURES }, users: [DEFAULT_USER, VICTIM] });
    port = daemon.ports.submissions;
  });
  after(() => daemon.cleanup());
  const logged = (predicate: (l: LogLine) => boolean): LogLine[] => daemon.logs.filter(predicate);

  test('one address: slowed, then 421 4.7.0 for the cooling period; others log in meanwhile; it ends', async () => {
    const attacker = await SmtpClient.connect(port, { implicitTls: true, localAddress: '127.0.0.2' });
    await attacker.ehlo();
    for (let i = 1; i <= 2; i++) assert.equal((await attacker.authPlain('app', `guess ${i}`)).code, 535);
    let started = Date.now();
    assert.equal((await attacker.authPlain('app', 'guess 3')).code, 535);
    assert.ok(Date.now() - started >= 900, 'the third failure is held back about a second');
    started = Date.now();
    assert.equal((await attacker.authPlain('app', 'guess 4')).code, 535);
    const refused = await attacker.authPlain('app', DEFAULT_USER.password);
    assert.equal(refused.code, 421, 'even the right password is refused while cooling off');
    assert.match(refused.text, /^4\.7\.0 Error: too many failed logins from 127\.0\.0\.2/);
    await assert.rejects(attacker.read(2000), /closed/);

    assert.equal(await loginCode(port, '127.0.0.3', 'app', DEFAULT_USER.password), 235, 'another address is not affected');
    const again = await SmtpClient.connect(port, { implicitTls: true, localAddress: '127.0.0.2' });
    assert.equal(again.greeting.code, 421, 'new connections are refused too');
    assert.match(again.greeting.text, /^4\.7\.0 /);
    again.close();

    const endedAt = await firstAcceptedAt(() => loginCode(port, '127.0.0.2', 'app', DEFAULT_USER.password), COOLDOWN * 1000 + 10_000);
    assert.ok(endedAt >= started + COOLDOWN * 1000, 'not before the cooling period is over');

    const failures = logged((l) => l.level === 'warn' && FAIL2BAN.exec(l.msg ?? '')?.[1] === '127.0.0.2');
    assert.equal(failures.length, 4);
    assert.ok(logged((l) => l.msg === `client blocked: client=127.0.0.2 failures=4 cooldown=${COOLDOWN}s`).length === 1);
    assert.ok(logged((l) => l.msg?.startsWith('login refused: client=127.0.0.2 user=app client cooling off until') === true).length === 1);
    assert.ok(logged((l) => l.msg?.startsWith('connection refused: client=127.0.0.2 is cooling off') === true).length >= 1);
  });

  test('one user name from many addresses: locked for new addresses, not for its usual address; it ends', async () => {
    assert.equal(await loginCode(port, '127.0.0.10', VICTIM.name, VICTIM.password), 235, 'the owner logs in from its usual address');
    for (let i = 11; i <= 16; i++) assert.equal(await loginCode(port, `127.0.0.${i}`, VICTIM.name, 'wrong'), 535);
    const lockedAt = Date.now();
    assert.equal(await loginCode(port, '127.0.0.20', VICTIM.name, VICTIM.password), 421, 'a new address is refused');
    assert.equal(await loginCode(port, '127.0.0.10', VICTIM.name, VICTIM.password), 235, 'the usual address is not locked out');
    assert.equal(await loginCode(port, '127.0.0.20', 'app', DEFAULT_USER.password), 235, 'other users are not locked');
    assert.equal(logged((l) => l.msg === `user blocked: user=victim failures=6 cooldown=${COOLDOWN}s`).length, 1);
    const endedAt = await firstAcceptedAt(() => loginCode(port, '127.0.0.20', VICTIM.name, VICTIM.password), COOLDOWN * 1000 + 10_000);
    assert.ok(endedAt >= lockedAt + COOLDOWN * 1000 - 1000, 'the lock ends after the cooling period');
  });

  test('a user name cannot put another address where a log watcher expects the client', async () => {
    const forged = 'x client=10.9.9.9 "';
    assert.equal(await loginCode(port, '127.0.0.30', forged, 'wrong'), 535);
    const line = await daemon.waitForLog((l) => l['client'] === '127.0.0.30' && l.msg?.startsWith('authentication failed') === true);
    assert.equal(line.msg, 'authentication failed: client=127.0.0.30 user=x?client=10.9.9.9?"');
    assert.equal(FAIL2BAN.exec(line.msg ?? '')?.[1], '127.0.0.30');
  });
});

describe('brute-force metrics', () => {
  test('failures, cooling periods and refusals are counted by reason and scope', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'smarthost-metrics-'));
    const fixtures = join(ROOT, 'test', 'fixtures', 'tls');
    const config = parseConfig(
      JSON.stringify({
        hostname: 'relay.test',
        spool: { path: join(dir, 'spool.db') },
        tls: { cert: join(fixtures, 'cert.pem'), key: join(fixtures, 'key.pem') },
        listen: { submission: [], submissions: ['127.0.0.1:0'] },
        authFailures: { ...AUTH_FAILURES, delay: 0 },
      }),
      join(dir, 'smarthost.yaml'),
    );
    const db = openSpool(config.spool.path);
    const users = new UserStore(db);
    await users.add('app', 'right password', ['@example.com']);
    const metrics = new Metrics({ defaultMetrics: false });
    const deps = {
      config,
      users,
      enqueuer: new Enqueuer(db),
      ids: new QueueIdGenerator(),
      clock: systemClock,
      logger: createLogger('silent'),
      metrics,
    };
    const tls = readTlsFiles(config);
    assert.ok(!Array.isArray(tls), 'the test certificate is usable');
    const listeners = await startSubmission(deps, tls);
    try {
      const port = listeners[0]?.port ?? 0;
      for (let i = 0; i < 4; i++) assert.equal(await loginCode(port, '127.0.0.40', 'app', 'wrong'), 535);
      assert.equal(await loginCode(port, '127.0.0.40', 'app', 'right password'), 421);
      const value = async (name: string, labels: Record<string, string>): Promise<number> => {
        const metric = await metrics.registry.getSingleMetric(name)?.get();
        const found = metric?.values.find((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l));
        return found?.value ?? 0;
      };
      assert.equal(await value('smarthost_auth_failures_total', { reason: 'credentials' }), 4);
      assert.equal(await value('smarthost_auth_blocks_total', { scope: 'client' }), 1);
      assert.equal(await value('smarthost_auth_throttled_total', { scope: 'client' }), 1);
      assert.equal(await value('smarthost_connections_refused_total', { reason: 'blocked' }), 1);
    } finally {
      await stopSubmission(listeners, 0);
      db.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
