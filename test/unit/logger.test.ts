// Log lines reach the journal at their level's priority: with stdout the stream $JOURNAL_STREAM
// names, each line starts with the sd-daemon "<N>" prefix journald reads; with a $JOURNAL_STREAM
// inherited from elsewhere (stdout redirected), lines stay plain JSON. (test/container/run.sh checks
// `journalctl -p err` under a real systemd.)
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, fstatSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { ROOT } from '../helpers/daemon.js';

const SCRIPT = `
import { createLogger } from './src/platform/logger.ts';
const logger = createLogger('debug');
logger.error({ queueId: 'Q' }, 'reload refused');
logger.warn('a warning');
logger.info('ready');
logger.debug('details');
`;

describe('journal priorities', () => {
  const dir = mkdtempSync(join(tmpdir(), 'smarthost-logger-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  /** The lines the logger writes to a file as stdout, with JOURNAL_STREAM as given (or that file's). */
  const linesWith = (name: string, journalStream: (fd: number) => string): string[] => {
    const path = join(dir, name);
    const fd = openSync(path, 'w');
    try {
      const result = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', SCRIPT], {
        cwd: ROOT,
        stdio: ['ignore', fd, 'pipe'],
        env: { ...process.env, JOURNAL_STREAM: journalStream(fd) },
      });
      assert.equal(result.status, 0, String(result.stderr));
    } finally {
      closeSync(fd);
    }
    return readFileSync(path, 'utf8').trim().split('\n');
  };

  test('stdout is the journal: each line starts with its priority', () => {
    const lines = linesWith('journal.log', (fd) => {
      const stat = fstatSync(fd, { bigint: true });
      return `${stat.dev}:${stat.ino}`;
    });
    assert.deepEqual(
      lines.map((l) => l.slice(0, l.indexOf('{'))),
      ['<3>', '<4>', '<6>', '<7>'],
    );
    assert.equal(JSON.parse(lines[0]?.slice(3) ?? '').msg, 'reload refused', 'the rest of the line is the JSON');
  });

  test('JOURNAL_STREAM inherited but stdout elsewhere: plain JSON lines', () => {
    const lines = linesWith('file.log', () => '1:2');
    assert.equal(lines.length, 4);
    for (const line of lines) assert.ok(line.startsWith('{"level":"'), line);
  });
});
