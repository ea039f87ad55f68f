/**
 * The in-process user's phone against an in-memory link (what a picked-up call lends it): it
 * stays silent until user media may flow, then sends 20 ms Opus frames on one sequence and
 * timestamp line, puts keys on the telephone-event payload type of that same line, and records
 * the Opus it hears.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { OpusFrameEncoder } from '../../../src/media/opus-codec.js';
import { parseTelephoneEventPayload } from '../../../src/media/rtp-dtmf.js';
import { ToneGenerator } from '../../../src/media/tone.js';
import { SimulatedPhone } from '../../../src/simulator/simulated-phone.js';
import type { UserPhoneLink, UserRtpPacket } from '../../../src/simulator/user-phone.js';
import { ToneVoice } from '../../../src/simulator/user-voice.js';

/** A link that records what the phone sends; `open` plays the business's first packet. */
function memoryLink(): UserPhoneLink & { sent: UserRtpPacket[]; open: boolean } {
  const sent: UserRtpPacket[] = [];
  const link = {
    opusPayloadType: 109,
    telephoneEventPayloadType: 101,
    open: false,
    sent,
    get mayTransmit() {
      return link.open;
    },
    send(packet: UserRtpPacket) {
      if (link.open) sent.push(packet);
    },
  };
  return link;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('nothing is sent before user media may flow, then Opus frames on one increasing line', async () => {
  const phone = new SimulatedPhone(Date.now());
  phone.speak(new ToneVoice(440));
  const link = memoryLink();
  phone.start(link);
  try {
    await sleep(120);
    assert.equal(link.sent.length, 0);
    link.open = true;
    await sleep(200);
    assert.ok(link.sent.length >= 3, `${link.sent.length} frames`);
    for (const [i, p] of link.sent.entries()) {
      assert.equal(p.payloadType, 109);
      if (i === 0) continue;
      const prev = link.sent[i - 1]!;
      assert.equal(p.sequenceNumber, (prev.sequenceNumber + 1) & 0xffff);
      assert.equal(p.timestamp, (prev.timestamp + 960) >>> 0);
    }
  } finally {
    await phone.close();
  }
});

test('keys go out as RFC 4733 on the link’s telephone-event type, sharing the audio line', async () => {
  const phone = new SimulatedPhone(Date.now());
  const link = memoryLink();
  link.open = true;
  phone.start(link);
  try {
    await assert.rejects(phone.pressDigits('5x'), /digits must be/);
    await phone.pressDigits('5', { durationMs: 60, gapMs: 20 });
    const events = link.sent.filter((p) => p.payloadType === 101);
    assert.ok(events.length >= 4, `${events.length} event packets`);
    assert.equal(events[0]?.marker, true);
    assert.ok(events.every((p) => parseTelephoneEventPayload(p.payload)?.event === 5));
    assert.equal(events.filter((p) => parseTelephoneEventPayload(p.payload)?.end).length, 3);
    // One event keeps one timestamp; sequence numbers run on through audio and events.
    assert.equal(new Set(events.map((p) => p.timestamp)).size, 1);
    const seqs = link.sent.map((p) => p.sequenceNumber);
    assert.deepEqual(
      seqs.slice(1).map((s, i) => (s - seqs[i]! + 0x10000) & 0xffff),
      seqs.slice(1).map(() => 1),
    );
  } finally {
    await phone.close();
  }
});

test('heard Opus is recorded, telephone-event is not, and a closed phone hears nothing', async () => {
  const phone = new SimulatedPhone(Date.now());
  const encoder = new OpusFrameEncoder({ sampleRate: 48000 });
  const tone = new ToneGenerator(1000, 48000, 0.3);
  const packet = (codec: 'opus' | 'telephone-event') => ({
    codec,
    payloadType: codec === 'opus' ? 109 : 101,
    sequenceNumber: 1,
    timestamp: 0,
    marker: false,
    payload: Buffer.from(encoder.encode(tone.next(960))),
  });
  for (let i = 0; i < 25; i++) phone.hear(packet('opus'));
  phone.hear(packet('telephone-event'));
  const stats = phone.heardStats({ expectHz: 1000, lastMs: 300 });
  assert.equal(phone.recording().chunks.length, 25);
  assert.ok(stats.levelDbfs > -25, `${stats.levelDbfs} dBFS`);
  assert.ok(Math.abs((stats.frequencyHz ?? 0) - 1000) < 30, `${stats.frequencyHz} Hz`);
  await phone.close();
  phone.hear(packet('opus'));
  assert.equal(phone.recording().chunks.length, 25);
});
