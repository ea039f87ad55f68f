/**
 * Fuzz target: RFC 4733 telephone-events. Random payloads into the decoder and the receive stage
 * never throw and only ever yield DTMF digits; real events sent through a lossy, reordering,
 * duplicating path are reported exactly once each (when any packet of them arrives); random
 * digit strings into the send queue are either queued or refused with invalid_argument.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { ConnectorError } from '../../src/errors/connector-error.js';
import { DtmfSendQueue } from '../../src/media/dtmf-send-queue.js';
import { DtmfDecoder, encodeDtmfDigit, isDtmfDigit } from '../../src/media/rtp-dtmf.js';
import { RtpReceiver } from '../../src/media/rtp-receiver.js';
import { FUZZ_SEED, Prng, reproduce } from './fuzz-kit.js';

const INPUTS = 15_000;
const DIGITS = '0123456789*#ABCD';

test(`RFC 4733: ${INPUTS} random payloads decode to DTMF digits or nothing, never a throw (seed ${FUZZ_SEED})`, () => {
  const random = new Prng(FUZZ_SEED);
  const decoder = new DtmfDecoder();
  const digits: string[] = [];
  const receiver = new RtpReceiver({
    sampleRate: 16000,
    onDtmf: (d) => digits.push(d.digit),
  });
  for (let i = 0; i < INPUTS; i++) {
    const payload = random.bytes(random.pick([0, 1, 3, 4, 4, 4, 8, 64]));
    const ts = random.int(0, 2 ** 32 - 1);
    try {
      const d = decoder.push(payload, ts);
      if (d) assert.ok(isDtmfDigit(d.digit), reproduce('rfc4733', i));
      receiver.receive({
        header: {
          payloadType: 126,
          sequenceNumber: i & 0xffff,
          timestamp: ts,
          ssrc: 5,
          marker: random.chance(0.2),
        },
        payload,
      });
      if (i % 3 === 0) receiver.playout();
    } catch (err) {
      assert.fail(`${reproduce('rfc4733', i)}: threw ${String(err)}`);
    }
  }
  assert.ok(digits.every(isDtmfDigit));
  assert.ok(digits.length > 300, `${digits.length} digits from random events`);
});

test(`RFC 4733: 10000 real events over a lossy, reordering, duplicating path are reported once each (seed ${FUZZ_SEED})`, () => {
  const random = new Prng(FUZZ_SEED + 1);
  const decoder = new DtmfDecoder();
  let reported = 0;
  let reachable = 0;
  let wrong = 0;
  for (let e = 0; e < 10_000; e++) {
    const digit = random.pick([...DIGITS]);
    const ts = (e * 8000) >>> 0;
    const packets = encodeDtmfDigit(digit, { durationMs: random.pick([40, 100, 250]) });
    const delivered = packets.filter(() => !random.chance(0.3));
    for (let k = 0; k < delivered.length; k++) {
      if (random.chance(0.2)) delivered.splice(random.int(0, delivered.length), 0, delivered[k]!);
    }
    for (let k = delivered.length - 1; k > 0; k--) {
      const j = random.int(0, k);
      [delivered[k], delivered[j]] = [delivered[j]!, delivered[k]!];
    }
    if (delivered.length > 0) reachable++;
    for (const p of delivered) {
      const d = decoder.push(p.payload, ts);
      if (d) {
        reported++;
        if (d.digit !== digit) wrong++;
      }
    }
  }
  assert.equal(wrong, 0);
  assert.equal(reported, reachable, 'one report per event that reached the receiver');
});

test(`RFC 4733: 10000 random digit strings into the bounded send queue (seed ${FUZZ_SEED})`, () => {
  const random = new Prng(FUZZ_SEED + 2);
  const queue = new DtmfSendQueue({ maxQueuedDigits: 16 });
  const alphabet = [...DIGITS, ...'abcdxyz !é\u0000🙂'];
  let slots = 0;
  for (let i = 0; i < 10_000; i++) {
    const text = Array.from({ length: random.int(0, 6) }, () => random.pick(alphabet)).join('');
    try {
      const accepted = queue.enqueue(text);
      assert.ok(accepted <= [...text].length, reproduce('dtmf-queue', i));
    } catch (err) {
      assert.ok(
        err instanceof ConnectorError && err.code === 'invalid_argument',
        `${reproduce('dtmf-queue', i)}: ${String(err)}`,
      );
    }
    assert.ok(queue.queued <= 16, 'bounded');
    for (let k = random.int(0, 3); k > 0; k--) {
      const slot = queue.next(slots++ * 960);
      if (slot) assert.ok(slot.packets.length >= 1);
    }
  }
  assert.ok(queue.sent > 100, `${queue.sent} events sent`);
  assert.ok(queue.dropped > 0, `${queue.dropped} digits dropped by the bound`);
});
