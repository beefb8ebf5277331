// Client networks (config/networks.ts) and the relay client table (submission/relay-clients.ts):
// CIDR parsing with its refusals, what counts as private/loopback/link-local, IPv4-mapped
// addresses, and the most specific relay client winning.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { inNetworks, isLocalNetwork, parseNetwork, type Network } from '../../src/config/networks.js';
import { RelayClients } from '../../src/submission/relay-clients.js';

function network(text: string): Network {
  const parsed = parseNetwork(text);
  assert.ok(typeof parsed !== 'string', `${text}: ${String(parsed)}`);
  return parsed;
}

describe('networks', () => {
  test('addresses and CIDR networks parse; bad ones say why', () => {
    assert.equal(network('10.0.0.5').bits, 32);
    assert.equal(network('fd00::5').bits, 128);
    assert.equal(network('10.0.5.0/24').bits, 24);
    assert.equal(network('::ffff:10.0.0.0/104').bits, 8, 'IPv4-mapped: judged as IPv4');
    assert.match(String(parseNetwork('10.0.5.1/24')), /host bits set; the network is 10\.0\.5\.0\/24/);
    assert.match(String(parseNetwork('10.0.5.0/33')), /out of range/);
    assert.match(String(parseNetwork('host.example')), /CIDR notation/);
    assert.match(String(parseNetwork('10.0.0.0/8/8')), /CIDR notation/);
    assert.match(String(parseNetwork('10.0.0.0/x')), /CIDR notation/);
  });

  test('only networks inside private, loopback and link-local ranges are local', () => {
    for (const text of [
      '10.0.0.0/8',
      '10.1.2.3',
      '172.16.0.0/12',
      '172.31.255.0/24',
      '192.168.0.0/16',
      '127.0.0.1',
      '169.254.0.0/16',
      '::1',
      'fd12:3456::/48',
      'fe80::/64',
      '::ffff:192.168.1.0/120',
    ]) {
      assert.ok(isLocalNetwork(network(text)), text);
    }
    for (const text of [
      '0.0.0.0/0',
      '::/0',
      '10.0.0.0/7',
      '172.0.0.0/8',
      '192.168.0.0/15',
      '8.8.8.8',
      '100.64.0.0/10',
      '2001:db8::/32',
      '::ffff:8.8.8.0/120',
    ]) {
      assert.ok(!isLocalNetwork(network(text)), text);
    }
  });

  test('client addresses match, IPv4-mapped ones as IPv4', () => {
    const networks = [network('10.0.5.0/24'), network('fd00::/8')];
    assert.ok(inNetworks(networks, '10.0.5.9'));
    assert.ok(inNetworks(networks, '::ffff:10.0.5.9'));
    assert.ok(inNetworks(networks, 'fd00::1'));
    assert.ok(!inNetworks(networks, '10.0.6.1'));
    assert.ok(!inNetworks(networks, 'not an address'));
  });

  test('relay clients: the most specific network wins, the first listed on a tie', () => {
    const clients = new RelayClients({
      allowPublicNetworks: false,
      clients: [
        { name: 'lan', networks: ['10.0.0.0/8'], allow: ['@a.example'] },
        { name: 'erp', networks: ['10.0.5.7'], allow: ['@b.example'] },
        { name: 'also-lan', networks: ['10.0.0.0/8'], allow: ['@c.example'] },
      ],
    });
    assert.equal(clients.match('10.0.5.7')?.name, 'erp');
    assert.equal(clients.match('10.0.5.8')?.name, 'lan');
    assert.equal(clients.match('192.168.1.1'), null);
  });
});
