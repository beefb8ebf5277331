// The metrics and health endpoint after real traffic: accepted, refused and delivered messages and a
// failed login, scraped from /metrics and parsed; /healthz turning 503 while the spool cannot be
// written (an injected I/O error) and back; and the readiness notification systemd would get.
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { sendWithNodemailer } from '../helpers/clients.js';
import { DEFAULT_USER, TestDaemon } from '../helpers/daemon.js';
import { allFinal, deliveryConfig, submit, waitForRecipients } from '../helpers/delivery.js';
import { DnsServer } from '../helpers/dns-server.js';
import { FakeMx, freePort } from '../helpers/fake-mx.js';
import { buildFaultLibrary } from '../helpers/faults.js';
import { authenticatedClient } from '../helpers/smtp-client.js';

interface Sample {
  readonly name: string;
  readonly labels: Record<string, string>;
  readonly value: number;
}

/** Prometheus text format: every sample, and the names that have HELP and TYPE lines. */
function parseMetrics(text: string): { samples: Sample[]; described: Set<string> } {
  const samples: Sample[] = [];
  const described = new Set<string>();
  for (const line of text.split('\n')) {
    const help = /^# (?:HELP|TYPE) (\S+)/.exec(line);
    if (help?.[1]) described.add(help[1]);
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match?.[1] || line.startsWith('#')) continue;
    const labels = Object.fromEntries([...(match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1] ?? '', m[2] ?? '']));
    samples.push({ name: match[1], labels, value: Number(match[3]) });
  }
  return { samples, described };
}

function value(samples: readonly Sample[], name: string, labels: Record<string, string> = {}): number {
  const found = samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  return found.reduce((sum, s) => sum + s.value, 0);
}

describe('metrics and health', { timeout: 60_000 }, () => {
  const work = mkdtempSync(join(tmpdir(), 'smarthost-metrics-'));
  const faultFile = join(work, 'fault');
  const notified = join(work, 'notified');
  let dns: DnsServer;
  let mx: FakeMx;
  let daemon: TestDaemon;
  let base = '';

  before(async () => {
    // A stand-in for systemd-notify that records how it was called.
    writeFileSync(join(work, 'systemd-notify'), `#!/bin/sh\necho "$NOTIFY_SOCKET $*" >> ${notified}\n`);
    chmodSync(join(work, 'systemd-notify'), 0o755);
    dns = await DnsServer.start();
    const port = await freePort('127.0.0.5');
    mx = await FakeMx.start('127.0.0.5', port, { rcpt: (address) => (address.startsWith('later@') ? 'tempfail' : 'accept') });
    dns
      .add('remote.test', { type: 'MX', exchange: 'mx.remote.test', preference: 10 })
      .add('mx.remote.test', { type: 'A', address: '127.0.0.5' });
    daemon = await TestDaemon.start({
      config: deliveryConfig(dns, port, { metrics: { listen: '127.0.0.1:0' } }),
      env: {
        LD_PRELOAD: buildFaultLibrary(work),
        SMARTHOST_FAULT_FILE: faultFile,
        NOTIFY_SOCKET: '/run/test-notify',
        PATH: `${work}:${process.env['PATH'] ?? ''}`,
      },
    });
    const listening = daemon.logs.find((l) => l.msg === 'listening' && l['listener'] === 'metrics');
    base = `http://127.0.0.1:${String(listening?.['port'])}`;
  });
  after(async () => {
    await daemon.cleanup();
    await Promise.all([mx.close(), dns.close()]);
    rmSync(work, { recursive: true, force: true });
  });

  test('systemd is told READY=1 once the listeners are bound', () => {
    assert.match(readFileSync(notified, 'utf8'), /^\/run\/test-notify --ready --status=2 listeners; spool \S+\n$/);
  });

  test('/metrics after real traffic: connections, AUTH failures, accepted and refused messages, queue, delivery', async () => {
    const delivered = await submit(daemon, ['one@remote.test']);
    const deferred = await submit(daemon, ['later@remote.test']);
    await waitForRecipients(daemon, delivered, allFinal);
    await waitForRecipients(daemon, deferred, (rows) => rows.every((r) => r.state === 'deferred' && r.lease_until === null));
    const badPassword = await sendWithNodemailer({
      port: daemon.ports.submissions,
      implicitTls: true,
      user: DEFAULT_USER.name,
      password: 'wrong',
      from: 'alerts@example.com',
      to: ['x@remote.test'],
      message: 'Subject: x\r\n\r\nx\r\n',
    });
    assert.equal(badPassword.ok, false);
    const client = await authenticatedClient(daemon.ports.submission, DEFAULT_USER.name, DEFAULT_USER.password);
    assert.equal((await client.send('MAIL FROM:<someone@elsewhere.test>')).code, 553);
    await client.quit();

    const response = await fetch(`${base}/metrics`);
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    const { samples, described } = parseMetrics(await response.text());
    assert.ok(value(samples, 'smarthost_connections_total', { listener: 'submission' }) >= 3);
    assert.ok(value(samples, 'smarthost_connections_total', { listener: 'submissions' }) >= 1);
    assert.equal(value(samples, 'smarthost_auth_failures_total', { reason: 'credentials' }), 1);
    assert.equal(value(samples, 'smarthost_messages_accepted_total'), 2);
    assert.equal(value(samples, 'smarthost_messages_refused_total', { reason: 'SMARTHOST_E_SENDER_NOT_OWNED' }), 1);
    assert.equal(value(samples, 'smarthost_queue_recipients', { state: 'deferred' }), 1);
    assert.equal(value(samples, 'smarthost_queue_recipients', { state: 'queued' }), 0);
    assert.ok(value(samples, 'smarthost_queue_oldest_message_age_seconds') > 0);
    assert.equal(value(samples, 'smarthost_delivery_attempts_total', { outcome: 'delivered' }), 1);
    assert.equal(value(samples, 'smarthost_delivery_attempts_total', { outcome: 'deferred' }), 1);
    assert.equal(value(samples, 'smarthost_delivery_latency_seconds_count'), 1);
    assert.ok(
      value(samples, 'smarthost_outbound_connections_total', { tls: 'tls' }) >= 1,
      'the fake MX offers STARTTLS with a self-signed certificate',
    );
    assert.ok(value(samples, 'smarthost_process_cpu_seconds_total') > 0, 'process metrics');
    for (const sample of samples.filter((s) => s.name.startsWith('smarthost_'))) {
      const family = sample.name.replace(/_(bucket|sum|count)$/, '');
      assert.ok(described.has(sample.name) || described.has(family), `${sample.name} has HELP and TYPE`);
      for (const label of Object.values(sample.labels)) assert.doesNotMatch(label, /@/, `${sample.name}: no addresses in labels`);
    }
  });

  test('/healthz: 200 with a writable spool and bound listeners, 503 while writes fail', async () => {
    const ok = await fetch(`${base}/healthz`);
    assert.equal(ok.status, 200);
    const body = (await ok.json()) as { status: string; spool: string; listeners: Array<{ kind: string; listening: boolean }> };
    assert.equal(body.status, 'ok');
    assert.deepEqual(
      body.listeners.map((l) => [l.kind, l.listening]),
      [
        ['submission', true],
        ['submissions', true],
      ],
    );

    const command = await daemon.cli(['healthcheck']);
    assert.equal(command.code, 0, command.stderr);
    assert.equal(command.stdout, 'ok\n', 'smarthost healthcheck finds the endpoint through the spool (port 0 here)');

    writeFileSync(faultFile, 'EIO');
    try {
      const failing = await poll(`${base}/healthz`, 503);
      const detail = (await failing.json()) as { status: string; spool: string };
      assert.equal(detail.status, 'unavailable');
      assert.match(detail.spool, /^not writable: /);
    } finally {
      unlinkSync(faultFile);
    }
    assert.equal((await poll(`${base}/healthz`, 200)).status, 200);
    assert.equal((await fetch(`${base}/nothing`)).status, 404);
    assert.equal((await fetch(`${base}/metrics`, { method: 'POST' })).status, 405);
  });
});

/** GET url every 200 ms until it answers `status` (10 s at most); the health probe runs once a second. */
async function poll(url: string, status: number): Promise<Response> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const response = await fetch(url);
    if (response.status === status || Date.now() > deadline) return response;
    await response.arrayBuffer();
    await new Promise((r) => setTimeout(r, 200));
  }
}
