import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig } from '../../../src/config/index.js';

const base = { LIVEKIT_API_KEY: 'k', LIVEKIT_API_SECRET: 'a-test-secret-of-at-least-32-chars' };

test('room legs run in workers of 6 calls by default; 0 keeps them in-process', () => {
  assert.equal(loadConfig({ env: base }).calls.roomWorkerCallsPerProcess, 6);
  assert.equal(
    loadConfig({ env: { ...base, ROOM_WORKER_CALLS_PER_PROCESS: '0' } }).calls
      .roomWorkerCallsPerProcess,
    0,
  );
});

test('the YAML setting applies and the environment overrides it', () => {
  const dir = mkdtempSync(join(tmpdir(), 'room-worker-config-'));
  const file = join(dir, 'config.yaml');
  writeFileSync(file, 'calls:\n  room_worker_calls_per_process: 3\n');
  assert.equal(loadConfig({ env: base, configFile: file }).calls.roomWorkerCallsPerProcess, 3);
  assert.equal(
    loadConfig({ env: { ...base, ROOM_WORKER_CALLS_PER_PROCESS: '8' }, configFile: file }).calls
      .roomWorkerCallsPerProcess,
    8,
  );
});

test('a negative or fractional value is refused naming the setting', () => {
  for (const bad of ['-1', '2.5', 'many']) {
    assert.throws(
      () => loadConfig({ env: { ...base, ROOM_WORKER_CALLS_PER_PROCESS: bad } }),
      (err: unknown) =>
        err instanceof ConfigError && err.setting === 'ROOM_WORKER_CALLS_PER_PROCESS',
    );
  }
});
