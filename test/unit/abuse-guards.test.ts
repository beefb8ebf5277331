// The in-memory abuse guards with a hand-moved clock: the AUTH throttle (per address, per user name,
// cooling periods that end, known addresses exempt from a user lock), per-user hourly quotas, and
// connection limits.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { AuthThrottle, type AuthThrottleSettings } from '../../src/submission/auth-throttle.js';
import { ConnectionLimits } from '../../src/submission/connection-limits.js';
import { UserQuotas } from '../../src/submission/user-quota.js';

class HandClock {
  t = 1_700_000_000_000;
  now(): number {
    return this.t;
  }
  advance(seconds: number): void {
    this.t += seconds * 1000;
  }
}

const SETTINGS: AuthThrottleSettings = {
  window: 60,
  slowAfter: 2,
  delay: 1,
  maxPerClient: 4,
  maxPerUser: 6,
  cooldown: 600,
  knownClientTtl: 86_400,
};

describe('AuthThrottle', () => {
  const fail = (throttle: AuthThrottle, client: string, user: string, times: number): void => {
    for (let i = 0; i < times; i++) throttle.failed(client, user);
  };

  test('an address is slowed past slowAfter, blocked at maxPerClient, and only that address', () => {
    const throttle = new AuthThrottle(SETTINGS, new HandClock());
    assert.equal(throttle.failed('192.0.2.1', 'app').delayMs, 0);
    assert.equal(throttle.failed('192.0.2.1', 'bob').delayMs, 0);
    assert.equal(throttle.failed('192.0.2.1', 'carol').delayMs, 1000);
    assert.deepEqual(throttle.failed('192.0.2.1', 'dave').blocked, ['client']);
    assert.deepEqual(throttle.check('192.0.2.1', 'app'), {
      allowed: false,
      scope: 'client',
      until: throttle.clientBlockedUntil('192.0.2.1'),
    });
    assert.deepEqual(throttle.check('192.0.2.2', 'app'), { allowed: true });
    assert.equal(throttle.clientBlockedUntil('192.0.2.2'), 0);
  });

  test('the limits in force are the reloaded ones (what the "blocked" log lines report)', () => {
    const throttle = new AuthThrottle(SETTINGS, new HandClock());
    const reloaded = { ...SETTINGS, maxPerClient: SETTINGS.maxPerClient + 5, cooldown: SETTINGS.cooldown * 2 };
    throttle.configure(reloaded);
    assert.deepEqual(throttle.limits, reloaded);
  });

  test('failures older than the window are forgotten', () => {
    const clock = new HandClock();
    const throttle = new AuthThrottle(SETTINGS, clock);
    fail(throttle, '192.0.2.1', 'app', 3);
    clock.advance(61);
    assert.deepEqual(throttle.failed('192.0.2.1', 'app').blocked, []);
    assert.equal(throttle.check('192.0.2.1', 'app').allowed, true);
  });

  test('a cooling period ends after cooldown seconds, and attempts during it do not extend it', () => {
    const clock = new HandClock();
    const throttle = new AuthThrottle(SETTINGS, clock);
    fail(throttle, '192.0.2.1', 'app', 4);
    const until = throttle.clientBlockedUntil('192.0.2.1');
    assert.equal(until, clock.t + 600_000);
    clock.advance(599);
    for (let i = 0; i < 10; i++) throttle.failed('192.0.2.1', `u${i}`);
    assert.equal(throttle.clientBlockedUntil('192.0.2.1'), until);
    clock.advance(1);
    assert.equal(throttle.check('192.0.2.1', 'app').allowed, true);
    assert.deepEqual(throttle.failed('192.0.2.1', 'app').blocked, [], 'counting starts again from zero');
  });

  test('a user name guessed from many addresses is locked, but not for an address it logged in from', () => {
    const clock = new HandClock();
    const throttle = new AuthThrottle(SETTINGS, clock);
    throttle.succeeded('198.51.100.7', 'app');
    for (let i = 1; i <= 6; i++) throttle.failed(`203.0.113.${i}`, 'app');
    assert.equal(throttle.check('203.0.113.99', 'app').allowed, false);
    assert.equal(throttle.check('203.0.113.99', 'other').allowed, true, 'other users are not affected');
    assert.deepEqual(throttle.check('198.51.100.7', 'app'), { allowed: true }, 'the usual address still logs in');
    clock.advance(600);
    assert.equal(throttle.check('203.0.113.99', 'app').allowed, true, 'the lock ends');
  });

  test('a known address is forgotten after knownClientTtl', () => {
    const clock = new HandClock();
    const throttle = new AuthThrottle({ ...SETTINGS, knownClientTtl: 100, cooldown: 1000 }, clock);
    throttle.succeeded('198.51.100.7', 'app');
    clock.advance(101);
    for (let i = 1; i <= 6; i++) throttle.failed(`203.0.113.${i}`, 'app');
    assert.equal(throttle.check('198.51.100.7', 'app').allowed, false);
  });

  test('attempts refused by a user lock count against the address', () => {
    const throttle = new AuthThrottle(SETTINGS, new HandClock());
    for (let i = 1; i <= 6; i++) throttle.failed(`203.0.113.${i}`, 'app');
    const blocked = [1, 2, 3, 4].map(() => throttle.refused('192.0.2.50'));
    assert.deepEqual(blocked, [false, false, false, true]);
    assert.equal(throttle.check('192.0.2.50', 'other').allowed, false);
  });

  test('memory stays bounded when an attacker invents user names', () => {
    const throttle = new AuthThrottle({ ...SETTINGS, maxPerUser: 1000 }, new HandClock());
    for (let i = 0; i < 120_000; i++) throttle.failed('192.0.2.1', `user${i}`);
    const users = (throttle as unknown as { users: { entries: { size: number } } }).users.entries.size;
    assert.ok(users <= 50_000, `${users} entries`);
  });
});

describe('UserQuotas', () => {
  const limits = {
    perUser: { messagesPerHour: 3, recipientsPerHour: 10 },
    users: { bulk: { messagesPerHour: 0, recipientsPerHour: 0 }, small: { recipientsPerHour: 2 } },
  };

  test('a full hour at once, then earned back continuously', () => {
    const clock = new HandClock();
    const quotas = new UserQuotas(limits, clock);
    for (let i = 0; i < 3; i++) assert.deepEqual(quotas.take('app', 1), { ok: true });
    assert.deepEqual(quotas.check('app', 1), { ok: false, kind: 'messages', perHour: 3 });
    assert.deepEqual(quotas.take('app', 1), { ok: false, kind: 'messages', perHour: 3 });
    clock.advance(1199);
    assert.equal(quotas.check('app', 1).ok, false);
    clock.advance(1);
    assert.equal(quotas.take('app', 1).ok, true, 'one message per 20 minutes comes back');
    assert.equal(quotas.check('other', 1).ok, true, 'users are counted apart');
  });

  test('recipients are counted too; a refused take takes nothing; refund gives back', () => {
    const quotas = new UserQuotas(limits, new HandClock());
    assert.equal(quotas.take('app', 8).ok, true);
    assert.deepEqual(quotas.take('app', 3), { ok: false, kind: 'recipients', perHour: 10 });
    assert.equal(quotas.take('app', 2).ok, true, 'the refused take cost no message');
    quotas.refund('app', 2);
    assert.equal(quotas.take('app', 2).ok, true);
    assert.equal(quotas.check('app', 1).ok, false);
  });

  test('per-user overrides; 0 means no limit', () => {
    const quotas = new UserQuotas(limits, new HandClock());
    for (let i = 0; i < 100; i++) assert.equal(quotas.take('bulk', 1).ok, true);
    assert.deepEqual(quotas.quotaOf('small'), { messagesPerHour: 3, recipientsPerHour: 2 });
    assert.deepEqual(quotas.check('small', 3), { ok: false, kind: 'recipients', perHour: 2 });
    assert.deepEqual(quotas.quotaOf('constructor'), { messagesPerHour: 3, recipientsPerHour: 10 });
  });
});

describe('ConnectionLimits', () => {
  test('total and per address; refused sessions release nothing', () => {
    const limits = new ConnectionLimits({ maxClients: 3, maxClientsPerAddress: 2 });
    assert.equal(limits.admit('a', '192.0.2.1'), null);
    assert.equal(limits.admit('b', '192.0.2.1'), null);
    assert.equal(limits.admit('c', '192.0.2.1')?.code, 421);
    assert.equal(limits.admit('d', '192.0.2.2'), null);
    assert.equal(limits.admit('e', '192.0.2.3')?.text, 'Error: too many connections; try again later');
    assert.equal(limits.release('c', '192.0.2.1'), false);
    assert.equal(limits.release('a', '192.0.2.1'), true);
    assert.equal(limits.size, 2);
    assert.equal(limits.admit('f', '192.0.2.1'), null);
  });
});
