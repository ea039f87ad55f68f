/**
 * The send and receive stages joined by an in-memory pipe (no sockets, fake clock): what one leg
 * sends, serialised to bytes, lost, reordered and duplicated on the way, is what the other plays.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { FrameClock } from '../../../src/media/frame-clock.js';
import { parseRtpPacket, serialiseRtpPacket } from '../../../src/media/rtp-packet.js';
import { RtpReceiver } from '../../../src/media/rtp-receiver.js';
import { RtpSender } from '../../../src/media/rtp-sender.js';
import { analyseTone, concatPcm, ToneGenerator } from '../../../src/media/tone.js';
import { ManualTimers } from './manual-timers.js';

test('tone and DTMF cross a lossy, reordering, duplicating pipe between the stages', () => {
  const timers = new ManualTimers();
  const digits: string[] = [];
  const receiver = new RtpReceiver({ sampleRate: 16000, onDtmf: (d) => digits.push(d.digit) });
  const ssrcs = new Set<number | undefined>();
  let n = 0;
  let held: Buffer | undefined;
  const sender = new RtpSender({
    sampleRate: 16000,
    sink: {
      sendRtp: (p) => {
        const bytes = serialiseRtpPacket({ header: p, payload: p.payload });
        ssrcs.add(parseRtpPacket(bytes)?.header.ssrc);
        n++;
        if (n % 23 === 0) return; // lost
        if (n % 17 === 0) receiver.receiveBytes(bytes); // duplicated
        if (n % 11 === 0) {
          held = bytes; // delayed behind the next packet
          return;
        }
        receiver.receiveBytes(bytes);
        if (held) {
          receiver.receiveBytes(held);
          held = undefined;
        }
      },
    },
  });
  const heard: Int16Array[] = [];
  const tone = new ToneGenerator(1000, 16000, 0.3);
  const clock = new FrameClock({
    timers,
    onTick: () => {
      sender.sendPcm(tone.next(320));
      sender.tick();
      const frame = receiver.playout();
      if (frame) heard.push(frame);
    },
  });
  clock.start();
  timers.advance(1000);
  sender.sendDtmf('42');
  timers.advance(2000);
  clock.stop();

  assert.deepEqual(digits, ['4', '2']);
  const stats = receiver.stats();
  assert.ok(stats.packetsLost > 0 && stats.duplicateDrops > 0);
  assert.ok(stats.framesConcealed >= stats.packetsLost);
  assert.ok(heard.length >= 145, `${heard.length} frames in 3 s`);
  const a = analyseTone(concatPcm(heard.slice(10)), 16000, 1000);
  assert.ok(Math.abs(a.frequencyHz - 1000) < 30, `${a.frequencyHz} Hz`);
  assert.ok(a.toneShare > 0.7, `tone share ${a.toneShare}`);
  // Everything on the wire was one stream, each packet a complete RTP packet.
  assert.deepEqual([...ssrcs], [sender.ssrc]);
});
