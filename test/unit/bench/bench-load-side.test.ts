import assert from 'node:assert/strict';
import { existsSync, lstatSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

import { analyseBursts } from '../../../bench/lib/burst-signal.js';
import { BurstReplay, PacketRecorder, encodedBursts } from '../../../bench/lib/opus-bursts.js';
import { checkoutPeer } from '../../../bench/lib/peer-checkout.js';
import { matchBursts } from '../../../bench/lib/stats.js';
import { trendVerdict, type SoakSample } from '../../../bench/sections/soak.js';

const BURSTS = { hz: 700, periodMs: 500, onMs: 300 };

/** Replays `seconds` of the pattern on a virtual 20 ms clock into a recorder, `delayMs` later. */
function replay(seconds: number, delayMs: number, drop: (i: number) => boolean = () => false) {
  const replayer = new BurstReplay(encodedBursts(BURSTS, 16_000));
  const recorder = new PacketRecorder(16_000);
  const t0 = 1_000_000;
  for (let i = 0; i < seconds * 50; i++) {
    const at = t0 + i * 20;
    const { payload } = replayer.next(at);
    if (!drop(i)) recorder.push(payload, at + delayMs);
  }
  const window = { fromMs: t0 + 1000, toMs: t0 + seconds * 1000 };
  const received = analyseBursts(recorder.chunks(), 16_000, BURSTS, t0, window.toMs + delayMs);
  return matchBursts(replayer.onsets, received, {
    ...window,
    tailMs: 1000,
    maxMs: 450,
    framesPerBurst: 15,
  });
}

test('pre-encoded bursts replayed and decoded late are all found, at the delay they were given', () => {
  const m = replay(6, 40);
  assert.equal(m.burstsSent, 8);
  assert.equal(m.burstsMatched, 8);
  assert.equal(m.framesMissing, 0);
  for (const latency of m.latencies) {
    // The Opus encoder's look-ahead delays the onset by a few ms beyond the transport delay.
    assert.ok(latency >= 40 && latency < 40 + 15, `latency ${latency}`);
  }
});

test('packets lost in transit show as missing tone frames', () => {
  // Drop 5 packets in the middle of every burst from the third second on.
  const m = replay(6, 0, (i) => i >= 150 && i % 25 >= 5 && i % 25 < 10);
  assert.equal(m.burstsSent, 8);
  assert.ok(m.framesMissing >= 5 * 4, `frames missing ${m.framesMissing}`);
});

function samples(values: (i: number) => number, count = 60): SoakSample[] {
  return Array.from({ length: count }, (_, i) => ({
    t: i * 30,
    liveCalls: 10,
    rssBytes: values(i),
    heapUsedBytes: values(i),
    fds: values(i),
    listeners: values(i),
    handles: values(i),
    connectorActiveCalls: 10,
    simulatorActiveCalls: 10,
    extraRooms: 0,
  }));
}

test('a noisy but level series is flat; one that grows steadily is not', () => {
  const tolerance = (mean: number) => mean * 0.05 + 4;
  const level = trendVerdict(
    samples((i) => 200 + ((i * 7) % 11) - 5),
    (s) => s.fds,
    tolerance,
  );
  assert.equal(level.flat, true);
  assert.ok(Math.abs(level.trendOverRun) < 4);
  const leaking = trendVerdict(
    samples((i) => 200 + i),
    (s) => s.fds,
    tolerance,
  );
  assert.equal(leaking.flat, false);
  // 48 samples after warm-up, 30 s apart: the trend over the run is the growth, 47.
  assert.ok(Math.abs(leaking.trendOverRun - 47) < 1, `trend ${leaking.trendOverRun}`);
});

test('the peer checkout is a detached worktree of the commit sharing node_modules, removed on request', () => {
  const out = mkdtempSync(join(tmpdir(), 'bench-peer-test-'));
  try {
    const peer = checkoutPeer('HEAD', out);
    assert.ok(existsSync(join(peer.dir, 'bench', 'workers', 'connector-host.ts')));
    assert.ok(lstatSync(join(peer.dir, 'node_modules')).isSymbolicLink());
    assert.equal(peer.spec.cwd, peer.dir);
    assert.match(peer.commit, /^[0-9a-f]{40}$/);
    // Asking again for the same commit reuses the checkout.
    assert.equal(checkoutPeer(peer.commit, out).dir, peer.dir);
    peer.remove();
    assert.equal(existsSync(peer.dir), false);
    assert.throws(() => checkoutPeer('no-such-commit-xyz', out));
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});
