import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { RTCPeerConnection, RTCRtpCodecParameters } from 'werift';
import {
  normaliseMetaSdp,
  normaliseOurSdp,
  validateOurSdp,
} from '../../../src/whatsapp/meta-sdp.js';
import { META_UIC_OFFERS, sdpFixture } from '../../unit/whatsapp/sdp-fixtures.js';

function peer(): RTCPeerConnection {
  return new RTCPeerConnection({
    codecs: {
      audio: [
        new RTCRtpCodecParameters({ mimeType: 'audio/opus', clockRate: 48000, channels: 2 }),
        new RTCRtpCodecParameters({ mimeType: 'audio/telephone-event', clockRate: 8000 }),
      ],
    },
    iceAdditionalHostAddresses: ['127.0.0.1'],
  });
}

describe('werift SDP for Meta', () => {
  test("werift's offer conforms after normalising, and werift still accepts it", async () => {
    const pc = peer();
    const remote = peer();
    try {
      pc.addTransceiver('audio', { direction: 'sendrecv' });
      await pc.setLocalDescription(await pc.createOffer());
      const raw = pc.localDescription?.sdp ?? '';
      const before = validateOurSdp(raw, { role: 'offer' });
      const result = normaliseOurSdp(raw, { role: 'offer' });
      assert.equal(result.ok, true, JSON.stringify(result.problems));
      assert.ok(
        before.problems.some((p) => p.code === 'ptime'),
        'werift offers carry no ptime, so normalising must have had work to do',
      );
      assert.equal(result.problems.filter((p) => p.severity === 'error').length, 0);
      const summary = validateOurSdp(result.sdp, { role: 'offer' }).summary;
      assert.equal(summary?.iceLite, false);
      assert.equal(summary?.fingerprints.length, 1);
      assert.equal(summary?.ssrcs.length, 1);
      // The normalised offer is still a description a WebRTC stack applies.
      await remote.setRemoteDescription({ type: 'offer', sdp: result.sdp });
      assert.equal(remote.signalingState, 'have-remote-offer');
    } finally {
      await pc.close();
      await remote.close();
    }
  });

  test("werift's answers to the real Meta offers conform after normalising", async () => {
    for (const name of META_UIC_OFFERS) {
      const offer = normaliseMetaSdp(sdpFixture(name), { type: 'offer' });
      assert.equal(offer.ok, true, name);
      const pc = peer();
      try {
        pc.addTransceiver('audio', { direction: 'sendrecv' });
        await pc.setRemoteDescription({ type: 'offer', sdp: offer.sdp });
        await pc.setLocalDescription(await pc.createAnswer());
        const raw = pc.localDescription?.sdp ?? '';
        const result = normaliseOurSdp(raw, { role: 'answer', remoteOffer: offer.sdp });
        assert.equal(result.ok, true, `${name}: ${JSON.stringify(result.problems)}`);
        const summary = validateOurSdp(result.sdp, {
          role: 'answer',
          remoteOffer: offer.sdp,
        }).summary;
        assert.equal(summary?.setup, 'active', name);
        assert.equal(summary?.mid, offer.summary?.mid, name);
        assert.equal(summary?.opus?.payloadType, offer.summary?.opus?.payloadType, name);
        assert.equal(summary?.telephoneEvent?.payloadType, 126, name);
        assert.equal(summary?.ptime, 20, name);
      } finally {
        await pc.close();
      }
    }
  });
});
