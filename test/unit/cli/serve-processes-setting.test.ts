import { test } from 'node:test';
import assert from 'node:assert/strict';
import { availableParallelism } from 'node:os';
import { loadConfig } from '../../../src/config/index.js';
import {
  childInternalPort,
  MAX_PROCESSES,
  parseProcesses,
} from '../../../src/cli/serve-command.js';

const env = {
  LIVEKIT_API_KEY: 'devkey',
  LIVEKIT_API_SECRET: 'devsecret-0123456789-0123456789-abcdef',
};

test('--processes takes whole numbers from 1 to 64, and auto as one per core', () => {
  assert.equal(parseProcesses('1'), 1);
  assert.equal(parseProcesses('64'), 64);
  assert.equal(parseProcesses('auto'), Math.min(availableParallelism(), MAX_PROCESSES));
  assert.equal(parseProcesses('AUTO'), parseProcesses('auto'));
  for (const bad of ['0', '65', '-1', '1.5', 'abc', '', '2x', '0x2']) {
    assert.throws(() => parseProcesses(bad), /expected a whole number from 1 to 64, or auto/, bad);
  }
});

test('child i listens on INTERNAL_PORT + i (default PORT + 1 + i), or on a free port of its own when the internal port is 0', () => {
  const byDefault = loadConfig({ env: { ...env, PORT: '9000' } });
  assert.deepEqual(
    [0, 1, 2].map((i) => childInternalPort(byDefault, i)),
    [9001, 9002, 9003],
  );
  const explicit = loadConfig({ env: { ...env, PORT: '9000', INTERNAL_PORT: '9100' } });
  assert.deepEqual(
    [0, 1].map((i) => childInternalPort(explicit, i)),
    [9100, 9101],
  );
  const any = loadConfig({ env: { ...env, PORT: '0' } });
  assert.deepEqual(
    [0, 1].map((i) => childInternalPort(any, i)),
    [0, 0],
  );
});
