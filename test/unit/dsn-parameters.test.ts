// The DSN parameters as kept and as passed on: NOTIFY's meaning and spool form, xtext encoding.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  mailParameters,
  notifyFromText,
  notifyText,
  parseNotify,
  rcptParameters,
  wantsNotice,
  xtext,
} from '../../src/smtp/dsn-parameters.js';

test('NOTIFY: absent means FAILURE and DELAY, NEVER means nothing, a list means exactly that', () => {
  const none = { notify: null, orcpt: null };
  assert.deepEqual(
    (['SUCCESS', 'FAILURE', 'DELAY'] as const).map((e) => wantsNotice(none, e)),
    [false, true, true],
  );
  assert.equal(wantsNotice({ notify: 'NEVER', orcpt: null }, 'FAILURE'), false);
  assert.equal(wantsNotice({ notify: ['SUCCESS'], orcpt: null }, 'SUCCESS'), true);
  assert.equal(wantsNotice({ notify: ['SUCCESS'], orcpt: null }, 'FAILURE'), false);
  assert.deepEqual(parseNotify(['SUCCESS', 'DELAY', 'SUCCESS']), ['SUCCESS', 'DELAY']);
  assert.equal(parseNotify(undefined), null);
  for (const notify of [null, 'NEVER', ['FAILURE', 'DELAY']] as const) assert.deepEqual(notifyFromText(notifyText(notify)), notify);
});

test('xtext: "+", "=", controls, space and non-ASCII bytes as +XX; the parameters as sent on', () => {
  assert.equal(xtext('QQ314159'), 'QQ314159');
  assert.equal(xtext('a+b=c d'), 'a+2Bb+3Dc+20d');
  assert.equal(xtext('café'), 'caf+C3+A9');
  assert.equal(mailParameters({ ret: 'FULL', envid: 'id+1' }), ' RET=FULL ENVID=id+2B1');
  assert.equal(mailParameters({ ret: null, envid: null }), '');
  assert.equal(
    rcptParameters({ notify: ['SUCCESS', 'FAILURE'], orcpt: 'rfc822;a+b@x.test' }),
    ' NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;a+2Bb@x.test',
  );
  assert.equal(rcptParameters({ notify: 'NEVER', orcpt: null }), ' NOTIFY=NEVER');
});
