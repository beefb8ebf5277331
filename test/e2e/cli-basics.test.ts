// The `smarthost` command without a running daemon: check-config, serve refusing a bad config with
// exit status 78, user management, and usage errors.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { baseConfig, merge, ROOT, runCli } from '../helpers/daemon.js';

const dir = mkdtempSync(join(tmpdir(), 'smarthost-cli-'));
const FIXTURE_TLS = join(import.meta.dirname, '..', 'fixtures', 'tls');

function writeConfig(name: string, over: Record<string, unknown>): string {
  const path = join(dir, name);
  writeFileSync(path, JSON.stringify(merge(baseConfig(dir), over)));
  return path;
}

const good = writeConfig('good.yaml', {
  tls: { cert: join(FIXTURE_TLS, 'cert.pem'), key: join(FIXTURE_TLS, 'key.pem'), selfSigned: false },
});

after(() => rmSync(dir, { recursive: true, force: true }));

describe('configuration from the command line', () => {
  test('check-config prints ok for a good file', async () => {
    const result = await runCli(['check-config', '--config', good]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, 'ok\n');
  });

  test('$SMARTHOST_CONFIG is used when --config is absent', async () => {
    const result = await runCli(['check-config'], { env: { SMARTHOST_CONFIG: good } });
    assert.equal(result.code, 0, result.stderr);
  });

  test('an unknown key: check-config and serve exit 78 naming the key', async () => {
    const bad = writeConfig('bad.yaml', { limits: { maxMesageSize: 10 } });
    for (const command of ['check-config', 'serve']) {
      const result = await runCli([command, '--config', bad]);
      assert.equal(result.code, 78, `${command}: ${result.stderr}`);
      assert.match(result.stderr, /limits\.maxMesageSize: unknown key/);
    }
  });

  test('an unreadable certificate: serve exits 78 naming tls.cert', async () => {
    const bad = writeConfig('nocert.yaml', {
      tls: { cert: join(dir, 'missing.pem'), key: join(FIXTURE_TLS, 'key.pem'), selfSigned: false },
    });
    const result = await runCli(['serve', '--config', bad]);
    assert.equal(result.code, 78);
    assert.match(result.stderr, /tls\.cert: cannot read .*missing\.pem: no such file/);
  });

  test('a missing configuration file: exit 78', async () => {
    const result = await runCli(['check-config', '--config', join(dir, 'nope.yaml')]);
    assert.equal(result.code, 78);
    assert.match(result.stderr, /cannot read the configuration file/);
  });

  test('--version prints the version of package.json; status prints it too', async () => {
    const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    for (const flag of ['--version', '-V']) {
      const result = await runCli([flag]);
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.stdout, `smarthost ${version}\n`);
    }
    const status = await runCli(['status', '--config', good]);
    assert.match(status.stdout, new RegExp(`^smarthost ${version.replace(/\./g, '\\.')}\n`));
  });

  test('dkim list without keys says so, with a keygen command that works as printed', async () => {
    const result = await runCli(['dkim', 'list', '--config', good]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, '');
    assert.match(
      result.stderr,
      /no DKIM keys in \S+good\.yaml \(dkim\.keys\); create one with: (npx )?\S+ dkim keygen DOMAIN --selector SELECTOR --config \S+good\.yaml\n$/,
    );
  });

  test('usage errors exit 2', async () => {
    assert.equal((await runCli(['no-such-command'])).code, 2);
    assert.equal((await runCli(['user', 'add', 'x', '--config', good])).code, 2, 'missing --allow');
    assert.equal((await runCli(['user', 'add', 'x', '--allow', 'example.com', '--config', good])).code, 2, 'bad --allow entry');
  });
});

describe('user management', () => {
  const config = writeConfig('users.yaml', {});

  test('add with a generated password, add from stdin, list, list --json, passwd, del', async () => {
    const generated = await runCli(['user', 'add', 'cron', '--allow', 'cron@example.com,@example.org', '--config', config]);
    assert.equal(generated.code, 0, generated.stderr);
    assert.match(generated.stdout, /^created user cron\npassword: \S{24,}\n$/);

    const fromStdin = await runCli(['user', 'add', 'erp', '--allow', '@erp.example.com', '--password-stdin', '--config', config], {
      stdin: 'pw with spaces\n',
    });
    assert.equal(fromStdin.code, 0, fromStdin.stderr);
    assert.equal(fromStdin.stdout, 'created user erp\n');

    const duplicate = await runCli(['user', 'add', 'erp', '--allow', '@x.test', '--config', config]);
    assert.equal(duplicate.code, 1);
    assert.match(duplicate.stderr, /already exists/);

    const list = await runCli(['user', 'list', '--config', config]);
    assert.equal(list.stdout, 'cron\tcron@example.com,@example.org\nerp\t@erp.example.com\n');
    const json = JSON.parse((await runCli(['user', 'list', '--json', '--config', config])).stdout) as {
      users: Array<{ name: string; allowed: string[] }>;
    };
    assert.deepEqual(
      json.users.map((u) => [u.name, u.allowed]),
      [
        ['cron', ['cron@example.com', '@example.org']],
        ['erp', ['@erp.example.com']],
      ],
    );

    const passwd = await runCli(['user', 'passwd', 'erp', '--password-stdin', '--config', config], { stdin: 'new\n' });
    assert.equal(passwd.code, 0);
    assert.equal((await runCli(['user', 'passwd', 'ghost', '--password-stdin', '--config', config], { stdin: 'x\n' })).code, 1);
    assert.equal((await runCli(['user', 'del', 'cron', '--config', config])).code, 0);
    assert.equal((await runCli(['user', 'del', 'cron', '--config', config])).code, 1);
    assert.equal((await runCli(['user', 'list', '--config', config])).stdout, 'erp\t@erp.example.com\n');
  });
});
