import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, loadConfig } from '../../../src/config/index.js';

const BASE = {
  LIVEKIT_API_KEY: 'k',
  LIVEKIT_API_SECRET: 'a-secret-of-enough-length-0123456789-abc',
};

describe('Twilio settings', () => {
  it('default to no public URL, 300 s connect URLs and a 5 s stream timeout', () => {
    const config = loadConfig({ env: BASE });
    assert.equal(config.publicUrl, undefined);
    assert.deepEqual(config.twilio, { connectUrlTtlSeconds: 300, streamTimeoutSeconds: 5 });
  });

  it('read PUBLIC_URL and the TWILIO_* variables', () => {
    const config = loadConfig({
      env: {
        ...BASE,
        PUBLIC_URL: 'https://connector.example.com/',
        TWILIO_CONNECT_URL_TTL_SECONDS: '60',
        TWILIO_STREAM_TIMEOUT_SECONDS: '2.5',
      },
    });
    assert.equal(config.publicUrl, 'https://connector.example.com');
    assert.deepEqual(config.twilio, { connectUrlTtlSeconds: 60, streamTimeoutSeconds: 2.5 });
  });

  it('accept plain http for a public URL on loopback only (Twilio connects to wss://)', () => {
    const local = loadConfig({ env: { ...BASE, PUBLIC_URL: 'http://127.0.0.1:8080' } });
    assert.equal(local.publicUrl, 'http://127.0.0.1:8080');
    assert.throws(
      () => loadConfig({ env: { ...BASE, PUBLIC_URL: 'http://connector.example.com' } }),
      (err: unknown) => err instanceof ConfigError && err.setting === 'PUBLIC_URL',
    );
  });

  it('refuse a public URL that is not https/wss and non-positive durations, naming the setting', () => {
    for (const [env, setting] of [
      [{ PUBLIC_URL: 'ftp://x' }, 'PUBLIC_URL'],
      [{ PUBLIC_URL: 'not a url' }, 'PUBLIC_URL'],
      [{ TWILIO_CONNECT_URL_TTL_SECONDS: '0' }, 'TWILIO_CONNECT_URL_TTL_SECONDS'],
      [{ TWILIO_STREAM_TIMEOUT_SECONDS: 'soon' }, 'TWILIO_STREAM_TIMEOUT_SECONDS'],
    ] as const) {
      assert.throws(
        () => loadConfig({ env: { ...BASE, ...env } }),
        (err: unknown) => err instanceof ConfigError && err.setting === setting,
      );
    }
  });
});
