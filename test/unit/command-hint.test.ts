// The commands smarthost suggests must work as printed: `npx smarthost … --config config/dev.yaml` in
// the checkout, the launcher's path elsewhere, plain `smarthost` once it is on PATH, and no --config
// when the file is the one found without it.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { commandHint } from '../../src/platform/command-hint.js';
import { ROOT } from '../helpers/daemon.js';

describe('command hints', () => {
  const bin = mkdtempSync(join(tmpdir(), 'smarthost-hint-'));
  const savedPath = process.env['PATH'];
  const savedConfig = process.env['SMARTHOST_CONFIG'];
  after(() => {
    process.env['PATH'] = savedPath;
    if (savedConfig === undefined) delete process.env['SMARTHOST_CONFIG'];
    else process.env['SMARTHOST_CONFIG'] = savedConfig;
    rmSync(bin, { recursive: true, force: true });
  });
  const devConfig = join(ROOT, 'config', 'dev.yaml');

  test('in the checkout: npx smarthost, the config relative to the working directory', () => {
    process.env['PATH'] = '/usr/bin:/bin';
    delete process.env['SMARTHOST_CONFIG'];
    assert.equal(commandHint('user passwd dev', devConfig, ROOT), 'npx smarthost user passwd dev --config config/dev.yaml');
  });

  test('outside the checkout: the launcher by its full path, the config absolute', () => {
    process.env['PATH'] = '/usr/bin:/bin';
    assert.equal(
      commandHint('user passwd dev', devConfig, bin),
      `${join(ROOT, 'bin', 'smarthost.js')} user passwd dev --config ${devConfig}`,
    );
  });

  test('smarthost on PATH (a link to this launcher); no --config for the default file', () => {
    symlinkSync(join(ROOT, 'bin', 'smarthost.js'), join(bin, 'smarthost'));
    process.env['PATH'] = `/usr/bin:${bin}`;
    assert.equal(commandHint('status', '/etc/smarthost/smarthost.yaml', bin), 'smarthost status');
    process.env['SMARTHOST_CONFIG'] = devConfig;
    assert.equal(commandHint('status', devConfig, bin), 'smarthost status', '$SMARTHOST_CONFIG names it');
    assert.equal(commandHint('status', '/srv/my config.yaml', bin), "smarthost status --config '/srv/my config.yaml'");
  });
});
