import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  AddTrackRequest,
  JoinRequest,
  ReconnectReason,
  SessionDescription,
  WrappedJoinRequest,
  WrappedJoinRequest_Compression,
} from '@livekit/protocol';
import {
  SIGNAL_PROTOCOL_VERSION,
  buildSignalUrl,
  redactSignalUrl,
} from '../../../src/livekit/signal-url.js';

function joinRequestOf(url: string): JoinRequest {
  const param = new URL(url).searchParams.get('join_request');
  assert.ok(param);
  // The server decodes with Go's base64.URLEncoding: URL alphabet, padding required.
  assert.match(param, /^[A-Za-z0-9_-]*={0,2}$/);
  assert.equal(param.length % 4, 0);
  const standard = param.replaceAll('-', '+').replaceAll('_', '/');
  const wrapped = WrappedJoinRequest.fromBinary(Buffer.from(standard, 'base64'));
  assert.equal(wrapped.compression, WrappedJoinRequest_Compression.NONE);
  return JoinRequest.fromBinary(wrapped.joinRequest);
}

test('the single-PC join carries the publisher offer and tracks in a padded join_request on /rtc/v1', () => {
  // Several offer lengths: the padding must be right whatever the length modulo 3.
  for (const sdp of ['v=0', 'v=0\r\n', 'v=0\r\nx', 'v=0\r\nxy']) {
    const url = buildSignalUrl({
      url: 'wss://lk.example.com/prefix',
      token: 'tok',
      path: 'v1',
      autoSubscribe: false,
      publisherOffer: new SessionDescription({ type: 'offer', sdp, id: 1 }),
      addTrackRequests: [new AddTrackRequest({ cid: 'c1', name: 'caller' })],
    });
    const parsed = new URL(url);
    assert.equal(parsed.protocol, 'wss:');
    assert.equal(parsed.pathname, '/prefix/rtc/v1');
    assert.equal(parsed.searchParams.get('access_token'), 'tok');
    const join = joinRequestOf(url);
    assert.equal(join.publisherOffer?.sdp, sdp);
    assert.equal(join.addTrackRequests[0]?.cid, 'c1');
    assert.equal(join.connectionSettings?.autoSubscribe, false);
    assert.equal(join.clientInfo?.protocol, SIGNAL_PROTOCOL_VERSION);
    assert.equal(join.reconnect, false);
  }
});

test('a single-PC resume names the session in the join request', () => {
  const url = buildSignalUrl({
    url: 'http://127.0.0.1:7880',
    token: 'tok',
    path: 'v1',
    autoSubscribe: false,
    resume: { participantSid: 'PA_x', reason: ReconnectReason.RR_SIGNAL_DISCONNECTED },
  });
  assert.equal(new URL(url).protocol, 'ws:');
  const join = joinRequestOf(url);
  assert.equal(join.reconnect, true);
  assert.equal(join.participantSid, 'PA_x');
  assert.equal(join.reconnectReason, ReconnectReason.RR_SIGNAL_DISCONNECTED);
});

test('the two-PC join uses /rtc with query parameters', () => {
  const url = new URL(
    buildSignalUrl({ url: 'ws://127.0.0.1:7880/', token: 't', path: 'v0', autoSubscribe: true }),
  );
  assert.equal(url.pathname, '/rtc');
  assert.equal(url.searchParams.get('auto_subscribe'), '1');
  assert.equal(url.searchParams.get('protocol'), String(SIGNAL_PROTOCOL_VERSION));
  assert.equal(url.searchParams.get('join_request'), null);
  assert.equal(url.searchParams.get('reconnect'), null);
});

test('the URL for logs hides the token and the join request', () => {
  const url = buildSignalUrl({
    url: 'ws://127.0.0.1:7880',
    token: 'secret-token',
    path: 'v1',
    autoSubscribe: false,
  });
  const redacted = redactSignalUrl(url);
  assert.doesNotMatch(redacted, /secret-token/);
  assert.doesNotMatch(redacted, /join_request=[A-Za-z0-9_-]{8}/);
});
