// Small pieces of the operator's side: ages, sizes and durations as the CLI prints and reads them,
// the readiness notification, and the health verdict.
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { formatAge, formatBytes, parseDuration } from '../../src/cli/format.js';
import { HealthCheck } from '../../src/daemon/http.js';
import { createReadyNotifier } from '../../src/daemon/notify.js';
import { createLogger } from '../../src/platform/logger.js';
import type { BoundListener } from '../../src/submission/server.js';

describe('CLI formats', () => {
  test('ages: the largest unit and the next when it is not zero', () => {
    assert.equal(formatAge(0), '0s');
    assert.equal(formatAge(59_999), '59s');
    assert.equal(formatAge(61_000), '1m 1s');
    assert.equal(formatAge(3_600_000), '1h');
    assert.equal(formatAge(2 * 86_400_000 + 4 * 3_600_000 + 5000), '2d 4h');
    assert.equal(formatAge(-5000), '0s');
  });
  test('sizes', () => {
    assert.equal(formatBytes(999), '999 B');
    assert.equal(formatBytes(1834), '1.8 kB');
    assert.equal(formatBytes(26_214_400), '26 MB');
  });
  test('durations for --older-than', () => {
    assert.equal(parseDuration('90'), 90_000);
    assert.equal(parseDuration('30m'), 1_800_000);
    assert.equal(parseDuration('2d'), 172_800_000);
    assert.equal(parseDuration('1w'), 604_800_000);
    for (const bad of ['', 'h', '1.5h', '-1h', '1y', 'yesterday']) assert.equal(parseDuration(bad), null, bad);
  });
});

describe('readiness notification', () => {
  const dir = mkdtempSync(join(tmpdir(), 'smarthost-notify-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const logger = createLogger('silent');

  test('runs systemd-notify --ready with a status when $NOTIFY_SOCKET is set', async () => {
    const out = join(dir, 'args');
    const command = join(dir, 'fake-notify');
    writeFileSync(command, `#!/bin/sh\necho "$NOTIFY_SOCKET|$1|$2" > ${out}\n`);
    chmodSync(command, 0o755);
    await createReadyNotifier(logger, { NOTIFY_SOCKET: '/run/systemd/notify' }, command)('2 listeners');
    assert.equal(readFileSync(out, 'utf8'), '/run/systemd/notify|--ready|--status=2 listeners\n');
  });

  test('does nothing without $NOTIFY_SOCKET, and survives a missing command', async () => {
    await createReadyNotifier(logger, {}, join(dir, 'never-run'))('x');
    await createReadyNotifier(logger, { NOTIFY_SOCKET: '/x' }, join(dir, 'missing'))('x');
  });
});

describe('health verdict', () => {
  const listener = (listening: boolean): BoundListener =>
    ({ kind: 'submission', address: '127.0.0.1', port: 587, server: { server: { listening } } }) as unknown as BoundListener;
  const logger = createLogger('silent');

  test('healthy only with a writable spool and every listener bound; the probe runs at most once a second', () => {
    let now = 0;
    let probes = 0;
    let failing = false;
    const listeners = [listener(true), listener(true)];
    const health = new HealthCheck({
      listeners: () => listeners,
      clock: { now: () => now },
      logger,
      probeSpool: () => {
        probes++;
        if (failing) throw new Error('disk I/O error');
      },
    });
    assert.equal(health.check().ok, true);
    failing = true;
    assert.equal(health.check().ok, true, 'within the second: the last verdict');
    now += 1000;
    assert.deepEqual([health.check().ok, health.check().spool], [false, 'not writable: disk I/O error']);
    assert.equal(probes, 2);
    failing = false;
    now += 1000;
    assert.equal(health.check().ok, true);
    listeners.push(listener(false));
    assert.equal(health.check().ok, false, 'a listener that is not bound');
    assert.equal(
      new HealthCheck({ listeners: () => [], clock: { now: () => now }, logger, probeSpool: () => undefined }).check().ok,
      false,
      'no listener at all',
    );
  });
});
