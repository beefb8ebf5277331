// The DATA transparency decoder against smtp-server's own data parser (the oracle: SMTPStream in
// data mode, fed the same chunks): for random inputs with dots at line starts, every kind of line
// break, terminators real and fake, NULs and 8-bit bytes, in random chunkings, both give the same
// message bytes and hand the same bytes after the end of data back to the command parser; and the
// whole path (decoder, then CrlfNormalizer) gives what smtp-server and the old toCrlf gave.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { SMTPStream } from 'smtp-server/lib/smtp-stream.js';
import { DotDecoder } from '../../src/smtp/dot-decoder.js';
import { CrlfNormalizer } from '../../src/smtp/line-endings.js';
import { MessageBuffer } from '../../src/submission/message-buffer.js';
import { toCrlf } from '../helpers/crlf-oracle.js';
import { prng } from '../helpers/fuzz.js';

interface Decoded {
  readonly message: Buffer;
  /** Command lines after the end of data (null: the data did not end). */
  readonly after: readonly string[] | null;
}

/** smtp-server's parser in data mode, as a session uses it. */
async function oracle(chunks: readonly Buffer[]): Promise<Decoded> {
  const parser = new SMTPStream();
  const commands: string[] = [];
  parser.oncommand = (command: Buffer, callback?: () => void) => {
    commands.push(command.toString('latin1'));
    callback?.();
  };
  const stream = parser.startDataMode();
  const parts: Buffer[] = [];
  let ended = false;
  stream.on('data', (chunk: Buffer) => parts.push(chunk));
  const end = new Promise<void>((resolve) => stream.once('end', () => resolve()));
  void end.then(() => {
    ended = true;
    parser.continue();
  });
  for (const chunk of chunks) await new Promise<void>((resolve) => parser.write(chunk, () => resolve()));
  await new Promise((resolve) => setImmediate(resolve));
  await new Promise((resolve) => setImmediate(resolve));
  return { message: Buffer.concat(parts), after: ended ? commands : null };
}

function decoded(chunks: readonly Buffer[]): Decoded {
  const decoder = new DotDecoder();
  const parts: Buffer[] = [];
  for (const [i, chunk] of chunks.entries()) {
    const { data, rest } = decoder.write(chunk);
    parts.push(data);
    if (rest) {
      const after = Buffer.concat([rest, ...chunks.slice(i + 1)]).toString('latin1');
      return { message: Buffer.concat(parts), after: after.split(/\r?\n/).slice(0, -1) };
    }
  }
  return { message: Buffer.concat(parts), after: null };
}

function randomInput(random: () => number, length: number): Buffer {
  const pieces = [
    '\r\n',
    '\n',
    '\r',
    '.',
    '..',
    '...',
    '\r\n.\r\n',
    '\n.\n',
    '\r.\r',
    '\n.\r\n',
    '\r\n..\r\n',
    '\0',
    'a',
    ' ',
    '\xe9',
    'line',
  ];
  let text = '';
  while (text.length < length)
    text += random() < 0.05 ? String.fromCharCode(Math.floor(random() * 256)) : pieces[Math.floor(random() * pieces.length)];
  return Buffer.from(text.slice(0, length), 'latin1');
}

function randomChunks(random: () => number, input: Buffer): Buffer[] {
  const chunks: Buffer[] = [];
  for (let at = 0; at < input.length; ) {
    const size = random() < 0.5 ? 1 + Math.floor(random() * 5) : 1 + Math.floor(random() * 200);
    chunks.push(input.subarray(at, at + size));
    at += size;
  }
  return chunks;
}

describe('DATA transparency', () => {
  test('end of data, stuffed dots, and what is not either', () => {
    const one = (text: string): Decoded => decoded([Buffer.from(text, 'latin1')]);
    assert.deepEqual(one('a\r\n..b\r\n.\r\nQUIT\r\n'), { message: Buffer.from('a\r\n.b\r\n'), after: ['QUIT'] });
    assert.deepEqual(one('.\r\nNOOP\r\n'), { message: Buffer.alloc(0), after: ['NOOP'] });
    assert.deepEqual(one('..\r\n.\r\n'), { message: Buffer.from('.\r\n'), after: [] });
    assert.deepEqual(one('x\n.\ny\r\n'), { message: Buffer.from('x\n.\ny\r\n'), after: null });
    assert.deepEqual(one('x\r.\r\ny\n..z'), { message: Buffer.from('x\r.\r\ny\n.z'), after: null });
  });

  test('a dot, or a dot and CR, at the end of a chunk is decided by the next one', () => {
    const chunks = ['a\r\n.', '\r', '\nQUIT\r\n'].map((s) => Buffer.from(s));
    assert.deepEqual(decoded(chunks), { message: Buffer.from('a\r\n'), after: ['QUIT'] });
    const stuffed = ['a\r\n.', '.b\r\n'].map((s) => Buffer.from(s));
    assert.deepEqual(decoded(stuffed), { message: Buffer.from('a\r\n.b\r\n'), after: null });
  });

  test('a chunk without a stuffed dot is passed on without a copy', () => {
    const chunk = Buffer.from('Subject: x\r\n\r\nbody\r\n');
    assert.equal(new DotDecoder().write(chunk).data.buffer, chunk.buffer);
  });

  test('property: the same bytes as smtp-server for any input in any chunking', async () => {
    const random = prng(1202);
    for (let run = 0; run < 3000; run++) {
      const input = Buffer.concat([randomInput(random, Math.floor(random() * 300)), Buffer.from('\r\n.\r\nNOOP\r\nQUIT\r\n')]);
      const chunks = randomChunks(random, input);
      const [want, got] = [await oracle(chunks), decoded(chunks)];
      const show = (d: Decoded): string => JSON.stringify({ message: d.message.toString('latin1'), after: d.after });
      if (show(want) !== show(got))
        assert.fail(`run ${run}: input ${JSON.stringify(input.toString('latin1'))}\n got ${show(got)}\nwant ${show(want)}`);

      const buffer = new MessageBuffer();
      const normalizer = new CrlfNormalizer(buffer);
      normalizer.write(got.message);
      normalizer.end();
      assert.ok(Buffer.concat(buffer.finish().chunks).equals(toCrlf(want.message)), `run ${run}: normalised`);
    }
  });
});
