import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LiveKitError } from '../../../src/livekit/livekit-errors.js';
import { OPUS_PAYLOAD_TYPE, peerConfig } from '../../../src/livekit/peer-transport.js';

test('without ICE servers configured, no STUN server is used (werift would default to Google)', () => {
  const config = peerConfig({}, []);
  assert.deepEqual(config.iceServers, []);
  assert.equal(config.bundlePolicy, 'max-bundle');
});

test('Opus on payload type 111 with in-band FEC is the only codec offered', () => {
  const config = peerConfig({}, []);
  assert.equal(config.codecs?.audio?.length, 1);
  const [opus] = config.codecs!.audio!;
  assert.equal(opus?.mimeType, 'audio/opus');
  assert.equal(opus?.payloadType, OPUS_PAYLOAD_TYPE);
  assert.match(opus?.parameters ?? '', /useinbandfec=1/);
  assert.deepEqual(config.codecs?.video, []);
});

test('host addresses replace the interface scan, and one IPv4 address is also the bind address', () => {
  const loopback = peerConfig({ hostAddresses: ['127.0.0.1'] }, []);
  assert.equal(loopback.iceUseIpv4, false);
  assert.equal(loopback.iceUseIpv6, false);
  assert.deepEqual(loopback.iceAdditionalHostAddresses, ['127.0.0.1']);
  assert.deepEqual(loopback.iceInterfaceAddresses, { udp4: '127.0.0.1' });

  const two = peerConfig({ hostAddresses: ['10.0.0.2', '::1'] }, []);
  assert.deepEqual(two.iceAdditionalHostAddresses, ['10.0.0.2', '::1']);
  assert.equal(two.iceInterfaceAddresses, undefined);

  const scan = peerConfig({}, []);
  assert.equal(scan.iceUseIpv4, true);
  assert.equal(scan.iceAdditionalHostAddresses, undefined);
});

test('a port range must be two ports, low before high', () => {
  assert.deepEqual(peerConfig({ portRange: [40_000, 40_100] }, []).icePortRange, [40_000, 40_100]);
  for (const bad of [
    [40_000, 40_000],
    [50_000, 40_000],
    [0, 10],
    [1, 70_000],
  ] as [number, number][]) {
    assert.throws(
      () => peerConfig({ portRange: bad }, []),
      (err: unknown) => err instanceof LiveKitError && err.reason === 'invalid-argument',
    );
  }
});

test('TURN credentials are passed on', () => {
  const config = peerConfig({}, [
    { urls: ['turn:turn.example.com:3478?transport=udp'], username: 'u', credential: 'p' },
  ]);
  assert.deepEqual(config.iceServers, [
    { urls: ['turn:turn.example.com:3478?transport=udp'], username: 'u', credential: 'p' },
  ]);
});
