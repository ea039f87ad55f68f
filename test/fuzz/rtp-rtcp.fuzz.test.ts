/**
 * Fuzz target: RTP and RTCP as the receive stage sees them (werift's parsers wrapped by ours, then
 * the receiver's demux, jitter buffer and decoder). Inputs are valid Opus / telephone-event / RTCP
 * packets mutated at byte level, random bytes, and well-formed headers with hostile field values.
 * Nothing may throw; every input is either received or counted as malformed.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { Encoder } from '@evan/opus';
import {
  RtcpRrPacket,
  RtcpSenderInfo,
  RtcpSrPacket,
  RtcpTransportLayerFeedback,
  GenericNack,
} from 'werift';

import { RtpReceiver } from '../../src/media/rtp-receiver.js';
import {
  isRtcpPacket,
  parseRtcpPackets,
  parseRtpPacket,
  serialiseRtpPacket,
} from '../../src/media/rtp-packet.js';
import { encodeDtmfDigit } from '../../src/media/rtp-dtmf.js';
import { ToneGenerator } from '../../src/media/tone.js';
import { FUZZ_SEED, mutateBytes, Prng, reproduce } from './fuzz-kit.js';

const INPUTS = 20_000;

function seedPackets(): Uint8Array[] {
  const encoder = new Encoder({ channels: 1, sample_rate: 16000, application: 'voip' });
  const tone = new ToneGenerator(1000, 16000, 0.3);
  const out: Uint8Array[] = [];
  for (let i = 0; i < 20; i++) {
    out.push(
      serialiseRtpPacket({
        header: {
          payloadType: 111,
          sequenceNumber: i,
          timestamp: i * 960,
          ssrc: 9,
          marker: i === 0,
        },
        payload: encoder.encode(tone.next(320)),
      }),
    );
  }
  for (const p of encodeDtmfDigit('#')) {
    out.push(
      serialiseRtpPacket({
        header: {
          payloadType: 126,
          sequenceNumber: 50,
          timestamp: 5000,
          ssrc: 9,
          marker: p.marker,
        },
        payload: p.payload,
      }),
    );
  }
  out.push(
    new RtcpSrPacket({
      ssrc: 9,
      senderInfo: new RtcpSenderInfo({
        ntpTimestamp: 5n,
        rtpTimestamp: 6,
        packetCount: 7,
        octetCount: 8,
      }),
    }).serialize(),
    new RtcpRrPacket({ ssrc: 9, reports: [] }).serialize(),
    new RtcpTransportLayerFeedback({
      feedback: new GenericNack({ senderSsrc: 1, mediaSourceSsrc: 9, lost: [1, 2, 3] }),
    }).serialize(),
  );
  return out;
}

test(`RTP/RTCP: ${INPUTS} mutated and random packets through the receive stage, no crash (seed ${FUZZ_SEED})`, () => {
  const random = new Prng(FUZZ_SEED);
  const seeds = seedPackets();
  const receiver = new RtpReceiver({ sampleRate: 16000 });
  let rtpInputs = 0;
  let rtcpInputs = 0;
  let parsedRtp = 0;
  let parsedRtcp = 0;
  for (let i = 0; i < INPUTS; i++) {
    const where = reproduce('rtp-rtcp', i);
    const bytes = random.chance(0.1)
      ? random.bytes(random.int(0, 200))
      : mutateBytes(random, random.pick(seeds));
    try {
      if (isRtcpPacket(bytes)) {
        rtcpInputs++;
        if (parseRtcpPackets(bytes) !== undefined) parsedRtcp++;
        receiver.receiveRtcpBytes(bytes);
      } else {
        rtpInputs++;
        if (parseRtpPacket(bytes) !== undefined) parsedRtp++;
        receiver.receiveBytes(bytes);
      }
      if (i % 2 === 0) receiver.playout();
    } catch (err) {
      assert.fail(`${where}: threw ${String(err)}`);
    }
  }
  // Well-formed headers with hostile values go straight into receive().
  for (let i = 0; i < 2000; i++) {
    const pick = <T>(items: T[]) => random.pick(items);
    receiver.receive({
      header: {
        payloadType: pick([111, 126, 0, -1, 128, 1.5, Number.NaN]),
        sequenceNumber: pick([0, 65535, 65536, -1, random.int(0, 65535), Number.POSITIVE_INFINITY]),
        timestamp: pick([0, 2 ** 32 - 1, 2 ** 32, -5, random.int(0, 2 ** 31)]),
        ssrc: pick([1, 2, 2 ** 32 - 1, random.int(0, 2 ** 31)]),
        marker: random.chance(0.5),
      },
      payload: random.bytes(pick([0, 1, 3, 4, 40, 1600])),
    });
    receiver.playout();
  }
  const stats = receiver.stats();
  assert.ok(
    parsedRtp > 1000 && rtpInputs - parsedRtp > 1000,
    `${parsedRtp}/${rtpInputs} RTP parsed`,
  );
  assert.ok(parsedRtcp > 100, `${parsedRtcp}/${rtcpInputs} RTCP parsed`);
  // Every input was either received or counted as malformed; none vanished.
  assert.equal(
    stats.packetsReceived + stats.malformedPackets,
    rtpInputs + 2000 + (rtcpInputs - parsedRtcp),
  );
  assert.ok(stats.framesDecoded > 0, 'valid packets among the mutations still played');
});
