/**
 * The receive stage fed in-memory packets (no sockets): reordering, loss, duplicates, DTMF on the
 * shared sequence space, SSRC changes, malformed input, and PCM turned off.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { Encoder } from '@evan/opus';

import {
  RtpReceiver,
  type ReceivedDtmf,
  type ReceivedOpusPacket,
} from '../../../src/media/rtp-receiver.js';
import { encodeDtmfDigit } from '../../../src/media/rtp-dtmf.js';
import { analyseTone, concatPcm, ToneGenerator } from '../../../src/media/tone.js';
import type { RtpPacketView } from '../../../src/media/rtp-packet.js';

/** 20 ms Opus packets of a 1 kHz tone at 16 kHz, as Meta sends. */
function tonePackets(count: number): Uint8Array[] {
  const encoder = new Encoder({ channels: 1, sample_rate: 16000, application: 'voip' });
  const tone = new ToneGenerator(1000, 16000, 0.3);
  return Array.from({ length: count }, () => encoder.encode(tone.next(320)));
}

function opus(seq: number, payload: Uint8Array, ssrc = 1): RtpPacketView {
  return {
    header: {
      payloadType: 111,
      sequenceNumber: seq & 0xffff,
      timestamp: (seq * 960) >>> 0,
      ssrc,
      marker: false,
    },
    payload,
  };
}

function receiverWith(): {
  receiver: RtpReceiver;
  opusSeen: ReceivedOpusPacket[];
  dtmf: ReceivedDtmf[];
} {
  const opusSeen: ReceivedOpusPacket[] = [];
  const dtmf: ReceivedDtmf[] = [];
  const receiver = new RtpReceiver({
    sampleRate: 16000,
    onOpus: (p) => opusSeen.push(p),
    onDtmf: (d) => dtmf.push(d),
  });
  return { receiver, opusSeen, dtmf };
}

test('reordered, lost and duplicated packets: played in order, losses concealed, duplicates dropped', () => {
  const { receiver } = receiverWith();
  const packets = tonePackets(100);
  const frames: Int16Array[] = [];
  // Arrival order: pairs swapped, every 10th lost, every 7th duplicated; one frame played per pair.
  for (let i = 0; i < 100; i += 2) {
    for (const j of [i + 1, i]) {
      if (j % 10 === 5) continue;
      receiver.receive(opus(65500 + j, packets[j]!)); // wraps the 16-bit sequence
      if (j % 7 === 0) receiver.receive(opus(65500 + j, packets[j]!));
    }
    for (let k = 0; k < 2; k++) {
      const frame = receiver.playout();
      if (frame) frames.push(frame);
    }
  }
  const stats = receiver.stats();
  assert.equal(stats.packetsLost, 10, 'the 10 missing packets were played as lost');
  assert.ok(stats.duplicateDrops >= 10, `${stats.duplicateDrops} duplicates dropped`);
  assert.equal(stats.sequenceGaps, 10, 'RFC 3550 loss: expected − received');
  assert.ok(stats.framesConcealed >= 10);
  assert.ok(frames.every((f) => f.length === 320));
  const tone = analyseTone(concatPcm(frames.slice(5)), 16000, 1000);
  assert.ok(Math.abs(tone.frequencyHz - 1000) < 30, `${tone.frequencyHz} Hz`);
  assert.ok(tone.toneShare > 0.7, `tone share ${tone.toneShare}`);
});

test('Opus packets are handed out as they arrive, unchanged, in arrival order', () => {
  const { receiver, opusSeen } = receiverWith();
  const packets = tonePackets(4);
  const order = [2, 0, 3, 1];
  for (const i of order) receiver.receive(opus(100 + i, packets[i]!, 77));
  assert.deepEqual(
    opusSeen.map((p) => p.sequenceNumber),
    order.map((i) => 100 + i),
  );
  assert.ok(
    opusSeen.every((p, k) => p.payload === packets[order[k]!]),
    'the same bytes, not copies',
  );
  assert.deepEqual(
    opusSeen.map((p) => [p.ssrc, p.timestamp]),
    order.map((i) => [77, (100 + i) * 960]),
  );
});

test('RFC 4733 events are reported once per key press and never played or forwarded as audio', () => {
  const { receiver, opusSeen, dtmf } = receiverWith();
  const packets = tonePackets(40);
  const frames: (Int16Array | undefined)[] = [];
  let seq = 0;
  for (let i = 0; i < 40; i++) {
    receiver.receive(opus(seq++, packets[i]!));
    if (i === 10) {
      // A phone's event: updates and end packets on one timestamp, sharing the sequence.
      for (const p of encodeDtmfDigit('7')) {
        receiver.receive({
          header: {
            payloadType: 126,
            sequenceNumber: seq++,
            timestamp: 5000,
            ssrc: 1,
            marker: p.marker,
          },
          payload: p.payload,
        });
      }
    }
    frames.push(receiver.playout());
  }
  for (let i = 0; i < 2; i++) frames.push(receiver.playout());
  assert.deepEqual(
    dtmf.map((d) => d.digit),
    ['7'],
  );
  assert.equal(opusSeen.length, 40, 'no DTMF packet among the Opus packets');
  const stats = receiver.stats();
  assert.equal(stats.packetsLost, 0, 'DTMF sequence numbers are not losses');
  assert.equal(stats.dtmfReceived, 1);
  assert.equal(stats.framesDecoded, 40, 'every Opus packet played, none replaced by DTMF');
});

test('with PCM off nothing is decoded; turned on again, playout re-buffers from the next packet', () => {
  const { receiver, opusSeen } = receiverWith();
  receiver.pcm = false;
  const packets = tonePackets(20);
  for (let i = 0; i < 10; i++) {
    receiver.receive(opus(i, packets[i]!));
    assert.equal(receiver.playout(), undefined);
  }
  assert.equal(opusSeen.length, 10);
  assert.equal(receiver.stats().framesDecoded, 0);
  assert.equal(receiver.stats().jitterBufferMs, 0);
  receiver.pcm = true;
  for (let i = 10; i < 20; i++) {
    receiver.receive(opus(i, packets[i]!));
    receiver.playout();
  }
  assert.ok(receiver.stats().framesDecoded >= 7);
});

test('an SSRC change restarts the stream; malformed and unknown packets are counted, never thrown', () => {
  const { receiver } = receiverWith();
  const packets = tonePackets(10);
  for (let i = 0; i < 5; i++) receiver.receive(opus(i, packets[i]!, 1));
  for (let i = 5; i < 10; i++) receiver.receive(opus(30_000 + i, packets[i]!, 2));
  assert.equal(receiver.stats().ssrcChanges, 1);
  assert.equal(receiver.stats().sequenceGaps, 0, 'a new stream is not a gap');

  receiver.receive({
    header: { payloadType: 0, sequenceNumber: 1, timestamp: 1, ssrc: 2, marker: false },
    payload: Uint8Array.of(1),
  });
  receiver.receive(opus(11, new Uint8Array(0), 2));
  receiver.receive({
    header: { payloadType: 300, sequenceNumber: -1, timestamp: 1.5, ssrc: 2, marker: false },
    payload: Uint8Array.of(1),
  });
  receiver.receiveBytes(Uint8Array.of(0x80, 111, 0));
  receiver.receiveRtcpBytes(Uint8Array.of(1, 2, 3, 4, 5));
  const stats = receiver.stats();
  assert.equal(stats.unknownPayloadPackets, 1);
  assert.equal(stats.malformedPackets, 4);
});

test('interarrival jitter: zero on a steady stream, a few ms when arrivals wobble', () => {
  let now = 0;
  const make = () => new RtpReceiver({ sampleRate: 16000, pcm: false, now: () => now });
  const steady = make();
  const packets = tonePackets(50);
  for (let i = 0; i < 50; i++) {
    now = i * 20;
    steady.receive(opus(i, packets[i]!));
  }
  assert.equal(steady.stats().jitterMs, 0);
  const wobbly = make();
  for (let i = 0; i < 50; i++) {
    now = i * 20 + (i % 2 === 0 ? 0 : 8);
    wobbly.receive(opus(i, packets[i]!));
  }
  assert.ok(
    wobbly.stats().jitterMs > 3 && wobbly.stats().jitterMs < 10,
    `${wobbly.stats().jitterMs} ms`,
  );
});
