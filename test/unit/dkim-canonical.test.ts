import assert from 'node:assert/strict';
import { test } from 'node:test';
import { OVERSIGNED, SIGNED_HEADERS, rawFields, relaxedField, selectHeaders } from '../../src/dkim/canonical.js';

const latin1 = (s: string): string => Buffer.from(s, 'utf8').toString('latin1');

test('relaxed header form: lower-case name, unfolded, runs of SP/HTAB collapsed, trimmed around the colon', () => {
  assert.equal(relaxedField('SUBJect \t:  a  \t b\r\n\t  c \t'), 'subject:a b c');
  assert.equal(relaxedField('To:'), 'to:');
  assert.equal(relaxedField('X-Empty: \t '), 'x-empty:');
});

test('relaxed header form keeps UTF-8 bytes such as 0xA0 (the second byte of "à") as they are', () => {
  const field = latin1('Subject: voilà  déjà');
  assert.equal(Buffer.from(relaxedField(field), 'latin1').toString('utf8'), 'subject:voilà déjà');
});

test('rawFields splits at unfolded line breaks and keeps each field as written', () => {
  const fields = rawFields('From: a@example.com\r\nTo: b@x.test,\r\n c@x.test\r\nX-Tab:\tv');
  assert.deepEqual(fields, [
    { name: 'from', text: 'From: a@example.com' },
    { name: 'to', text: 'To: b@x.test,\r\n c@x.test' },
    { name: 'x-tab', text: 'X-Tab:\tv' },
  ]);
});

test('selection: From listed once more than it occurs; repeated fields bottom-up; absent and trace fields left out', () => {
  const fields = rawFields(
    'Received: from x\r\nTo: first@x.test\r\nFrom: A <a@example.com>\r\nSubject: hi\r\nTo: second@x.test\r\nX-Mailer: y',
  );
  const signed = selectHeaders(fields);
  assert.deepEqual(signed.names, ['from', 'from', 'to', 'to', 'subject']);
  assert.equal(signed.canonical, 'from:A <a@example.com>\r\nto:second@x.test\r\nto:first@x.test\r\nsubject:hi\r\n');
});

test('the signed header list covers what the issue names and oversigns From', () => {
  for (const name of [
    'from',
    'to',
    'cc',
    'subject',
    'date',
    'message-id',
    'reply-to',
    'mime-version',
    'content-type',
    'in-reply-to',
    'references',
    'list-unsubscribe',
  ]) {
    assert.ok(SIGNED_HEADERS.includes(name), name);
  }
  assert.deepEqual(OVERSIGNED, ['from']);
  assert.ok(!SIGNED_HEADERS.includes('received') && !SIGNED_HEADERS.includes('dkim-signature'));
});
