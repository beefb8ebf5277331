// Headers added at submission, and header parsing.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { formatDate, parseHeaderFields, splitMessage } from '../../src/smtp/headers.js';
import { addSubmissionHeaders, type TraceInfo } from '../../src/submission/compose.js';

const TRACE: TraceInfo = {
  queueId: '1M89A70CN3VAZH',
  hostname: 'relay.example.com',
  helo: 'app.internal',
  clientAddress: '192.0.2.7',
  tls: { version: 'TLSv1.3', cipher: 'TLS_AES_256_GCM_SHA384' },
  user: 'app',
  sender: 'a@example.com',
  recipients: ['b@remote.test'],
  date: new Date('2026-11-25T12:00:00Z'),
};

function compose(text: string, trace: TraceInfo = TRACE): string {
  const { header, body } = splitMessage(Buffer.from(text));
  return addSubmissionHeaders({ header, body, fields: parseHeaderFields(header) }, trace).toString();
}

describe('submission headers', () => {
  test('Received: names client, TLS, user, queue ID and the single recipient', () => {
    const out = compose('From: a@example.com\r\nDate: x\r\nMessage-ID: <m@x>\r\n\r\nhi\r\n');
    assert.equal(
      out,
      'Received: from app.internal ([192.0.2.7])\r\n\t(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384)\r\n' +
        '\t(Authenticated sender: app)\r\n\tby relay.example.com (smarthost) with ESMTPSA id 1M89A70CN3VAZH\r\n' +
        '\tfor <b@remote.test>; Wed, 25 Nov 2026 12:00:00 +0000\r\n' +
        'From: a@example.com\r\nDate: x\r\nMessage-ID: <m@x>\r\n\r\nhi\r\n',
    );
  });
  test('missing Date:, Message-ID: and From: are added; no "for" with several recipients', () => {
    const out = compose('Subject: s\r\n\r\nhi\r\n', { ...TRACE, recipients: ['x@a.test', 'y@b.test'] });
    assert.match(
      out,
      /\r\n\t; Wed, 25 Nov 2026 12:00:00 \+0000\r\nDate: Wed, 25 Nov 2026 12:00:00 \+0000\r\nMessage-ID: <20261125120000\.1M89A70CN3VAZH@relay\.example\.com>\r\nFrom: <a@example\.com>\r\nSubject: s\r\n\r\nhi\r\n$/,
    );
  });
  test('a message without a header section keeps its body intact', () => {
    const out = compose('just text\r\nmore\r\n');
    assert.ok(out.endsWith('From: <a@example.com>\r\n\r\njust text\r\nmore\r\n'));
  });
  test('header parsing unfolds continuation lines', () => {
    const fields = parseHeaderFields(Buffer.from('Subject: a\r\n b\r\nTo: x@y\r\n'));
    assert.deepEqual(fields, [
      { name: 'Subject', value: 'a b' },
      { name: 'To', value: 'x@y' },
    ]);
    assert.equal(formatDate(new Date('2026-01-02T03:04:05Z')), 'Fri, 02 Jan 2026 03:04:05 +0000');
  });
});
