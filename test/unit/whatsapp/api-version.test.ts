import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  SUPPORTED_CLOUD_API_VERSIONS,
  graphVersionPath,
  normaliseCloudApiVersion,
} from '../../../src/whatsapp/api-version.js';
import { ConnectorError } from '../../../src/errors/connector-error.js';

test('supported versions are 23.0, 24.0 and 25.0', () => {
  assert.deepEqual([...SUPPORTED_CLOUD_API_VERSIONS], ['23.0', '24.0', '25.0']);
});

test('versions with or without the v prefix normalise to the bare form', () => {
  assert.equal(normaliseCloudApiVersion('v24.0'), '24.0');
  assert.equal(normaliseCloudApiVersion('24.0'), '24.0');
  assert.equal(normaliseCloudApiVersion(' V23.0 '), '23.0');
  assert.equal(normaliseCloudApiVersion('25'), '25.0');
});

test('unsupported or malformed versions are undefined', () => {
  for (const v of ['14.0', 'v17.0', '26.0', '24.1', '', 'latest', 'v', '24.0.0', '024.0x']) {
    assert.equal(normaliseCloudApiVersion(v), undefined, v);
  }
});

test('the Graph path segment carries the v prefix', () => {
  assert.equal(graphVersionPath('24.0'), 'v24.0');
  assert.equal(graphVersionPath('v25.0'), 'v25.0');
});

test('an unsupported version is an invalid_argument error for the path', () => {
  assert.throws(
    () => graphVersionPath('v14.0'),
    (e: unknown) => e instanceof ConnectorError && e.code === 'invalid_argument',
  );
});
