/**
 * The send stage under a fake clock with an in-memory sink: cadence, drift trimming, DTMF floods,
 * forwarded Opus (immediate, keep-alives, gaps), source switches without timestamp jumps, and
 * the re-encoding policy.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { Decoder, Encoder } from '@evan/opus';

import { FrameClock } from '../../../src/media/frame-clock.js';
import { OPUS_SILENCE_FRAME, readOpusPacketInfo } from '../../../src/media/opus-packet.js';
import { parseTelephoneEventPayload } from '../../../src/media/rtp-dtmf.js';
import {
  RtpSender,
  type OutgoingRtpPacket,
  type RtpSenderOptions,
} from '../../../src/media/rtp-sender.js';
import { analyseTone, concatPcm, ToneGenerator } from '../../../src/media/tone.js';
import { ManualTimers } from './manual-timers.js';

interface Sent extends OutgoingRtpPacket {
  at: number;
}

function harness(options: Partial<RtpSenderOptions> = {}) {
  const timers = new ManualTimers();
  const sent: Sent[] = [];
  const sender = new RtpSender({
    sampleRate: 16000,
    sink: { sendRtp: (p) => sent.push({ ...p, at: timers.now() }) },
    initialSequenceNumber: 65530,
    initialTimestamp: 4294967295 - 960 * 3,
    ssrc: 1234,
    ...options,
  });
  const clock = new FrameClock({ onTick: () => sender.tick(), timers });
  clock.start();
  return { timers, sent, sender, clock };
}

const seqStep = (a: number, b: number) => (b - a + 0x10000) & 0xffff;
const tsStep = (a: number, b: number) => (b - a + 2 ** 32) % 2 ** 32;

/** 20 ms Opus packets of a tone the way an agent sends them: 48 kHz, `bitrate`. */
function agentPackets(count: number, bitrate: number, frameMs: 20 | 40 = 20): Uint8Array[] {
  const encoder = new Encoder({ channels: 1, sample_rate: 48000, application: 'audio' });
  encoder.bitrate = bitrate;
  encoder.expert_frame_duration = frameMs;
  const tone = new ToneGenerator(440, 48000, 0.3);
  return Array.from({ length: count }, () => encoder.encode(tone.next(48 * frameMs)));
}

function decodeAt16k(packets: Uint8Array[]): Int16Array {
  const decoder = new Decoder({ channels: 1, sample_rate: 16000 });
  return concatPcm(
    packets.map((p) => {
      const bytes = decoder.decode(p);
      return new Int16Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 2);
    }),
  );
}

test('PCM: one packet per 20 ms slot, sequence +1 and timestamp +960 across both wraps, one SSRC', () => {
  const { timers, sent, sender } = harness();
  const tone = new ToneGenerator(1000, 16000, 0.3);
  // The producer hands a frame 5 ms before each of the first 30 ticks, then stops.
  for (let i = 0; i < 30; i++) {
    timers.advance(15);
    sender.sendPcm(tone.next(320));
    timers.advance(5);
  }
  timers.advance(400);
  assert.equal(sent.length, 50);
  for (let i = 1; i < sent.length; i++) {
    assert.equal(seqStep(sent[i - 1]!.sequenceNumber, sent[i]!.sequenceNumber), 1);
    assert.equal(tsStep(sent[i - 1]!.timestamp, sent[i]!.timestamp), 960);
    // The first frame waits for the clock's first tick; the others go out when handed over
    // (their slot is open), 5 ms before the tick; the silence after them on the ticks.
    const expected = i === 1 ? 15 : i === 30 ? 25 : 20;
    assert.equal(sent[i]!.at - sent[i - 1]!.at, expected, `packet ${i}`);
  }
  assert.equal(sent[0]!.at, 20);
  assert.equal(sent[1]!.at, 35, 'a frame does not wait for the next tick');
  assert.ok(sent.every((p) => p.ssrc === 1234 && p.payloadType === 111));
  assert.equal(sent[0]!.marker, true);
  assert.equal(sent.filter((p) => p.marker).length, 1);
  const stats = sender.stats();
  assert.equal(stats.silenceFramesSent, 20, 'the 30 frames, then encoded silence');
  const heard = analyseTone(decodeAt16k(sent.slice(5, 30).map((p) => p.payload)), 16000, 1000);
  assert.ok(heard.toneShare > 0.8, `tone share ${heard.toneShare}`);
});

test('PCM: a producer running 2 % fast never builds up delay (standing frames are trimmed)', () => {
  const { timers, sender } = harness();
  const tone = new ToneGenerator(1000, 16000, 0.3);
  let depthMax = 0;
  // 51 frames per 50 slots, in bursts of 3 every 60 ms (a jittery mixer).
  for (let t = 0; t < 20_000; t += 60) {
    for (let k = 0; k < 3; k++) sender.sendPcm(tone.next(320));
    if (t % 3000 === 0) sender.sendPcm(tone.next(320));
    timers.advance(60);
    depthMax = Math.max(depthMax, sender.queuedFrames);
  }
  const stats = sender.stats();
  assert.ok(stats.sendQueueTrims > 0, 'trimmed');
  assert.equal(stats.sendQueueDrops, 0, 'never overflowed');
  assert.ok(depthMax <= 5, `queue reached ${depthMax} frames`);
});

test('a DTMF flood neither grows memory nor mutes the caller for long', () => {
  const { timers, sent, sender } = harness();
  let accepted = 0;
  for (let i = 0; i < 10_000; i++) accepted += sender.sendDtmf('5');
  assert.equal(accepted, 16);
  assert.equal(sender.stats().dtmfDropped, 10_000 - 16);
  timers.advance(4000);
  const dtmfIndexes = sent.flatMap((p, i) => (p.payloadType === 126 ? [i] : []));
  const last = dtmfIndexes.at(-1)!;
  assert.ok(last < 16 * 9 + 1, `the flood ended after ${last} slots`);
  assert.ok(
    sent.slice(last + 1).every((p) => p.payloadType === 111),
    'audio only afterwards',
  );
  assert.equal(sender.stats().dtmfSent, 16);
  // Every event shares the stream: continuous sequence numbers, one timestamp per event.
  for (let i = 1; i < sent.length; i++) {
    assert.equal(seqStep(sent[i - 1]!.sequenceNumber, sent[i]!.sequenceNumber), 1);
  }
  const events = new Set(sent.filter((p) => p.payloadType === 126).map((p) => p.timestamp));
  assert.equal(events.size, 16);
  assert.ok(
    sent
      .filter((p) => p.payloadType === 126)
      .every((p) => parseTelephoneEventPayload(p.payload)?.event === 5),
  );
});

test('forwarded Opus goes out unchanged the moment it arrives, with the stream own sequence and timestamp', () => {
  const { timers, sent, sender } = harness();
  sender.selectSource('opus');
  const packets = agentPackets(50, 16_000);
  timers.advance(40);
  const before = sent.length;
  // The agent's packets arrive 7 ms after each of our ticks.
  for (let i = 0; i < 50; i++) {
    timers.advance(7);
    sender.sendOpus({ payload: packets[i]!, sequenceNumber: 1000 + i });
    const last = sent.at(-1)!;
    assert.equal(last.payload, packets[i], 'sent at once, the same bytes');
    assert.equal(last.at, timers.now());
    timers.advance(13);
  }
  const forwarded = sent.slice(before);
  assert.equal(forwarded.length, 50, 'no keep-alive while the agent speaks');
  for (let i = 1; i < forwarded.length; i++) {
    assert.equal(tsStep(forwarded[i - 1]!.timestamp, forwarded[i]!.timestamp), 960);
    assert.equal(seqStep(forwarded[i - 1]!.sequenceNumber, forwarded[i]!.sequenceNumber), 1);
  }
  assert.equal(sender.stats().forwardedPackets, 50);
  assert.equal(sender.stats().reencodedPackets, 0);
});

test('forwarding: silence (DTX) gets keep-alives on a steady cadence, loss stays a gap, stale packets are dropped', () => {
  const { timers, sent, sender } = harness();
  sender.selectSource('opus');
  const packets = agentPackets(20, 16_000);
  timers.advance(20);
  sender.sendOpus({ payload: packets[0]!, sequenceNumber: 1 });
  timers.advance(1000); // the agent is silent for a second
  const quiet = sent.filter((p) => p.payload === OPUS_SILENCE_FRAME);
  assert.ok(quiet.length >= 47 && quiet.length <= 50, `${quiet.length} keep-alives in 1 s`);
  const start = sent.length;
  sender.sendOpus({ payload: packets[1]!, sequenceNumber: 2 });
  timers.advance(20);
  sender.sendOpus({ payload: packets[3]!, sequenceNumber: 4 }); // 3 was lost
  sender.sendOpus({ payload: packets[2]!, sequenceNumber: 3 }); // ... and arrives late: dropped
  sender.sendOpus({ payload: packets[3]!, sequenceNumber: 4 }); // duplicate: dropped
  timers.advance(100);
  const after = sent.slice(start);
  assert.equal(after[0]!.payload, packets[1]);
  assert.equal(after[1]!.payload, packets[3]);
  assert.equal(
    seqStep(after[0]!.sequenceNumber, after[1]!.sequenceNumber),
    2,
    'a gap for the lost one',
  );
  assert.equal(tsStep(after[0]!.timestamp, after[1]!.timestamp), 1920);
  assert.equal(sender.stats().forwardGaps, 1);
  assert.equal(sender.stats().forwardDrops, 2);
  // Slots only ever advance by one frame.
  for (let i = 1; i < sent.length; i++) {
    const step = tsStep(sent[i - 1]!.timestamp, sent[i]!.timestamp);
    assert.ok(step === 960 || step === 1920, `step ${step}`);
  }
});

test('switching between mixing (PCM) and forwarding never jumps the timestamp', () => {
  const { timers, sent, sender } = harness();
  const tone = new ToneGenerator(1000, 16000, 0.3);
  const packets = agentPackets(100, 16_000);
  let n = 0;
  for (let round = 0; round < 4; round++) {
    sender.selectSource(round % 2 === 0 ? 'pcm' : 'opus');
    for (let i = 0; i < 25; i++) {
      timers.advance(9);
      if (sender.source === 'pcm') sender.sendPcm(tone.next(320));
      else sender.sendOpus({ payload: packets[n]!, sequenceNumber: n++ });
      timers.advance(11);
    }
  }
  timers.advance(100);
  for (let i = 1; i < sent.length; i++) {
    assert.equal(tsStep(sent[i - 1]!.timestamp, sent[i]!.timestamp), 960, `packet ${i}`);
    assert.equal(seqStep(sent[i - 1]!.sequenceNumber, sent[i]!.sequenceNumber), 1);
  }
  const total = sent.length;
  assert.ok(total >= 104 && total <= 106, `${total} packets in ${timers.now()} ms`);
});

test('auto: a 48 kbit/s agent is forwarded as is for good; 128 kbit/s is re-encoded within Meta limits after one full window', () => {
  const agent = harness();
  agent.sender.selectSource('opus');
  const normal = agentPackets(600, 48_000);
  for (let i = 0; i < 600; i++) {
    agent.timers.advance(20);
    agent.sender.sendOpus({ payload: normal[i]!, sequenceNumber: i });
  }
  assert.equal(agent.sender.stats().reencodedPackets, 0);
  assert.equal(agent.sender.stats().reencodeSwitches, 0, 'no flapping');

  const loud = harness();
  loud.sender.selectSource('opus');
  const big = agentPackets(500, 128_000);
  for (let i = 0; i < 500; i++) {
    loud.timers.advance(20);
    loud.sender.sendOpus({ payload: big[i]!, sequenceNumber: i });
  }
  const stats = loud.sender.stats();
  assert.equal(stats.reencodeSwitches, 1);
  // Judged only over a full 5 s window (250 packets): forwarded until then, re-encoded after.
  assert.ok(
    stats.forwardedPackets >= 245 && stats.forwardedPackets <= 250,
    `${stats.forwardedPackets}`,
  );
  assert.ok(stats.reencodedPackets >= 240, `${stats.reencodedPackets} re-encoded`);
  const out = loud.sent.slice(-100);
  const bitrate = (out.reduce((a, p) => a + p.payload.length, 0) * 8) / 2;
  assert.ok(bitrate <= 22_000, `re-encoded at ${bitrate} bit/s`);
  assert.ok(out.every((p) => readOpusPacketInfo(p.payload)?.bandwidth !== 'fullband'));
  const heard = analyseTone(decodeAt16k(out.map((p) => p.payload)), 16000, 440);
  assert.ok(Math.abs(heard.frequencyHz - 440) < 15, `${heard.frequencyHz} Hz`);
  assert.ok(heard.toneShare > 0.8, `tone share ${heard.toneShare}`);
});

test('40 ms agent packets do not fit ptime 20: each is re-encoded into two 20 ms packets', () => {
  const { timers, sent, sender } = harness({ forwardedOpus: 'auto' });
  sender.selectSource('opus');
  const packets = agentPackets(25, 16_000, 40);
  timers.advance(20);
  const before = sent.length;
  for (let i = 0; i < 25; i++) {
    sender.sendOpus({ payload: packets[i]!, sequenceNumber: i });
    timers.advance(40);
  }
  const out = sent.slice(before);
  assert.ok(out.length >= 49, `${out.length} packets for 1 s`);
  assert.ok(out.every((p) => readOpusPacketInfo(p.payload)?.durationMs === 20));
  assert.equal(sender.stats().keepAliveFrames, 0, 'the second half filled the next slot');
});

test('passthrough never decodes; reencode always does', () => {
  const packets = agentPackets(60, 32_000);
  for (const policy of ['passthrough', 'reencode'] as const) {
    const { timers, sender } = harness({ forwardedOpus: policy });
    sender.selectSource('opus');
    for (let i = 0; i < 60; i++) {
      timers.advance(20);
      sender.sendOpus({ payload: packets[i]!, sequenceNumber: i });
    }
    const stats = sender.stats();
    if (policy === 'passthrough') assert.equal(stats.reencodedPackets, 0);
    else assert.equal(stats.forwardedPackets, 0);
  }
});
