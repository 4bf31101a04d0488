import assert from 'node:assert/strict';
import { test } from 'node:test';
import { observedHostOf } from '../../src/server/access-point.ts';

test('observedHostOf: the address without its port, as peers would dial it', () => {
  const cases: [string, string][] = [
    ['127.0.0.1:54321', '127.0.0.1'],
    ['203.0.113.9:1', '203.0.113.9'],
    ['[::1]:54321', '::1'],
    ['[2001:db8::7]:443', '2001:db8::7'],
    ['[fe80::1%eth0]:5000', 'fe80::1%eth0'],
    // IPv4 seen on a dual-stack socket
    ['[::ffff:127.0.0.1]:54321', '127.0.0.1'],
    ['[::FFFF:198.51.100.4]:80', '198.51.100.4'],
    // not an IPv4-mapped address: kept as IPv6
    ['[::ffff:1:2]:80', '::ffff:1:2'],
    // no port
    ['192.0.2.1', '192.0.2.1'],
    ['::1', '::1'],
    ['::ffff:10.0.0.1', '10.0.0.1'],
    // unknown
    ['?', ''],
    ['?:0', ''],
    ['', ''],
  ];
  for (const [remote, host] of cases) assert.equal(observedHostOf(remote), host, remote);
});
