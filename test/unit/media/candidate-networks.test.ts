import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  CandidateNetworkPolicy,
  isLoopbackAddress,
} from '../../../src/media/candidate-networks.js';
import { ConnectorError } from '../../../src/errors/connector-error.js';

test("the default allows public addresses (Meta's relays), never private, loopback or special ones", () => {
  const policy = new CandidateNetworkPolicy();
  for (const address of [
    '157.240.227.51',
    '57.144.43.49',
    '2a03:2880:f312:131:face:b00c:0:699c',
    '8.8.8.8',
  ]) {
    assert.equal(policy.allows(address), true, address);
  }
  for (const address of [
    '10.1.2.3',
    '172.16.0.9',
    '192.168.1.1',
    '127.0.0.1',
    '127.0.0.2',
    '169.254.169.254', // cloud metadata
    '100.64.0.1',
    '0.0.0.0',
    '192.0.2.2',
    '224.0.0.1',
    '255.255.255.255',
    '::1',
    '::',
    'fd00::2',
    'fe80::1',
    '::ffff:10.0.0.1',
    '::ffff:127.0.0.1',
    'ff02::1',
    'abcd.local',
    'example.com',
    '',
  ]) {
    assert.equal(policy.allows(address), false, address);
  }
});

test('loopback is added only when asked; CIDR lists replace the default', () => {
  const dev = new CandidateNetworkPolicy({ allowLoopback: true });
  assert.equal(dev.allows('127.0.0.1'), true);
  assert.equal(dev.allows('::1'), true);
  assert.equal(dev.allows('10.0.0.1'), false);
  assert.equal(dev.allows('157.240.1.1'), true);
  assert.equal(dev.description, 'public,loopback');

  const metaOnly = new CandidateNetworkPolicy({ networks: ['157.240.0.0/16', '2a03:2880::/32'] });
  assert.equal(metaOnly.allows('157.240.9.9'), true);
  assert.equal(metaOnly.allows('2a03:2880:f211:d1:face:b00c:0:699c'), true);
  assert.equal(metaOnly.allows('8.8.8.8'), false, 'public but not listed');

  const lan = new CandidateNetworkPolicy({ networks: ['public', '10.0.0.0/8', '127.0.0.1'] });
  assert.equal(lan.allows('10.9.9.9'), true);
  assert.equal(lan.allows('127.0.0.1'), true);
  assert.equal(lan.allows('127.0.0.2'), false, 'a single address is a /32');
  assert.equal(lan.allows('8.8.8.8'), true);
});

test('a malformed network is refused with invalid_argument', () => {
  for (const bad of ['10.0.0.0/33', 'not-an-ip', '10.0.0.0/8/1', '::/129', '1.2.3.4/-1']) {
    assert.throws(
      () => new CandidateNetworkPolicy({ networks: [bad] }),
      (err: unknown) => err instanceof ConnectorError && err.code === 'invalid_argument',
      bad,
    );
  }
});

test('isLoopbackAddress', () => {
  assert.equal(isLoopbackAddress('127.3.2.1'), true);
  assert.equal(isLoopbackAddress('::1'), true);
  assert.equal(isLoopbackAddress('192.0.2.2'), false);
  assert.equal(isLoopbackAddress('localhost'), false);
});
