// Line-ending normalisation: the streaming CrlfNormalizer, fed in any chunking, gives exactly the
// bytes of the whole-message function it replaced (test/helpers/crlf-oracle.ts) for every input;
// and MessageBuffer finds the end of the header section wherever the blocks split it.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { CrlfNormalizer, normalizeLineEndings } from '../../src/smtp/line-endings.js';
import { MessageBuffer } from '../../src/submission/message-buffer.js';
import { toCrlf } from '../helpers/crlf-oracle.js';
import { prng } from '../helpers/fuzz.js';

const crlf = (s: string): string => normalizeLineEndings(Buffer.from(s, 'latin1')).toString('latin1');

/** Random message-like bytes: mostly line breaks of every kind, dots at line starts, NULs, 8-bit. */
function randomInput(random: () => number, length: number): Buffer {
  const pieces = [
    '\r\n',
    '\n',
    '\r',
    '.',
    '..',
    '\r\n.\r\n',
    '\n.\n',
    '\r.\r',
    '\0',
    'a',
    'From: x',
    ' ',
    '\t',
    '\xe9',
    '\xff',
    'z'.repeat(40),
  ];
  const out: number[] = [];
  while (out.length < length) {
    if (random() < 0.1) out.push(Math.floor(random() * 256));
    else for (const ch of pieces[Math.floor(random() * pieces.length)] ?? '') out.push(ch.charCodeAt(0));
  }
  return Buffer.from(out.slice(0, length));
}

/** Split into chunks of random sizes, 1-byte and empty ones included. */
function randomChunks(random: () => number, input: Buffer): Buffer[] {
  const chunks: Buffer[] = [];
  let at = 0;
  while (at < input.length) {
    const kind = random();
    const size = kind < 0.1 ? 0 : kind < 0.4 ? 1 : kind < 0.7 ? Math.ceil(random() * 8) : Math.ceil(random() * 300);
    chunks.push(input.subarray(at, at + size));
    at += size;
  }
  return chunks;
}

function streamed(chunks: readonly Buffer[]): Buffer {
  const buffer = new MessageBuffer();
  const normalizer = new CrlfNormalizer(buffer);
  for (const chunk of chunks) normalizer.write(chunk);
  normalizer.end();
  return Buffer.concat(buffer.finish().chunks);
}

describe('line endings', () => {
  test('CRLF input with a final CRLF is returned unchanged (same buffer)', () => {
    const input = Buffer.from('a\r\nb\r\n');
    assert.equal(normalizeLineEndings(input), input);
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

  test('a CR at the end of one chunk and its LF at the start of the next are one CRLF', () => {
    assert.equal(
      streamed([Buffer.from('a\r'), Buffer.from('\nb\r'), Buffer.from('c\r'), Buffer.from('\r'), Buffer.from('\n')]).toString(),
      'a\r\nb\r\nc\r\n\r\n',
    );
  });

  test('property: any input in any chunking gives the bytes of the old whole-message function', () => {
    const random = prng(20261201);
    for (let run = 0; run < 4000; run++) {
      const input = randomInput(random, Math.floor(random() * (run % 10 === 0 ? 5000 : 200)));
      const expected = toCrlf(input);
      const got = streamed(randomChunks(random, input));
      if (!got.equals(expected)) {
        assert.fail(
          `run ${run}: input ${JSON.stringify(input.toString('latin1'))}\n got ${JSON.stringify(got.toString('latin1'))}\nwant ${JSON.stringify(expected.toString('latin1'))}`,
        );
      }
    }
  });

  test('property: the header end is the first CRLFCRLF, across block boundaries too', () => {
    const random = prng(7);
    for (let run = 0; run < 100; run++) {
      const input = toCrlf(randomInput(random, Math.floor(random() * 70_000)));
      const buffer = new MessageBuffer();
      for (const chunk of randomChunks(random, input)) buffer.append(chunk, 0, chunk.length);
      const message = buffer.finish();
      assert.equal(message.length, input.length);
      assert.equal(message.headerEnd, input.indexOf('\r\n\r\n'), `run ${run}`);
      assert.ok(Buffer.concat(message.chunks).equals(input));
    }
  });

  test('an empty line straddling two blocks is found', () => {
    for (let split = 1; split < 4; split++) {
      const input = Buffer.concat([Buffer.alloc(16 * 1024 - split, 'a'), Buffer.from('\r\n\r\nbody')]);
      const buffer = new MessageBuffer();
      buffer.append(input, 0, input.length);
      assert.equal(buffer.finish().headerEnd, 16 * 1024 - split);
    }
  });
});
