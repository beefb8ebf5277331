import assert from 'node:assert/strict';
import { test } from 'node:test';
import { backoffMs, isExpired } from '../../src/delivery/backoff.js';

const postfix = { minBackoff: 300, maxBackoff: 4000, maxLifetime: 432_000 };
const middle = (): number => 0.5;

test('backoff doubles from minBackoff and stops at maxBackoff', () => {
  const schedule = [1, 2, 3, 4, 5, 6, 10].map((n) => backoffMs(n, postfix, middle) / 1000);
  assert.deepEqual(schedule, [300, 600, 1200, 2400, 4000, 4000, 4000]);
});

test('jitter spreads a delay by at most 10% and never leaves [min, max]', () => {
  assert.equal(
    backoffMs(2, postfix, () => 0),
    540_000,
  );
  assert.equal(
    backoffMs(2, postfix, () => 0.999_999),
    660_000,
  );
  assert.equal(
    backoffMs(1, postfix, () => 0),
    300_000,
    'never below minBackoff',
  );
  assert.equal(
    backoffMs(9, postfix, () => 0.999_999),
    4_000_000,
    'never above maxBackoff',
  );
  assert.equal(
    backoffMs(9, postfix, () => 0),
    3_600_000,
  );
});

test('small test schedules and a maxBackoff below minBackoff', () => {
  assert.deepEqual(
    [1, 2, 3].map((n) => backoffMs(n, { minBackoff: 1, maxBackoff: 2, maxLifetime: 3 }, middle)),
    [1000, 2000, 2000],
  );
  assert.equal(backoffMs(3, { minBackoff: 10, maxBackoff: 5, maxLifetime: 60 }, middle), 10_000);
});

test('expiry: queued for maxLifetime or longer since arrival', () => {
  const arrived = 1_000_000;
  assert.equal(isExpired(arrived, arrived + 431_999_999, postfix), false);
  assert.equal(isExpired(arrived, arrived + 432_000_000, postfix), true);
  assert.equal(isExpired(arrived, arrived, { ...postfix, maxLifetime: 0 }), true, 'maxLifetime 0: one attempt only');
});
