import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  ConnectUrlSigner,
  MEDIA_STREAM_PATH,
  connectUrl,
  mediaStreamBaseUrl,
  newSessionId,
  tokenOfPath,
} from '../../../src/twilio/connect-url-signer.js';

const SECRET = 'a-livekit-api-secret-0123456789';
const NOW = 1_800_000_000_000;

/** Replace part `index` of a token (parts: version, session id, expiry, signature). */
function withPart(token: string, index: number, value: string): string {
  const parts = token.split('.');
  parts[index] = value;
  return parts.join('.');
}

describe('ConnectUrlSigner', () => {
  const signer = new ConnectUrlSigner(SECRET);

  it('accepts its own token until the expiry and returns the session id and expiry', () => {
    const id = newSessionId();
    const token = signer.sign(id, NOW + 300_000);
    assert.match(token, /^v1\.[A-Za-z0-9_-]{22}\.\d+\.[A-Za-z0-9_-]{43}$/);
    assert.deepEqual(signer.verify(token, NOW), {
      ok: true,
      sessionId: id,
      expiresAtMs: NOW + 300_000,
    });
    assert.equal(signer.verify(token, NOW + 299_999).ok, true);
  });

  it('calls a genuine token past its expiry expired, with its claims', () => {
    const id = newSessionId();
    const token = signer.sign(id, NOW + 1000);
    assert.deepEqual(signer.verify(token, NOW + 1000), {
      ok: false,
      reason: 'expired',
      claims: { sessionId: id, expiresAtMs: NOW + 1000 },
    });
  });

  it('refuses an altered signature, session id or expiry as a bad signature', () => {
    const token = signer.sign(newSessionId(), NOW + 60_000);
    const [, id, expiry, signature] = token.split('.') as [string, string, string, string];
    const flip = (s: string) => (s[0] === 'A' ? 'B' : 'A') + s.slice(1);
    for (const forged of [
      withPart(token, 3, flip(signature)),
      withPart(token, 1, flip(id)),
      // A later expiry on an otherwise genuine token: extending a URL must not work.
      withPart(token, 2, String(Number(expiry) + 3600)),
      // An earlier one too: "expired" is only ever said of genuine tokens.
      withPart(token, 2, String(Number(expiry) - 3600)),
    ]) {
      assert.deepEqual(signer.verify(forged, NOW), { ok: false, reason: 'bad_signature' });
    }
  });

  it('refuses tokens signed with another secret', () => {
    const other = new ConnectUrlSigner('another-secret-0123456789abcdef');
    const token = other.sign(newSessionId(), NOW + 60_000);
    assert.deepEqual(signer.verify(token, NOW), { ok: false, reason: 'bad_signature' });
  });

  it('calls tokens of the wrong shape malformed', () => {
    const good = signer.sign(newSessionId(), NOW + 60_000);
    for (const bad of [
      '',
      'hello',
      good.replace(/^v1/, 'v2'),
      `${good}.extra`,
      withPart(good, 1, 'short'),
      withPart(good, 2, '12ab'),
      withPart(good, 3, 'not-43-characters'),
    ]) {
      assert.deepEqual(signer.verify(bad, NOW), { ok: false, reason: 'malformed' }, bad);
    }
  });

  it('rounds the expiry up to whole seconds and refuses short secrets and bad session ids', () => {
    const token = signer.sign(newSessionId(), NOW + 1500);
    const verified = signer.verify(token, NOW);
    assert.ok(verified.ok);
    assert.equal(verified.expiresAtMs, NOW + 2000);
    assert.throws(() => new ConnectUrlSigner('short'), RangeError);
    assert.throws(() => signer.sign('not a session id', NOW), RangeError);
  });

  it('makes session ids that differ and fit the token format', () => {
    const ids = new Set(Array.from({ length: 100 }, () => newSessionId()));
    assert.equal(ids.size, 100);
    for (const id of ids) assert.match(id, /^[A-Za-z0-9_-]{22}$/);
  });
});

describe('connect URL building', () => {
  it('turns http(s) into ws(s) and keeps a path prefix', () => {
    assert.equal(mediaStreamBaseUrl('https://c.example.com', 'http://x'), 'wss://c.example.com');
    assert.equal(
      mediaStreamBaseUrl('http://c.example.com:8080/', 'http://x'),
      'ws://c.example.com:8080',
    );
    assert.equal(
      mediaStreamBaseUrl('https://proxy.example.com/connector/', 'http://x'),
      'wss://proxy.example.com/connector',
    );
    assert.equal(mediaStreamBaseUrl('wss://c.example.com', 'http://x'), 'wss://c.example.com');
  });

  it('uses the request origin without a public URL', () => {
    assert.equal(
      mediaStreamBaseUrl(undefined, 'https://api.example.com:8443'),
      'wss://api.example.com:8443',
    );
    assert.equal(mediaStreamBaseUrl(undefined, 'http://127.0.0.1:8080'), 'ws://127.0.0.1:8080');
  });

  it('puts the token in the path (Twilio drops query strings) and reads it back', () => {
    const url = connectUrl('wss://c.example.com', 'v1.abc.1.sig');
    assert.equal(url, `wss://c.example.com${MEDIA_STREAM_PATH}v1.abc.1.sig`);
    assert.equal(tokenOfPath(new URL(url).pathname), 'v1.abc.1.sig');
    assert.equal(tokenOfPath('/twilio/stream/'), undefined);
    assert.equal(tokenOfPath('/twilio/stream/a/b'), undefined);
    assert.equal(tokenOfPath('/other/v1.abc'), undefined);
    assert.equal(tokenOfPath(`/twilio/stream/${'x'.repeat(300)}`), undefined);
  });
});
