/**
 * Twilio Media Streams calls through the connector: setup and one-way latency, and the cost of
 * the μ-law/resampling stage.
 *
 *   RUST_LOG=warn NODE_ENV=production node --import tsx bench/twilio-call.ts [--calls 5]
 *
 * Real parts: livekit-server, the connector (`ConnectorServer` as `serve` builds it, room legs in
 * room worker processes by default), the test suite's Twilio Media Streams stand-in, and one
 * rtc-node room participant per call. Per call, sequentially:
 * - `ConnectTwilioCall` round trip (the hidden participant joins before it answers);
 * - `start` sent → the participant visible to the room participant;
 * - caller → room: the stand-in switches from silence to a 400 Hz tone → first 10 ms frame of
 *   the tone at the room participant;
 * - room → caller: the room participant switches its (already published) track from silence to
 *   a 1 kHz tone → first 20 ms frame of it played by the stand-in (its playout is real time, so
 *   this includes up to one frame of queueing).
 * - room → room participant: the same 1 kHz switch heard by a second plain participant, straight
 *   through livekit-server (the baseline the connector adds to).
 * Onsets are found as the first frame whose energy is mostly the tone (> 50 %) above −30 dBFS;
 * the tones are whole numbers of cycles per frame (10 ms at the room participant, 20 ms at the
 * stand-in), so one frame's Goertzel bin is exact.
 * The room participants share this process (the connector's legs run in its room workers);
 * figures are for comparing changes on one machine, not absolute promises.
 */
import { parseArgs } from 'node:util';
import { dispose } from '@livekit/rtc-node';
import { rmsDbfs, toneEnergyShare } from '../src/media/tone.js';
import { MulawTranscoder } from '../src/twilio/mulaw-transcoder.js';
import { RoomParticipant } from '../test/integration/twilio/room-participant.js';
import {
  Direction,
  eventually,
  sleep,
  startTwilioStack,
} from '../test/integration/twilio/twilio-harness.js';
import { TwilioMediaStreamClient } from '../test/integration/twilio/twilio-media-stream-client.js';

const { values } = parseArgs({ options: { calls: { type: 'string', default: '5' } } });
const calls = Number(values.calls);

function onset(
  frames: Array<{ at: number; pcm: Int16Array }>,
  since: number,
  rate: number,
  hz: number,
) {
  const hit = frames.find(
    (f) => f.at >= since && rmsDbfs(f.pcm) > -30 && toneEnergyShare(f.pcm, rate, hz) > 0.5,
  );
  return hit ? hit.at - since : undefined;
}

function summary(label: string, xs: number[]): string {
  const s = [...xs].sort((a, b) => a - b);
  const p50 = s[Math.floor((s.length - 1) / 2)] ?? NaN;
  return `${label.padEnd(34)} p50 ${p50.toFixed(0).padStart(5)} ms   max ${(s.at(-1) ?? NaN).toFixed(0).padStart(5)} ms   (n=${s.length})`;
}

function transcoderCost(): string {
  const t = new MulawTranscoder(16_000);
  const pcm = new Int16Array(320).map((_, i) => Math.round(8000 * Math.sin(i / 5)));
  const mulaw = t.encode(pcm);
  for (let i = 0; i < 5000; i++) t.encode(t.decode(mulaw)); // let the JIT optimise first
  const n = 20_000;
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    t.decode(mulaw);
    t.encode(pcm);
  }
  const us = ((performance.now() - t0) * 1000) / n;
  // One call moves a frame each way every 20 ms: 50 round trips a second.
  return `μ-law ⇄ 16 kHz, one frame each way   ${us.toFixed(1)} µs (${((us * 50) / 10_000).toFixed(3)} % of a core per call)`;
}

const transcoder = transcoderCost();
const stack = await startTwilioStack({
  ROOM_WORKER_CALLS_PER_PROCESS: process.env.ROOM_WORKER_CALLS_PER_PROCESS ?? '6',
});
const setup: number[] = [];
const visible: number[] = [];
const up: number[] = [];
const down: number[] = [];
const direct: number[] = [];
try {
  for (let i = 0; i < calls; i++) {
    const room = `bench-twilio-${i}`;
    const listener = await RoomParticipant.join(stack.lk, room, 'listener');
    // Hears the listener straight through livekit-server: the baseline of room → caller.
    const bystander = await RoomParticipant.join(stack.lk, room, 'bystander');
    const t0 = performance.now();
    const { connectUrl } = await stack.client.connectTwilioCall({
      twilioCallDirection: Direction.OUTBOUND,
      roomName: room,
      participantIdentity: 'caller',
    });
    setup.push(performance.now() - t0);
    const startAt = performance.now();
    const twilio = await TwilioMediaStreamClient.connect(connectUrl);
    twilio.sendTone(0);
    await listener.speak(0); // published (silent) before measuring: onsets, not track setup
    await eventually(() => listener.remote('caller'), 10_000, 'caller visible');
    visible.push(performance.now() - startAt);
    await sleep(1500); // let both jitter buffers settle on silence

    const toneAt = performance.now();
    twilio.sendTone(400);
    const u = await eventually(
      () => onset(listener.frames(), toneAt, 48_000, 400),
      5000,
      'tone in room',
    );
    up.push(u);

    const roomToneAt = performance.now();
    await listener.speak(1000);
    const d = await eventually(
      () => onset(twilio.played, roomToneAt, 8000, 1000),
      5000,
      'tone at caller',
    );
    down.push(d);
    const b = await eventually(
      () => onset(bystander.frames(), roomToneAt, 48_000, 1000),
      5000,
      'tone direct',
    );
    direct.push(b);

    twilio.sendStop();
    await twilio.closed;
    await listener.close();
    await bystander.close();
  }
  console.log(`Twilio calls through the connector (${calls} calls, ${new Date().toISOString()})`);
  console.log(summary('ConnectTwilioCall round trip', setup));
  console.log(summary('start → caller visible in the room', visible));
  console.log(summary('caller → room, tone onset', up));
  console.log(summary('room → caller, tone onset', down));
  console.log(summary('room → room participant (direct)', direct));
  console.log(
    summary(
      'room → caller, added to direct',
      down.map((d, i) => d - direct[i]!),
    ),
  );
  console.log(transcoder);
} finally {
  await stack.stop();
  await dispose();
}
