// The rule that a library's private (underscore) members are touched only in that library's adapter
// module, checked over every file in src/: `x._member`, `x?._member` and `x['_member']` are allowed
// only in the adapter files listed here. Comments are skipped, and so is text such as
// `${selector}._domainkey` (a `.` after a closing brace is not a member access).
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { test } from 'node:test';
import { ROOT } from '../helpers/daemon.js';

/** The one adapter module per library allowed to touch its private members. */
const ADAPTERS = ['src/submission/smtp-server-adapter.ts', 'src/delivery/nodemailer-adapter.ts'];

/**
 * Files that still reach into a library before its adapter exists. An entry stops counting the
 * moment its adapter file does: from then on the file must use the adapter.
 */
const UNTIL_ADAPTER_EXISTS: Readonly<Record<string, string>> = {
  'src/delivery/session.ts': 'src/delivery/nodemailer-adapter.ts',
};

const PRIVATE_ACCESS = /(?:[\w$)\]]\??\.|\[\s*['"`])_[A-Za-z]\w*/g;

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return /\.(ts|js|mjs|cjs)$/.test(entry.name) ? [path] : [];
  });
}

/** The code of a file with comments blanked out (line numbers kept). */
function withoutComments(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, (comment) => comment.replace(/[^\n]/g, ' ')).replace(/(^|[^:'"`\\])\/\/.*$/gm, '$1');
}

function privateAccesses(file: string): string[] {
  const lines = withoutComments(readFileSync(file, 'utf8')).split('\n');
  return lines.flatMap((line, i) => [...line.matchAll(PRIVATE_ACCESS)].map((m) => `${i + 1}: ${m[0]}`));
}

function allowed(file: string): boolean {
  if (ADAPTERS.includes(file)) return true;
  const adapter = UNTIL_ADAPTER_EXISTS[file];
  return adapter !== undefined && !existsSync(join(ROOT, adapter));
}

test('private members of libraries are touched only in their adapter modules', () => {
  const offenders = sourceFiles(join(ROOT, 'src')).flatMap((path) => {
    const file = relative(ROOT, path);
    if (allowed(file)) return [];
    return privateAccesses(path).map((hit) => `${file}:${hit}`);
  });
  assert.deepEqual(offenders, [], `private (underscore) members outside ${ADAPTERS.join(' and ')}: move them into the adapter`);
});

test('the check finds what it must and skips what it must not', () => {
  const code = [
    'connection._socket.end();',
    "server['_onError'](err);",
    'x?._envelope;',
    'f()._y;',
    '`\u0024{selector}._domainkey`;',
    '// connection._closing in a comment',
    '/* a._b */ ok;',
  ].join('\n');
  const hits = withoutComments(code)
    .split('\n')
    .flatMap((line) => [...line.matchAll(PRIVATE_ACCESS)].map((m) => m[0]));
  assert.deepEqual(hits, ['n._socket', "['_onError", 'x?._envelope', ')._y']);
});
