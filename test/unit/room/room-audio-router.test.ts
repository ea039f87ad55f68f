/**
 * The room → caller router under a fake clock: one speaker is forwarded undecoded with one
 * continuous sequence, a second speaker switches to mixing (announced before the first frame),
 * its leaving switches back, muted tracks are not speakers, and a PCM-only leg always mixes.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Encoder } from '@evan/opus';
import { ToneGenerator, analyseTone, concatPcm } from '../../../src/media/tone.js';
import {
  RoomAudioRouter,
  type RoomOpusPacket,
  type RoomRtpPacket,
} from '../../../src/room/room-audio-router.js';
import { ManualTimers } from '../media/manual-timers.js';

/** An agent's Opus stream of a tone: 20 ms packets at 48 kHz. */
function agent(hz: number, ssrc: number) {
  const encoder = new Encoder({ channels: 1, sample_rate: 48000, application: 'voip' });
  encoder.bitrate = 32_000;
  const tone = new ToneGenerator(hz, 48000, 0.3);
  let seq = 100;
  let ts = 5000;
  return (): RoomRtpPacket => {
    const packet = {
      header: { sequenceNumber: seq & 0xffff, timestamp: ts >>> 0, marker: false, ssrc },
      payload: encoder.encode(tone.next(960)),
    };
    seq++;
    ts += 960;
    return packet;
  };
}

function harness(options: { passthrough?: boolean } = {}) {
  const timers = new ManualTimers();
  const router = new RoomAudioRouter({ sampleRate: 16000, timers, ...options });
  const events: string[] = [];
  const opus: RoomOpusPacket[] = [];
  const audio: Int16Array[] = [];
  router.on('mode', (mode) => events.push(`mode:${mode}`));
  router.on('opus', (p) => {
    events.push('opus');
    opus.push(p);
  });
  router.on('audio', (pcm) => {
    events.push('audio');
    audio.push(pcm);
  });
  return { timers, router, events, opus, audio };
}

test('one speaker is forwarded byte for byte with a continuous sequence, and nothing is mixed', () => {
  const { timers, router, opus, audio } = harness();
  router.addTrack('TR_a', false);
  const next = agent(440, 1111);
  const sent: Uint8Array[] = [];
  for (let i = 0; i < 20; i++) {
    const p = next();
    sent.push(p.payload);
    router.receive('TR_a', p);
    timers.advance(20);
  }
  assert.equal(router.mode, 'passthrough');
  assert.equal(audio.length, 0, 'no mixing clock in passthrough');
  assert.deepEqual(
    opus.map((p) => Buffer.from(p.payload).toString('hex')),
    sent.map((p) => Buffer.from(p).toString('hex')),
  );
  for (let i = 1; i < opus.length; i++) {
    assert.equal((opus[i]!.sequenceNumber - opus[i - 1]!.sequenceNumber) & 0xffff, 1);
  }
  router.close();
});

test('the agent republishing (new track, new SSRC) keeps the forwarded sequence continuous', () => {
  const { router, opus } = harness();
  router.addTrack('TR_a', false);
  const first = agent(440, 1);
  for (let i = 0; i < 5; i++) router.receive('TR_a', first());
  router.removeTrack('TR_a');
  router.addTrack('TR_b', false);
  const second = agent(440, 2);
  for (let i = 0; i < 5; i++) router.receive('TR_b', second());
  assert.equal(opus.length, 10);
  for (let i = 1; i < opus.length; i++) {
    assert.equal((opus[i]!.sequenceNumber - opus[i - 1]!.sequenceNumber) & 0xffff, 1, `${i}`);
  }
  assert.equal(opus[5]!.marker, true, 'a new talkspurt starts');
  router.close();
});

test('a second speaker switches to mixing (announced first) and both are in the mix; its leaving switches back', () => {
  const { timers, router, events, audio, opus } = harness();
  const a = agent(440, 1);
  const b = agent(1000, 2);
  router.addTrack('TR_a', false);
  router.receive('TR_a', a());
  assert.equal(opus.length, 1);
  router.addTrack('TR_b', false);
  assert.equal(router.mode, 'mixing');
  assert.equal(events.at(-1), 'mode:mixing');
  for (let i = 0; i < 60; i++) {
    router.receive('TR_a', a());
    router.receive('TR_b', b());
    timers.advance(20);
  }
  assert.equal(opus.length, 1, 'nothing forwarded while mixing');
  assert.ok(audio.length >= 59, `${audio.length} mixed frames`);
  const mix = concatPcm(audio.slice(-40));
  assert.ok(analyseTone(mix, 16000, 440).toneShare > 0.25);
  assert.ok(analyseTone(mix, 16000, 1000).toneShare > 0.25);

  router.removeTrack('TR_b');
  assert.equal(router.mode, 'passthrough');
  assert.equal(events.at(-1), 'mode:passthrough');
  const frames = audio.length;
  router.receive('TR_a', a());
  timers.advance(100);
  assert.equal(audio.length, frames, 'the mixing clock stopped');
  assert.equal(opus.length, 2, 'forwarding resumed at the next packet');
  assert.deepEqual(router.stats().modeSwitches, 2);
  router.close();
});

test('a muted track is not a speaker: one unmuted speaker stays passthrough', () => {
  const { router } = harness();
  router.addTrack('TR_a', false);
  router.addTrack('TR_b', true);
  assert.equal(router.mode, 'passthrough');
  router.setMuted('TR_b', false);
  assert.equal(router.mode, 'mixing');
  router.setMuted('TR_a', true);
  assert.equal(router.mode, 'passthrough');
  router.close();
});

test('a PCM-only leg (Twilio) mixes always, silence included, on a steady clock', () => {
  const { timers, router, audio, opus } = harness({ passthrough: false });
  assert.equal(router.mode, 'mixing');
  timers.advance(200);
  assert.equal(audio.length, 10);
  assert.ok(audio.every((f) => f.length === 320 && f.every((s) => s === 0)));
  router.addTrack('TR_a', false);
  const a = agent(440, 1);
  for (let i = 0; i < 30; i++) {
    router.receive('TR_a', a());
    timers.advance(20);
  }
  assert.equal(router.mode, 'mixing');
  assert.equal(opus.length, 0);
  assert.ok(analyseTone(concatPcm(audio.slice(-20)), 16000, 440).toneShare > 0.8);
  router.close();
});
