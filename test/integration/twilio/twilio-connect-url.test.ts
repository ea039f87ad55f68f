import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect as tcpConnect } from 'node:net';
import { dispose } from '@livekit/rtc-node';
import { ConnectTwilioCallRequest, ConnectTwilioCallResponse } from '@livekit/protocol';
import { AccessToken, ConnectorClient, RoomServiceClient, TwirpError } from 'livekit-server-sdk';
import { ConnectUrlSigner, newSessionId } from '../../../src/twilio/connect-url-signer.js';
import { postTwirp } from '../connector/support/connector-test-server.js';
import {
  Direction,
  eventually,
  sleep,
  startTwilioStack,
  type TwilioStack,
} from './twilio-harness.js';
import { TwilioMediaStreamClient, openSocket } from './twilio-media-stream-client.js';

let stack: TwilioStack;
const cleanup: Array<() => Promise<void> | void> = [];

before(async () => {
  stack = await startTwilioStack();
});
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});
after(async () => {
  await stack?.stop();
  await dispose();
});

async function issue(roomName: string): Promise<string> {
  const res = await stack.client.connectTwilioCall({
    twilioCallDirection: Direction.INBOUND,
    roomName,
    participantIdentity: `caller-${roomName}`,
  });
  return res.connectUrl;
}

/** Change one part of the URL's token (version, session id, expiry, signature). */
function alterToken(url: string, part: number, change: (value: string) => string): string {
  const i = url.lastIndexOf('/') + 1;
  const parts = url.slice(i).split('.');
  parts[part] = change(parts[part]!);
  return url.slice(0, i) + parts.join('.');
}

const flip = (s: string) => (s[0] === 'A' ? 'B' : 'A') + s.slice(1);

async function refusal(url: string): Promise<{ status: number; body: string }> {
  const answer = await openSocket(url);
  if (!('status' in answer)) {
    answer.terminate();
    assert.fail(`the server opened a socket for ${url}`);
  }
  return { status: answer.status, body: answer.body.trim() };
}

describe('connect URLs', { timeout: 60_000 }, () => {
  it('refuse forged, altered and malformed tokens with 401 before any socket opens', async () => {
    const url = await issue('twilio-url-forged');
    const origin = url.slice(0, url.indexOf('/twilio/'));
    const signature = { status: 401, body: 'invalid connect URL: signature mismatch' };
    assert.deepEqual(await refusal(alterToken(url, 3, flip)), signature);
    assert.deepEqual(await refusal(alterToken(url, 1, flip)), signature);
    assert.deepEqual(
      await refusal(alterToken(url, 2, (e) => String(Number(e) + 86_400))),
      signature,
      'a later expiry',
    );
    const malformed = { status: 401, body: 'invalid connect URL: malformed token' };
    assert.deepEqual(await refusal(`${origin}/twilio/stream/guess`), malformed);
    assert.deepEqual(await refusal(`${origin}/twilio/stream/`), malformed);
    // None of that spent the genuine URL.
    const twilio = await TwilioMediaStreamClient.connect(url);
    cleanup.push(() => twilio.close());
  });

  it('are single-use: a second connection gets 409 and the first stream goes on', async () => {
    const url = await issue('twilio-url-twice');
    const first = await TwilioMediaStreamClient.connect(url);
    cleanup.push(() => first.close());
    first.sendTone(440);
    assert.deepEqual(await refusal(url), { status: 409, body: 'connect URL already used' });
    await sleep(300);
    assert.equal(first.ws.readyState, first.ws.OPEN);
  });

  it('answer 404 for a genuine signature this instance has no call for', async () => {
    const url = await issue('twilio-url-unknown');
    const origin = url.slice(0, url.indexOf('/twilio/'));
    // Signed with the same secret (another instance, or before a restart) for an unknown session.
    const token = new ConnectUrlSigner(stack.lk.apiSecret).sign(
      newSessionId(),
      Date.now() + 60_000,
    );
    assert.deepEqual(await refusal(`${origin}/twilio/stream/${token}`), {
      status: 404,
      body: 'unknown connect URL (issued by another instance, or before a restart)',
    });
  });

  it('answer a plain HTTP request with 426, and upgrades elsewhere with 404', async () => {
    const res = await fetch(`${stack.connectorUrl}/twilio/stream/anything`);
    assert.equal(res.status, 426);
    assert.equal(res.headers.get('upgrade'), 'websocket');
    const other = await openSocket(`${stack.connectorUrl.replace('http', 'ws')}/twirp/x`);
    assert.ok('status' in other && other.status === 404);
  });

  it('are spent by a failed WebSocket handshake, whose call then ends', async () => {
    const url = await issue('twilio-url-bad-handshake');
    const { port, hostname, pathname } = new URL(url);
    const answer = await new Promise<string>((resolve) => {
      let text = '';
      const socket = tcpConnect(Number(port), hostname, () => {
        // An upgrade without Sec-WebSocket-Key/Version is not a WebSocket handshake.
        socket.write(
          `GET ${pathname} HTTP/1.1\r\nHost: ${hostname}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n`,
        );
      });
      socket.on('data', (d: Buffer) => (text += d.toString('latin1')));
      socket.on('close', () => resolve(text));
      socket.on('error', () => resolve(text));
    });
    assert.match(answer, /^HTTP\/1\.1 400 /);
    const rooms = new RoomServiceClient(stack.lk.httpUrl, stack.lk.apiKey, stack.lk.apiSecret);
    await eventually(
      async () => (await rooms.listParticipants('twilio-url-bad-handshake')).length === 0,
      10_000,
      'the hidden participant leaving',
    );
    assert.equal((await refusal(url)).status, 409);
    const health = await fetch(`http://127.0.0.1:${stack.server.internalPort}/healthz`);
    assert.equal(health.status, 200, 'the service is fine');
  });
});

describe('ConnectTwilioCall', { timeout: 60_000 }, () => {
  it('answers a wss:// URL on the host a TLS proxy forwarded (X-Forwarded-Proto/Host)', async () => {
    const token = new AccessToken(stack.lk.apiKey, stack.lk.apiSecret);
    token.addGrant({ roomCreate: true });
    const answer = await postTwirp(
      stack.connectorUrl,
      'ConnectTwilioCall',
      JSON.stringify({ roomName: 'twilio-forwarded' }),
      {
        'Content-Type': 'application/json',
        Authorization: `Bearer ${await token.toJwt()}`,
        'X-Forwarded-Proto': 'https',
        'X-Forwarded-Host': 'connector.example.com',
      },
    );
    assert.equal(answer.status, 200, answer.body.toString());
    const url = (answer.json as { connect_url: string }).connect_url;
    assert.match(url, /^wss:\/\/connector\.example\.com\/twilio\/stream\/v1\./);
    // The same path on this server is the live URL.
    const local = url.replace(
      'wss://connector.example.com',
      stack.connectorUrl.replace('http', 'ws'),
    );
    const twilio = await TwilioMediaStreamClient.connect(local);
    cleanup.push(() => twilio.close());
  });

  it('called on the internal listener without PUBLIC_URL, answers a URL on that listener that works', async () => {
    const internal = `http://127.0.0.1:${stack.server.internalPort}`;
    const client = new ConnectorClient(internal, stack.lk.apiKey, stack.lk.apiSecret);
    const { connectUrl } = await client.connectTwilioCall({
      twilioCallDirection: Direction.INBOUND,
      roomName: 'twilio-internal',
    });
    assert.ok(connectUrl.startsWith(`${internal.replace('http', 'ws')}/twilio/stream/v1.`));
    const twilio = await TwilioMediaStreamClient.connect(connectUrl);
    cleanup.push(() => twilio.close());
  });

  it('refuses an unknown destination country with invalid_argument, joining nothing', async () => {
    await assert.rejects(
      stack.client.connectTwilioCall({
        twilioCallDirection: Direction.OUTBOUND,
        roomName: 'twilio-bad-country',
        destinationCountry: 'ZZ',
      }),
      (err: unknown) =>
        err instanceof TwirpError &&
        err.code === 'invalid_argument' &&
        err.status === 400 &&
        err.message === 'destination country must be an ISO 3166-1 alpha-2 code',
    );
    const rooms = new RoomServiceClient(stack.lk.httpUrl, stack.lk.apiKey, stack.lk.apiSecret);
    assert.deepEqual(await rooms.listRooms(['twilio-bad-country']), [], 'nothing was joined');
  });

  it('refuses a call direction outside the enum (protobuf) with invalid_argument', async () => {
    const token = new AccessToken(stack.lk.apiKey, stack.lk.apiSecret);
    token.addGrant({ roomCreate: true });
    const body = new ConnectTwilioCallRequest({
      twilioCallDirection: 7 as Direction,
      roomName: 'twilio-bad-direction',
    }).toBinary();
    const answer = await postTwirp(stack.connectorUrl, 'ConnectTwilioCall', body, {
      'Content-Type': 'application/protobuf',
      Authorization: `Bearer ${await token.toJwt()}`,
    });
    assert.equal(answer.status, 400);
    assert.deepEqual(answer.json, {
      code: 'invalid_argument',
      msg: 'twilio call direction must be TWILIO_CALL_DIRECTION_INBOUND or TWILIO_CALL_DIRECTION_OUTBOUND',
    });
  });

  it('answers in protobuf for protobuf clients', async () => {
    const token = new AccessToken(stack.lk.apiKey, stack.lk.apiSecret);
    token.addGrant({ roomCreate: true });
    const answer = await postTwirp(
      stack.connectorUrl,
      'ConnectTwilioCall',
      new ConnectTwilioCallRequest({ roomName: 'twilio-protobuf' }).toBinary(),
      { 'Content-Type': 'application/protobuf', Authorization: `Bearer ${await token.toJwt()}` },
    );
    assert.equal(answer.status, 200);
    assert.equal(answer.contentType, 'application/protobuf');
    const res = ConnectTwilioCallResponse.fromBinary(answer.body);
    assert.match(res.connectUrl, /^ws:\/\/127\.0\.0\.1:\d+\/twilio\/stream\/v1\./);
  });
});

describe('with PUBLIC_URL, a 2 s URL lifetime and room for one call', { timeout: 60_000 }, () => {
  let small: TwilioStack;
  before(async () => {
    small = await startTwilioStack({
      PUBLIC_URL: 'https://connector.example.com',
      TWILIO_CONNECT_URL_TTL_SECONDS: '2',
      MAX_CONCURRENT_CALLS: '1',
    });
  });
  after(async () => {
    await small?.stop();
  });

  it('builds the URL on PUBLIC_URL, refuses a second call while full, and lets the unused URL expire: 410, participant gone, room for a call again', async () => {
    const res = await small.client.connectTwilioCall({
      twilioCallDirection: Direction.OUTBOUND,
      roomName: 'twilio-expiry',
      participantIdentity: 'caller-expiry',
    });
    assert.match(res.connectUrl, /^wss:\/\/connector\.example\.com\/twilio\/stream\/v1\./);
    const local = res.connectUrl.replace(
      'wss://connector.example.com',
      small.connectorUrl.replace('http', 'ws'),
    );
    const rooms = new RoomServiceClient(small.lk.httpUrl, small.lk.apiKey, small.lk.apiSecret);
    const present = await rooms.listParticipants('twilio-expiry');
    assert.deepEqual(
      present.map((p) => [p.identity, p.permission?.hidden]),
      [['caller-expiry', true]],
    );

    await assert.rejects(
      small.client.connectTwilioCall({
        twilioCallDirection: Direction.INBOUND,
        roomName: 'twilio-full',
      }),
      (err: unknown) =>
        err instanceof TwirpError &&
        err.code === 'resource_exhausted' &&
        err.status === 429 &&
        err.message === 'server is busy and cannot accept new calls',
    );

    // Unused, the URL expires (2 s) and its hidden participant leaves.
    await eventually(
      async () => (await rooms.listParticipants('twilio-expiry')).length === 0,
      10_000,
      'the hidden participant leaving after expiry',
    );
    assert.deepEqual(await refusal(local), { status: 410, body: 'connect URL expired' });
    // Its capacity is free again.
    const again = await small.client.connectTwilioCall({
      twilioCallDirection: Direction.INBOUND,
      roomName: 'twilio-full',
    });
    assert.match(again.connectUrl, /^wss:\/\/connector\.example\.com\//);
  });
});
