// The configuration loader: defaults, path resolution, freezing, and every bad configuration in
// test/fixtures/bad-configs refused with a message naming the key.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { checkConfigFiles } from '../../src/config/files.js';
import { ConfigError, parseConfig, resolveConfigPath } from '../../src/config/load.js';

const BAD = join(import.meta.dirname, '..', 'fixtures', 'bad-configs');

function problemsOf(file: string): string[] {
  try {
    const config = parseConfig(readFileSync(file, 'utf8'), file);
    return checkConfigFiles(config);
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return [...err.problems];
  }
}

describe('bad configurations are refused, naming the key', () => {
  for (const name of readdirSync(BAD).filter((f) => f.endsWith('.yaml'))) {
    test(name, () => {
      const file = join(BAD, name);
      const expected = /^# expect: (.*)$/m.exec(readFileSync(file, 'utf8'))?.[1];
      assert.ok(expected, 'fixture has an "# expect:" line');
      const problems = problemsOf(file);
      assert.ok(problems.length > 0, 'refused');
      assert.ok(
        problems.some((p) => p.includes(expected)),
        `expected "${expected}" in:\n${problems.join('\n')}`,
      );
    });
  }
});

describe('good configuration', () => {
  test('an empty file gives every default', () => {
    const config = parseConfig('', '/etc/smarthost/smarthost.yaml');
    assert.equal(config.spool.path, '/var/lib/smarthost/spool.db');
    assert.deepEqual(config.listen, { submission: ['0.0.0.0:587'], submissions: ['0.0.0.0:465'], relay: [] });
    assert.deepEqual(config.relay, { clients: [], allowPublicNetworks: false });
    assert.deepEqual(config.delivery.retry, { minBackoff: 300, maxBackoff: 4000, maxLifetime: 432000 });
    assert.equal(config.delivery.port, 25);
    assert.equal(config.limits.maxMessageSize, 26214400);
    assert.equal(config.dkim.requireKey, false);
  });

  test('relative paths resolve against the configuration file, and the result is frozen', () => {
    const config = parseConfig('spool: { path: var/spool.db }\ntls: { cert: c.pem, key: /abs/k.pem }', '/srv/conf/smarthost.yaml');
    assert.equal(config.spool.path, '/srv/conf/var/spool.db');
    assert.equal(config.tls.cert, '/srv/conf/c.pem');
    assert.equal(config.tls.key, '/abs/k.pem');
    assert.ok(Object.isFrozen(config) && Object.isFrozen(config.spool) && Object.isFrozen(config.listen.submission));
    assert.throws(() => {
      (config.spool as { path: string }).path = 'x';
    }, TypeError);
  });

  test('config/dev.yaml and config/smarthost.example.yaml are valid', () => {
    for (const file of ['dev.yaml', 'smarthost.example.yaml']) {
      const path = join(import.meta.dirname, '..', '..', 'config', file);
      assert.doesNotThrow(() => parseConfig(readFileSync(path, 'utf8'), path), file);
    }
  });

  test('dev.yaml never delivers beyond loopback: every domain is routed to a loopback sink', () => {
    const path = join(import.meta.dirname, '..', '..', 'config', 'dev.yaml');
    const config = parseConfig(readFileSync(path, 'utf8'), path);
    assert.match(config.delivery.routes['*'] ?? '', /^127\.\d+\.\d+\.\d+:\d+$/);
    for (const endpoint of [...config.listen.submission, ...config.listen.submissions]) assert.match(endpoint, /^127\./);
  });

  test('a public relay network is accepted with relay.allowPublicNetworks: true', () => {
    const text =
      'listen: { relay: ["[::]:25"] }\nrelay:\n  allowPublicNetworks: true\n  clients: [{ name: dmz, networks: ["198.51.100.0/24", "2001:db8::/32"], allow: ["@example.com"] }]';
    const config = parseConfig(text, '/etc/smarthost/smarthost.yaml');
    assert.deepEqual(config.relay.clients[0]?.networks, ['198.51.100.0/24', '2001:db8::/32']);
  });

  test('config path: --config, else $SMARTHOST_CONFIG, else /etc/smarthost/smarthost.yaml', () => {
    assert.equal(resolveConfigPath('/a.yaml', { SMARTHOST_CONFIG: '/b.yaml' }), '/a.yaml');
    assert.equal(resolveConfigPath(undefined, { SMARTHOST_CONFIG: '/b.yaml' }), '/b.yaml');
    assert.equal(resolveConfigPath(undefined, {}), '/etc/smarthost/smarthost.yaml');
  });
});
