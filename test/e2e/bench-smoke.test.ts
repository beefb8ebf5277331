// A smoke run of the benchmark (`npm run bench -- --smoke`: 100 messages over 4 connections to a
// sink on loopback), so that the harness keeps working; the figures themselves are not asserted.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { runProcess } from '../helpers/clients.js';
import { ROOT } from '../helpers/daemon.js';

test('npm run bench -- --smoke: every message accepted and delivered, one JSON line written', { timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'smarthost-bench-smoke-'));
  try {
    const out = join(dir, 'results.jsonl');
    const result = await runProcess(
      process.execPath,
      ['--import', 'tsx', join(ROOT, 'bench', 'run.ts'), '--smoke', '--time-limit', '60', '--out', out],
      '',
      110_000,
    );
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /accepted msg\/s/);
    const records = readFileSync(out, 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { target: string; accepted: number; delivered: number; failed: number });
    assert.equal(records.length, 1);
    assert.deepEqual(
      records.map((r) => [r.target, r.accepted, r.delivered, r.failed]),
      [['smarthost', 100, 100, 0]],
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
