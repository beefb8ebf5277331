import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DispatchQueue } from '../../src/delivery/dispatch-queue.js';

const job = (domain: string, n: number) => ({ domain, name: `${domain}#${n}`, recipientCount: 1, heldBytes: 10 });

test('limits: total running jobs and running jobs per domain', () => {
  const q = new DispatchQueue<ReturnType<typeof job>>({ concurrency: 3, perDomain: 2 });
  for (let i = 1; i <= 4; i++) q.push(job('a.test', i));
  q.push(job('b.test', 1));
  const started = [q.take(), q.take(), q.take(), q.take()].map((j) => j?.name);
  assert.deepEqual(started, ['a.test#1', 'b.test#1', 'a.test#2', undefined]);
  assert.equal(q.running, 3);
  assert.equal(q.waitingRecipients, 2);
  q.finish({ ...job('b.test', 1) });
  assert.equal(q.take(), undefined, 'a.test is at its per-domain limit');
  q.finish({ ...job('a.test', 1) });
  assert.equal(q.take()?.name, 'a.test#3');
});

test('domains are served round-robin', () => {
  const q = new DispatchQueue<ReturnType<typeof job>>({ concurrency: 10, perDomain: 10 });
  for (let i = 1; i <= 3; i++) q.push(job('a.test', i));
  for (let i = 1; i <= 2; i++) q.push(job('b.test', i));
  q.push(job('c.test', 1));
  const order: string[] = [];
  for (let j = q.take(); j; j = q.take()) order.push(j.name);
  assert.deepEqual(order, ['a.test#1', 'b.test#1', 'c.test#1', 'a.test#2', 'b.test#2', 'a.test#3']);
});

test('drain empties the queue and its counters', () => {
  const q = new DispatchQueue<ReturnType<typeof job>>({ concurrency: 1, perDomain: 1 });
  q.push(job('a.test', 1));
  q.push(job('a.test', 2));
  assert.equal(q.waitingBytes, 20);
  assert.equal(q.drain().length, 2);
  assert.equal(q.waitingRecipients, 0);
  assert.equal(q.idle, true);
});
