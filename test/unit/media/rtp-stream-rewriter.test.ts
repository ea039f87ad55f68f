import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  RtpStreamRewriter,
  type RewriterInput,
  type RewrittenPacket,
} from '../../../src/media/rtp-stream-rewriter.js';

function packet(ssrc: number, seq: number, ts: number, marker = false): RewriterInput {
  return {
    ssrc,
    sequenceNumber: seq & 0xffff,
    timestamp: ts >>> 0,
    marker,
    payload: Uint8Array.of(seq & 255),
  };
}

function rewriter(now = () => 0): RtpStreamRewriter {
  return new RtpStreamRewriter({
    ssrc: 999,
    initialSequenceNumber: 100,
    initialTimestamp: 5000,
    now,
  });
}

test('one input stream maps onto one SSRC with the same spacing, across the 16-bit wrap', () => {
  const r = rewriter();
  const out: RewrittenPacket[] = [];
  for (let i = 0; i < 10; i++) out.push(r.rewrite(packet(1, 65530 + i, 1_000_000 + i * 960))!);
  assert.ok(out.every((p) => p.ssrc === 999));
  assert.deepEqual(
    out.map((p) => p.sequenceNumber),
    [100, 101, 102, 103, 104, 105, 106, 107, 108, 109],
  );
  assert.deepEqual(
    out.map((p) => p.timestamp - 5000),
    [0, 960, 1920, 2880, 3840, 4800, 5760, 6720, 7680, 8640],
  );
  assert.equal(out[0]!.marker, true, 'the first packet starts a talkspurt');
});

test('loss stays a gap; reordered packets keep their place; duplicates and stale packets are dropped', () => {
  const r = rewriter();
  const seqs = [0, 1, 3, 2, 2, 5, 4, 6];
  const out = seqs.map((s) => r.rewrite(packet(1, s, s * 960)));
  assert.deepEqual(
    out.map((p) => (p ? p.sequenceNumber - 100 : 'dropped')),
    [0, 1, 3, 2, 'dropped', 5, 4, 6],
  );
  assert.deepEqual(
    out.filter((p) => p !== undefined).map((p) => (p.timestamp - 5000) / 960),
    [0, 1, 3, 2, 5, 4, 6],
  );
  for (let s = 7; s < 200; s++) r.rewrite(packet(1, s, s * 960));
  assert.equal(r.rewrite(packet(1, 100, 100 * 960)), undefined, '99 behind: too late');
  const stats = r.stats();
  assert.equal(stats.duplicates, 1);
  assert.equal(stats.tooLate, 1);
  assert.equal(stats.gaps, 2, 'sequence 2 and 4 arrived after a later packet');
});

test('a new SSRC continues right after the last packet, the timestamp moved on by the time that passed', () => {
  let now = 0;
  const r = rewriter(() => now);
  for (let i = 0; i < 5; i++) {
    now = i * 20;
    r.rewrite(packet(1, 40_000 + i, 7_777_777 + i * 960));
  }
  now = 4 * 20 + 100; // the relay restarted its stream 100 ms after the last packet
  const first = r.rewrite(packet(2, 17, 123))!;
  const second = r.rewrite(packet(2, 18, 123 + 960))!;
  assert.equal(first.sequenceNumber, 105);
  assert.equal(first.timestamp - 5000, 4 * 960 + 5 * 960);
  assert.equal(first.marker, true);
  assert.equal(second.sequenceNumber, 106);
  assert.equal(second.timestamp - first.timestamp, 960);
  assert.equal(r.stats().switches, 1);
});

test('a sequence jump within one SSRC is a restart, not 20 s of loss', () => {
  const r = rewriter();
  r.rewrite(packet(1, 10, 0));
  const jumped = r.rewrite(packet(1, 30_000, 999_999))!;
  assert.equal(jumped.sequenceNumber, 101);
  assert.equal(jumped.timestamp - 5000, 960);
  assert.equal(r.stats().gaps, 0);
  assert.equal(r.stats().switches, 1);
});
