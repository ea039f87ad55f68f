import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig } from '../../../src/config/index.js';
import { mediaSettings } from '../../../src/server/connector-server.js';

const base = { LIVEKIT_API_KEY: 'k', LIVEKIT_API_SECRET: 'a-test-secret-of-at-least-32-chars' };

test('ROOM_WORKER_CALLS_PER_PROCESS is still accepted, and reported as deprecated', () => {
  assert.deepEqual(loadConfig({ env: base }).deprecatedSettings, []);
  assert.deepEqual(
    loadConfig({ env: { ...base, ROOM_WORKER_CALLS_PER_PROCESS: '6' } }).deprecatedSettings,
    ['ROOM_WORKER_CALLS_PER_PROCESS'],
  );
  const dir = mkdtempSync(join(tmpdir(), 'native-media-config-'));
  const file = join(dir, 'config.yaml');
  writeFileSync(file, 'calls:\n  room_worker_calls_per_process: 3\n');
  assert.deepEqual(loadConfig({ env: base, configFile: file }).deprecatedSettings, [
    'ROOM_WORKER_CALLS_PER_PROCESS',
  ]);
});

test('MEDIA_FORWARDED_OPUS defaults to auto, takes the file and the environment over it', () => {
  assert.equal(loadConfig({ env: base }).media.forwardedOpus, 'auto');
  const dir = mkdtempSync(join(tmpdir(), 'native-media-config-'));
  const file = join(dir, 'config.yaml');
  writeFileSync(file, 'media:\n  forwarded_opus: reencode\n');
  assert.equal(loadConfig({ env: base, configFile: file }).media.forwardedOpus, 'reencode');
  assert.equal(
    loadConfig({ env: { ...base, MEDIA_FORWARDED_OPUS: 'passthrough' }, configFile: file }).media
      .forwardedOpus,
    'passthrough',
  );
  // ... and reaches every call's media leg.
  assert.equal(
    mediaSettings(loadConfig({ env: { ...base, MEDIA_FORWARDED_OPUS: 'reencode' } })).forwardedOpus,
    'reencode',
  );
  assert.throws(
    () => loadConfig({ env: { ...base, MEDIA_FORWARDED_OPUS: 'always' } }),
    (err: unknown) => err instanceof ConfigError && err.setting === 'MEDIA_FORWARDED_OPUS',
  );
});

test('MEDIA_OPUS_COMPLEXITY defaults to 9, takes 0-10 from the file or the environment, and reaches the media legs', () => {
  assert.equal(loadConfig({ env: base }).media.opusComplexity, 9);
  const dir = mkdtempSync(join(tmpdir(), 'native-media-config-'));
  const file = join(dir, 'config.yaml');
  writeFileSync(file, 'media:\n  opus_complexity: 5\n');
  assert.equal(loadConfig({ env: base, configFile: file }).media.opusComplexity, 5);
  const fromEnv = loadConfig({ env: { ...base, MEDIA_OPUS_COMPLEXITY: '0' }, configFile: file });
  assert.equal(fromEnv.media.opusComplexity, 0);
  assert.equal(mediaSettings(fromEnv).opusComplexity, 0);
  for (const bad of ['11', '-1', '4.5', 'high']) {
    assert.throws(
      () => loadConfig({ env: { ...base, MEDIA_OPUS_COMPLEXITY: bad } }),
      (err: unknown) =>
        err instanceof ConfigError &&
        err.setting === 'MEDIA_OPUS_COMPLEXITY' &&
        err.message.includes('0 to 10'),
      bad,
    );
  }
});

test('CALL_PLAY_RINGBACK is off by default and refuses anything but true/false', () => {
  assert.equal(loadConfig({ env: base }).calls.playRingback, false);
  assert.equal(
    loadConfig({ env: { ...base, CALL_PLAY_RINGBACK: 'true' } }).calls.playRingback,
    true,
  );
  assert.throws(
    () => loadConfig({ env: { ...base, CALL_PLAY_RINGBACK: 'yes' } }),
    (err: unknown) => err instanceof ConfigError && err.setting === 'CALL_PLAY_RINGBACK',
  );
});
