import assert from 'node:assert/strict';
import { test } from 'node:test';
import { toCrlf } from '../../src/smtp/line-endings.js';

const crlf = (s: string): string => toCrlf(Buffer.from(s, 'latin1')).toString('latin1');

test('CRLF input with a final CRLF is returned unchanged (same buffer)', () => {
  const input = Buffer.from('a\r\nb\r\n');
  assert.equal(toCrlf(input), input);
});

test('bare LF and bare CR become CRLF', () => {
  assert.equal(crlf('a\nb\rc\r\n'), 'a\r\nb\r\nc\r\n');
});

test('smuggling end-of-data variants become ordinary lines', () => {
  assert.equal(crlf('x\n.\ny'), 'x\r\n.\r\ny\r\n');
  assert.equal(crlf('x\r.\ry'), 'x\r\n.\r\ny\r\n');
  assert.equal(crlf('x\r\n.\ry'), 'x\r\n.\r\ny\r\n');
  assert.equal(crlf('x\n.\r\ny'), 'x\r\n.\r\ny\r\n');
});

test('a missing final line break is added; empty stays empty', () => {
  assert.equal(crlf('abc'), 'abc\r\n');
  assert.equal(crlf(''), '');
  assert.equal(crlf('a\r'), 'a\r\n');
});
