/**
 * Candidates outside the allowed networks are never contacted. A UDP socket stands where an
 * offer's extra candidate points (127.0.0.2 — loopback, but not the address the allow-list
 * names); the leg connects to the real peer on 127.0.0.1 and the socket must see no STUN. The
 * same run with the address allowed shows the socket would have been contacted.
 */
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { afterEach, describe, it } from 'node:test';

import { loadConfig } from '../../../src/config/index.js';
import { ConnectorError } from '../../../src/errors/connector-error.js';
import { createLogger } from '../../../src/log/logger.js';
import { SessionDescription } from '../../../src/media/sdp/session-description.js';
import { WhatsAppMediaLeg } from '../../../src/media/whatsapp-media-leg.js';
import { mediaSettings } from '../../../src/server/connector-server.js';
import { FakeMetaPeer } from './fake-meta-peer.js';

const logger = createLogger({ level: 'error', name: 'test' });
const cleanups: (() => Promise<void> | void)[] = [];

afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.();
});

/** A LiveKit API secret long enough for the configuration's 32-character rule. */
const SECRET = 'allow-list-test-secret-0123456789abcdef';

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** A UDP socket on 127.0.0.2 that counts STUN binding requests (RFC 5389 magic cookie). */
async function listener(): Promise<{ socket: Socket; port: number; stun: () => number }> {
  const socket = createSocket('udp4');
  let stun = 0;
  socket.on('message', (msg) => {
    if (msg.length >= 20 && msg.readUInt32BE(4) === 0x2112a442) stun++;
  });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.2', resolve));
  cleanups.push(() => new Promise<void>((resolve) => socket.close(() => resolve())));
  return { socket, port: socket.address().port, stun: () => stun };
}

/** Meta's offer with one more host candidate, on the listener, preferred over the real one. */
function withExtraCandidate(offer: string, port: number): string {
  const sdp = SessionDescription.parse(offer);
  sdp
    .audio()
    ?.addAttribute(
      'candidate',
      `99 1 udp 2130706431 127.0.0.2 ${port} typ host generation 0 network-cost 50`,
    );
  return sdp.toString();
}

async function callWith(allowed: string[] | undefined, port: number) {
  const meta = new FakeMetaPeer();
  cleanups.push(() => meta.close());
  const leg = WhatsAppMediaLeg.create({
    sampleRate: 16000,
    iceAllowedAddresses: ['127.0.0.1'],
    iceUseIpv6: false,
    ...(allowed ? { allowedCandidateNetworks: allowed } : {}),
    logger,
  });
  cleanups.push(() => leg.close());
  const answer = await leg.createAnswer(withExtraCandidate(await meta.createOffer(), port));
  const connected = new Promise<void>((resolve) => leg.once('connected', () => resolve()));
  await meta.setAnswer(answer);
  await Promise.all([connected, meta.connected()]);
  return leg;
}

describe('remote ICE candidates outside the allowed networks', () => {
  it('get no STUN check while the call connects through an allowed one', async () => {
    const target = await listener();
    // The configuration path: MEDIA_ALLOWED_CANDIDATE_NETWORKS → mediaSettings → the leg.
    const config = loadConfig({
      env: {
        LIVEKIT_API_KEY: 'key',
        LIVEKIT_API_SECRET: SECRET,
        MEDIA_ICE_ADDRESSES: '127.0.0.1',
        MEDIA_ALLOWED_CANDIDATE_NETWORKS: '127.0.0.1/32, public',
      },
    });
    const settings = mediaSettings(config);
    assert.deepEqual(settings.allowedCandidateNetworks, ['127.0.0.1/32', 'public']);
    const leg = await callWith(settings.allowedCandidateNetworks, target.port);
    await sleep(1500);
    assert.equal(leg.state, 'connected');
    assert.equal(leg.stats().disallowedCandidates, 1);
    assert.equal(target.stun(), 0, 'the disallowed candidate was never contacted');
  });

  it('are contacted when allowed (the listener would have seen the checks)', async () => {
    const target = await listener();
    await callWith(['127.0.0.0/8'], target.port);
    await sleep(500);
    assert.ok(target.stun() > 0, `${target.stun()} STUN requests reached the allowed candidate`);
  });

  it('the default (public, plus loopback for a loopback leg) refuses private networks', async () => {
    const meta = new FakeMetaPeer();
    cleanups.push(() => meta.close());
    const leg = WhatsAppMediaLeg.create({
      sampleRate: 16000,
      iceAllowedAddresses: ['127.0.0.1'],
      logger,
    });
    cleanups.push(() => leg.close());
    const offer = SessionDescription.parse(await meta.createOffer());
    const audio = offer.audio()!;
    audio.removeAttribute('candidate');
    audio.addAttribute('candidate', '1 1 udp 2130706431 10.0.0.7 3480 typ host');
    audio.addAttribute('candidate', '2 1 udp 2130706431 169.254.169.254 80 typ host');
    await assert.rejects(
      leg.createAnswer(offer.toString()),
      (err: unknown) =>
        err instanceof ConnectorError &&
        err.code === 'invalid_argument' &&
        /allowed network/.test(err.message),
    );
  });

  it('a malformed allow-list entry is a configuration error', () => {
    assert.throws(
      () =>
        loadConfig({
          env: {
            LIVEKIT_API_KEY: 'k',
            LIVEKIT_API_SECRET: SECRET,
            MEDIA_ALLOWED_CANDIDATE_NETWORKS: '10.0.0.0/40',
          },
        }),
      /MEDIA_ALLOWED_CANDIDATE_NETWORKS/,
    );
  });
});
