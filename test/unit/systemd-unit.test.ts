// systemd/smarthost.service as systemd itself judges it: `systemd-analyze verify` accepts it, and
// `systemd-analyze security --offline=true` rates its exposure "OK" or better, with every hardening
// option the unit is meant to have. (Running it under a real systemd: test/container/run.sh.)
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';

const UNIT = join(import.meta.dirname, '..', '..', 'systemd', 'smarthost.service');
const text = readFileSync(UNIT, 'utf8');
const dir = mkdtempSync(join(tmpdir(), 'smarthost-unit-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** The unit as shipped; where /usr/bin/node is missing, with ExecStart pointing at this Node instead. */
function unitToCheck(): string {
  if (existsSync('/usr/bin/node')) return UNIT;
  const copy = join(dir, 'smarthost.service');
  writeFileSync(copy, text.replace('ExecStart=/usr/bin/node ', `ExecStart=${process.execPath} `));
  return copy;
}

function settings(): Map<string, string[]> {
  const map = new Map<string, string[]>();
  for (const line of text.split('\n')) {
    const match = /^(\w+)=(.*)$/.exec(line);
    if (match?.[1]) map.set(match[1], [...(map.get(match[1]) ?? []), match[2] ?? '']);
  }
  return map;
}

describe('systemd unit', () => {
  test('systemd-analyze verify accepts it', () => {
    const result = spawnSync('systemd-analyze', ['verify', unitToCheck()], { encoding: 'utf8' });
    assert.equal(result.error, undefined, 'systemd-analyze is installed (Debian package systemd)');
    assert.equal(result.status, 0, result.stderr);
    assert.equal(result.stderr.trim(), '', 'no warnings');
  });

  test('systemd-analyze security --offline=true: exposure OK or better', () => {
    const out = execFileSync('systemd-analyze', ['security', '--offline=true', '--no-pager', unitToCheck()], { encoding: 'utf8' });
    const match = /Overall exposure level for smarthost\.service: ([\d.]+) (\w+)/.exec(out);
    assert.ok(match, out.slice(-400));
    const [, score, level] = match;
    assert.ok(Number(score) < 2, `exposure ${score} ${level}`);
    assert.ok(['OK', 'SAFE', 'PERFECT'].includes(level ?? ''), `level ${level}`);
  });

  test('the hardening the issue names, a dedicated user, readiness and reload by SIGHUP', () => {
    const s = settings();
    const one = (key: string): string | undefined => s.get(key)?.at(-1);
    assert.equal(one('Type'), 'notify');
    assert.equal(one('SyslogIdentifier'), 'smarthost', 'journalctl -t smarthost, not "node"');
    assert.equal(one('User'), 'smarthost');
    assert.equal(one('StateDirectory'), 'smarthost');
    assert.equal(one('ConfigurationDirectory'), 'smarthost');
    assert.equal(one('AmbientCapabilities'), 'CAP_NET_BIND_SERVICE');
    assert.equal(one('CapabilityBoundingSet'), 'CAP_NET_BIND_SERVICE');
    for (const key of ['NoNewPrivileges', 'ProtectHome', 'PrivateTmp', 'PrivateDevices']) assert.equal(one(key), 'yes', key);
    assert.equal(one('ProtectSystem'), 'strict');
    assert.equal(one('RestrictAddressFamilies'), 'AF_INET AF_INET6 AF_UNIX');
    assert.ok(s.get('SystemCallFilter')?.includes('@system-service'));
    assert.equal(one('Restart'), 'on-failure');
    assert.equal(one('ExecReload'), '/bin/kill -HUP $MAINPID');
  });
});
