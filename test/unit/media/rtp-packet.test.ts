import assert from 'node:assert/strict';
import { test } from 'node:test';

import { RtcpRrPacket, RtcpSrPacket, RtcpSenderInfo, RtpHeader, RtpPacket } from 'werift';

import {
  isRtcpPacket,
  parseRtcpPackets,
  parseRtpPacket,
  serialiseRtpPacket,
} from '../../../src/media/rtp-packet.js';

const header = {
  payloadType: 111,
  sequenceNumber: 65535,
  timestamp: 4294967295,
  ssrc: 42,
  marker: true,
};

test('a packet round-trips through serialise and parse', () => {
  const payload = Uint8Array.of(0xf8, 0xff, 0xfe);
  const parsed = parseRtpPacket(serialiseRtpPacket({ header, payload }));
  assert.ok(parsed);
  assert.deepEqual(
    {
      payloadType: parsed.header.payloadType,
      sequenceNumber: parsed.header.sequenceNumber,
      timestamp: parsed.header.timestamp,
      ssrc: parsed.header.ssrc,
      marker: parsed.header.marker,
    },
    header,
  );
  assert.deepEqual([...parsed.payload], [...payload]);
});

test('CSRCs, a header extension and padding are skipped to find the payload', () => {
  const bytes = Buffer.from([
    0b1011_0010, // V=2, P=1, X=1, CC=2
    111,
    0,
    1,
    0,
    0,
    0,
    2,
    0,
    0,
    0,
    3,
    0xaa,
    0xaa,
    0xaa,
    0xaa, // CSRC 1
    0xbb,
    0xbb,
    0xbb,
    0xbb, // CSRC 2
    0xbe,
    0xde,
    0,
    1, // one-byte extension profile, 1 word
    0x10,
    0x55,
    0,
    0,
    1,
    2,
    3, // payload
    0,
    0,
    3, // padding (3 bytes)
  ]);
  const parsed = parseRtpPacket(bytes);
  assert.ok(parsed);
  assert.deepEqual([...parsed.payload], [1, 2, 3]);
  assert.equal(parsed.header.sequenceNumber, 1);
  assert.equal(parsed.header.ssrc, 3);
});

test('truncated, inconsistent or oversized packets are refused, never thrown', () => {
  const valid = serialiseRtpPacket({ header, payload: Uint8Array.of(1, 2, 3) });
  const cases: [string, Uint8Array][] = [
    ['empty', new Uint8Array(0)],
    ['short header', valid.subarray(0, 11)],
    ['version 1', Buffer.from([0x40, ...valid.subarray(1)])],
    ['CSRC count beyond the end', Buffer.from([0x8f, ...valid.subarray(1)])],
    [
      'extension beyond the end',
      Buffer.from([0x90, ...valid.subarray(1, 12), 0xbe, 0xde, 0xff, 0xff]),
    ],
    ['padding longer than the packet', Buffer.from([0xa0, ...valid.subarray(1, 12), 1, 200])],
    ['zero padding length', Buffer.from([0xa0, ...valid.subarray(1, 12), 1, 0])],
    ['oversized', new Uint8Array(1501).fill(0x80)],
  ];
  for (const [name, bytes] of cases) assert.equal(parseRtpPacket(bytes), undefined, name);
});

test('RTCP: demux by the second byte, compound packets parsed, truncated ones refused', () => {
  const sr = new RtcpSrPacket({
    ssrc: 7,
    senderInfo: new RtcpSenderInfo({
      ntpTimestamp: 1n,
      rtpTimestamp: 2,
      packetCount: 3,
      octetCount: 4,
    }),
  }).serialize();
  const rr = new RtcpRrPacket({ ssrc: 8, reports: [] }).serialize();
  const compound = Buffer.concat([sr, rr]);
  assert.equal(isRtcpPacket(compound), true);
  assert.equal(isRtcpPacket(serialiseRtpPacket({ header, payload: Uint8Array.of(1) })), false);
  assert.deepEqual(
    parseRtcpPackets(compound)?.map((p) => p.type),
    [200, 201],
  );
  assert.equal(parseRtcpPackets(compound.subarray(0, compound.length - 2)), undefined);
  assert.equal(parseRtcpPackets(Buffer.from([0x80, 200, 0xff, 0xff])), undefined);
  assert.equal(parseRtcpPackets(Buffer.from([0x80])), undefined);
  // A werift RTP packet is not mistaken for RTCP by the parser either.
  const rtp = new RtpPacket(new RtpHeader({ payloadType: 111 }), Buffer.alloc(10)).serialize();
  assert.equal(isRtcpPacket(rtp), false);
});
