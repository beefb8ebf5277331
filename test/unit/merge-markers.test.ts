// No tracked file may carry a leftover merge-conflict marker: a conflict resolved in a hurry can
// leave one in a document or a fixture, where no compiler or test would notice it.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import { ROOT } from '../helpers/daemon.js';

test('no tracked file holds a merge-conflict marker', () => {
  let found = '';
  try {
    found = execFileSync('git', ['grep', '-n', '-I', '-E', '^(<{7}|>{7})( |$)|^={7}$', '--', '.', ':!package-lock.json'], {
      cwd: ROOT,
      encoding: 'utf8',
    });
  } catch (err) {
    if ((err as { status?: number }).status !== 1) throw err; // 1: nothing found
  }
  assert.equal(found, '', `leftover conflict markers:\n${found}`);
});
