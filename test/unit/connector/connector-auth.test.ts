import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SignJWT, UnsecuredJWT } from 'jose';
import { AccessToken } from 'livekit-server-sdk';
import { ConnectorError } from '../../../src/errors/index.js';
import { authenticateConnectorRequest } from '../../../src/connector/index.js';

const KEYS = { APIone: 'secret-one-0123456789abcdef', APItwo: 'secret-two-0123456789abcdef' };
const now = () => Math.floor(Date.now() / 1000);

async function sign(
  claims: Record<string, unknown>,
  secret = KEYS.APIone,
  header: Record<string, unknown> = {},
  alg = 'HS256',
): Promise<string> {
  return new SignJWT(claims)
    .setProtectedHeader({ alg, ...header })
    .sign(new TextEncoder().encode(secret));
}

const base = () => ({ iss: 'APIone', exp: now() + 600, nbf: now(), video: { roomCreate: true } });

async function unauthenticated(header: string | undefined, msg?: RegExp): Promise<void> {
  await assert.rejects(authenticateConnectorRequest(header, KEYS), (err: unknown) => {
    assert.ok(err instanceof ConnectorError);
    assert.equal(err.code, 'unauthenticated');
    assert.equal(err.httpStatus, 401);
    if (msg) assert.match(err.message, msg);
    return true;
  });
}

describe('Connector access tokens', () => {
  it('accepts a token from the Node SDK AccessToken and reports the API key', async () => {
    const at = new AccessToken('APItwo', KEYS.APItwo, { ttl: '10m' });
    at.addGrant({ roomCreate: true });
    const caller = await authenticateConnectorRequest(`Bearer ${await at.toJwt()}`, KEYS);
    assert.deepEqual(caller, { apiKeyId: 'APItwo' });
  });

  it('accepts the claim variants the official SDKs send', async () => {
    // Kotlin: no nbf, typ header; Python/Rust: sub "", extra grants, nulls; Go: iat, room grant.
    const variants: Array<[Record<string, unknown>, Record<string, unknown>]> = [
      [{ iss: 'APIone', exp: now() + 600, video: { roomCreate: true }, sip: {} }, { typ: 'JWT' }],
      [
        {
          ...base(),
          sub: '',
          name: '',
          metadata: '',
          sha256: '',
          attributes: {},
          roomConfig: null,
          sip: { admin: false, call: false },
          video: {
            roomCreate: true,
            canPublish: true,
            canSubscribe: true,
            room: '',
            canPublishSources: [],
          },
        },
        {},
      ],
      [{ ...base(), iat: now(), video: { roomCreate: true, room: 'some-room' } }, {}],
    ];
    for (const [claims, header] of variants) {
      const caller = await authenticateConnectorRequest(
        `Bearer ${await sign(claims, KEYS.APIone, header)}`,
        KEYS,
      );
      assert.equal(caller.apiKeyId, 'APIone');
    }
  });

  it('treats the scheme case-insensitively', async () => {
    const caller = await authenticateConnectorRequest(`bearer ${await sign(base())}`, KEYS);
    assert.equal(caller.apiKeyId, 'APIone');
  });

  it('allows 60 s of clock skew on exp and nbf, not more', async () => {
    await authenticateConnectorRequest(
      `Bearer ${await sign({ ...base(), exp: now() - 30 })}`,
      KEYS,
    );
    await authenticateConnectorRequest(
      `Bearer ${await sign({ ...base(), nbf: now() + 30 })}`,
      KEYS,
    );
    await unauthenticated(`Bearer ${await sign({ ...base(), exp: now() - 120 })}`, /expired/);
    await unauthenticated(`Bearer ${await sign({ ...base(), nbf: now() + 120 })}`, /nbf/);
  });

  it('rejects every kind of bad token with 401 unauthenticated', async () => {
    const { exp: _exp, ...noExp } = base();
    await unauthenticated(undefined, /missing authorization/);
    await unauthenticated('', /missing authorization/);
    await unauthenticated(`Basic ${Buffer.from('a:b').toString('base64')}`, /Bearer/);
    await unauthenticated('Bearer', /Bearer/);
    await unauthenticated('Bearer not-a-jwt', /not a JWT/);
    await unauthenticated(`Bearer ${await sign(base(), 'wrong-secret')}`, /signature/);
    await unauthenticated(
      `Bearer ${await sign({ ...base(), iss: 'APIunknown' })}`,
      /invalid API key/,
    );
    await unauthenticated(`Bearer ${await sign({ ...base(), iss: undefined })}`, /issuer/);
    await unauthenticated(`Bearer ${await sign(noExp)}`, /exp/);
    await unauthenticated(`Bearer ${await sign({ ...base(), video: {} })}`, /permissions denied/);
    await unauthenticated(`Bearer ${await sign({ ...base(), video: null })}`, /permissions denied/);
    await unauthenticated(
      `Bearer ${await sign({ ...base(), video: { roomCreate: 'true' } })}`,
      /permissions denied/,
    );
    await unauthenticated(`Bearer ${await sign(base(), KEYS.APIone, {}, 'HS512')}`, /HS256/);
    await unauthenticated(`Bearer ${new UnsecuredJWT(base()).encode()}`, /HS256/);
    // A key registered under a prototype name must not resolve to Object.prototype members.
    await unauthenticated(
      `Bearer ${await sign({ ...base(), iss: 'toString' }, 'x')}`,
      /invalid API key/,
    );
  });

  it('never puts the token into the error message', async () => {
    const token = await sign(base(), 'wrong-secret');
    await assert.rejects(authenticateConnectorRequest(`Bearer ${token}`, KEYS), (err: Error) => {
      assert.ok(!err.message.includes(token));
      assert.ok(!err.message.includes(token.split('.')[2] ?? 'x'));
      return true;
    });
  });
});
