/**
 * The caller → room writer against an in-memory track: Meta's payloads go out unchanged, the
 * outgoing sequence and timestamps stay continuous across Meta SSRC changes and PCM ↔ Opus
 * switches, a loss stays a gap, a reordered packet keeps its place, duplicates are dropped.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { OutgoingOpusPacket } from '../../../src/livekit/index.js';
import { CallerTrackWriter, type CallerOpusPacket } from '../../../src/room/caller-track-writer.js';

function harness() {
  const out: OutgoingOpusPacket[] = [];
  const writer = new CallerTrackWriter(
    {
      writeRtp: (p) => {
        out.push(p);
        return true;
      },
    },
    { sampleRate: 16000 },
  );
  return { writer, out };
}

function meta(ssrc: number, seq: number, ts: number, byte = seq & 0xff): CallerOpusPacket {
  return {
    payload: Uint8Array.of(0x78, byte, 0x01),
    sequenceNumber: seq,
    timestamp: ts,
    ssrc,
    marker: false,
  };
}

const seqOf = (p: OutgoingOpusPacket) => p.sequenceNumber!;
const step = (a: number, b: number) => (b - a) & 0xffff;

test("Meta's payloads go out unchanged, numbered continuously across an SSRC change", () => {
  const { writer, out } = harness();
  for (let i = 0; i < 5; i++) writer.writeOpus(meta(10, 65533 + i, 1000 + i * 960));
  for (let i = 0; i < 5; i++) writer.writeOpus(meta(20, 7 + i, 999_000 + i * 960));
  assert.equal(out.length, 10);
  for (let i = 0; i < 5; i++) assert.deepEqual([...out[i]!.payload], [0x78, (65533 + i) & 0xff, 1]);
  for (let i = 1; i < 10; i++) {
    assert.equal(step(seqOf(out[i - 1]!), seqOf(out[i]!)), 1, `sequence at ${i}`);
    assert.ok((out[i]!.timestamp - out[i - 1]!.timestamp) >>> 0 >= 960, `timestamp at ${i}`);
  }
  assert.equal(out[5]!.marker, true, 'the new stream starts a talkspurt');
  assert.equal(writer.stats.switches, 1);
});

test('a loss stays a gap, a reordered packet keeps its place, a duplicate is dropped', () => {
  const { writer, out } = harness();
  writer.writeOpus(meta(1, 100, 0));
  writer.writeOpus(meta(1, 102, 1920)); // 101 late
  writer.writeOpus(meta(1, 101, 960)); // arrives after 102
  writer.writeOpus(meta(1, 101, 960)); // duplicate
  writer.writeOpus(meta(1, 105, 4800)); // 103, 104 lost
  assert.deepEqual(
    out.map((p) => step(seqOf(out[0]!), seqOf(p))),
    [0, 2, 1, 5],
  );
  assert.deepEqual(
    out.map((p) => (p.timestamp - out[0]!.timestamp) >>> 0),
    [0, 1920, 960, 4800],
  );
  assert.equal(writer.stats.dropped, 1);
  assert.equal(writer.stats.forwarded, 4);
});

test('encoded PCM (ringback) and then Meta forwarded: one continuous stream', () => {
  const { writer, out } = harness();
  for (let i = 0; i < 3; i++) writer.writePcm(new Int16Array(320));
  writer.writeOpus(meta(5, 40_000, 123_456));
  writer.writeOpus(meta(5, 40_001, 123_456 + 960));
  assert.equal(writer.stats.encoded, 3);
  assert.equal(out.length, 5);
  for (let i = 1; i < 5; i++) assert.equal(step(seqOf(out[i - 1]!), seqOf(out[i]!)), 1);
  assert.deepEqual([...out[3]!.payload], [0x78, 40_000 & 0xff, 1]);
});
