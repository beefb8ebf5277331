import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RouteTable } from '../../src/delivery/routes.js';

const table = new RouteTable({
  'example.test': '127.0.0.2:2525',
  '.example.test': '127.0.0.3:2525',
  '.deep.example.test': '[::1]:26',
  'Upper.Test.': 'relay.internal:25',
  '*': '127.0.0.9:25',
});

test('an exact key wins over a parent key', () => {
  assert.deepEqual(table.find('example.test'), { host: '127.0.0.2', port: 2525 });
});

test('".parent" matches subdomains only, the longest parent first', () => {
  assert.deepEqual(table.find('a.example.test'), { host: '127.0.0.3', port: 2525 });
  assert.deepEqual(table.find('x.deep.example.test'), { host: '::1', port: 26 });
  assert.deepEqual(table.find('a.b.deep.example.test'), { host: '::1', port: 26 });
  assert.deepEqual(
    table.find('deep.example.test'),
    { host: '127.0.0.3', port: 2525 },
    'deep.example.test is itself only a subdomain of example.test',
  );
});

test('keys and domains compare case-insensitively, with or without a final dot', () => {
  assert.deepEqual(table.find('upper.test'), { host: 'relay.internal', port: 25 });
  assert.deepEqual(table.find('UPPER.TEST.'), { host: 'relay.internal', port: 25 });
});

test('"*" catches the rest; no "*" means no route', () => {
  assert.deepEqual(table.find('elsewhere.test'), { host: '127.0.0.9', port: 25 });
  assert.equal(new RouteTable({ 'example.test': '127.0.0.2:25' }).find('other.test'), undefined);
});
