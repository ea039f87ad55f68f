import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { RtpJitterBuffer, type JitterPopResult } from '../../../src/media/rtp-jitter-buffer.js';

const SSRC = 1234;

function drain(jb: RtpJitterBuffer<number>, n: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(describePop(jb.pop()));
  return out;
}

function describePop(r: JitterPopResult<number>): string {
  switch (r.kind) {
    case 'packet':
      return `p${r.payload}`;
    case 'lost':
      return `lost${r.sequenceNumber}`;
    default:
      return r.kind;
  }
}

describe('RtpJitterBuffer', () => {
  it('buffers up to the target, then plays in sequence order despite reordering', () => {
    const jb = new RtpJitterBuffer<number>({ targetFrames: 3 });
    jb.push(10, SSRC, 10);
    assert.equal(jb.pop().kind, 'buffering');
    jb.push(12, SSRC, 12);
    jb.push(11, SSRC, 11);
    jb.push(13, SSRC, 13);
    assert.deepEqual(drain(jb, 5), ['p10', 'p11', 'p12', 'p13', 'underrun']);
  });

  it('drops duplicates and packets whose slot was already played', () => {
    const jb = new RtpJitterBuffer<number>({ targetFrames: 2 });
    jb.push(1, SSRC, 1);
    jb.push(2, SSRC, 2);
    assert.equal(jb.push(2, SSRC, 2), 'duplicate');
    assert.deepEqual(drain(jb, 1), ['p1']);
    assert.equal(jb.push(1, SSRC, 1), 'late');
    assert.deepEqual(drain(jb, 1), ['p2']);
    assert.equal(jb.counters.duplicates, 1);
    assert.equal(jb.counters.late, 1);
  });

  it('reports a missing packet as lost when a later one is present, and plays the rest', () => {
    const jb = new RtpJitterBuffer<number>({ targetFrames: 2 });
    jb.push(100, SSRC, 100);
    jb.push(102, SSRC, 102);
    jb.push(103, SSRC, 103);
    assert.deepEqual(drain(jb, 4), ['p100', 'lost101', 'p102', 'p103']);
    assert.equal(jb.counters.lost, 1);
    assert.equal(jb.push(101, SSRC, 101), 'late', 'the concealed packet arriving later is late');
  });

  it('handles the 16-bit sequence wrap', () => {
    const jb = new RtpJitterBuffer<number>({ targetFrames: 2 });
    for (const seq of [65534, 0, 65535, 1, 2]) jb.push(seq, SSRC, seq);
    assert.deepEqual(drain(jb, 5), ['p65534', 'p65535', 'p0', 'p1', 'p2']);
    assert.equal(jb.push(65535, SSRC, 65535), 'late');
  });

  it('waits on an underrun instead of skipping, so a merely delayed packet still plays', () => {
    const jb = new RtpJitterBuffer<number>({ targetFrames: 1 });
    jb.push(5, SSRC, 5);
    assert.deepEqual(drain(jb, 3), ['p5', 'underrun', 'underrun']);
    jb.push(6, SSRC, 6);
    assert.deepEqual(drain(jb, 1), ['p6']);
  });

  it('resets on an SSRC change and on a huge sequence jump', () => {
    const jb = new RtpJitterBuffer<number>({ targetFrames: 1 });
    jb.push(5, SSRC, 5);
    assert.equal(jb.push(900, SSRC + 1, 900), 'reset');
    assert.deepEqual(drain(jb, 1), ['p900']);
    assert.equal(jb.push(30000, SSRC + 1, 30000), 'reset');
    assert.deepEqual(drain(jb, 1), ['p30000']);
    assert.equal(jb.counters.resets, 2);
  });

  it('skips slots marked as non-audio (DTMF) without spending a playout tick', () => {
    const jb = new RtpJitterBuffer<number>({ targetFrames: 2 });
    jb.push(1, SSRC, 1);
    jb.push(2, SSRC, null);
    jb.push(3, SSRC, null);
    jb.push(4, SSRC, 4);
    assert.deepEqual(drain(jb, 3), ['p1', 'p4', 'underrun']);
  });

  it('bounds its depth: beyond maxFrames the oldest packets are dropped', () => {
    const jb = new RtpJitterBuffer<number>({ targetFrames: 2, maxFrames: 4 });
    for (let seq = 0; seq < 10; seq++) jb.push(seq, SSRC, seq);
    assert.ok(jb.depth <= 4);
    assert.equal(jb.counters.overflowDrops, 6);
    assert.deepEqual(drain(jb, 4), ['p6', 'p7', 'p8', 'p9']);
  });

  it('goes back to buffering after a long underrun (sender paused)', () => {
    const jb = new RtpJitterBuffer<number>({ targetFrames: 2, maxUnderrunFrames: 3 });
    jb.push(1, SSRC, 1);
    jb.push(2, SSRC, 2);
    assert.deepEqual(drain(jb, 6), ['p1', 'p2', 'underrun', 'underrun', 'underrun', 'buffering']);
    jb.push(3, SSRC, 3);
    assert.equal(jb.pop().kind, 'buffering');
    jb.push(4, SSRC, 4);
    assert.deepEqual(drain(jb, 2), ['p3', 'p4']);
  });

  it('drops a frame when it sits above target for a second (remote clock faster)', () => {
    const jb = new RtpJitterBuffer<number>({ targetFrames: 2, maxFrames: 10 });
    let seq = 0;
    for (; seq < 5; seq++) jb.push(seq, SSRC, seq);
    // Keep depth at 5 (> target + 1) by pushing one per pop for 50 ticks.
    for (let i = 0; i < 50; i++) {
      jb.pop();
      jb.push(seq, SSRC, seq);
      seq++;
    }
    assert.equal(jb.counters.overflowDrops, 1);
  });
});
