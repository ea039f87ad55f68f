import assert from 'node:assert/strict';
import { test } from 'node:test';

import { ConnectorError } from '../../../src/errors/connector-error.js';
import { DtmfSendQueue, type DtmfSlot } from '../../../src/media/dtmf-send-queue.js';
import { parseTelephoneEventPayload } from '../../../src/media/rtp-dtmf.js';

/** Runs `slots` 20 ms slots; returns what each carried ('A' = audio). */
function run(queue: DtmfSendQueue, slots: number): (DtmfSlot | 'A')[] {
  const out: (DtmfSlot | 'A')[] = [];
  for (let i = 0; i < slots; i++) out.push(queue.next(1000 + i * 960) ?? 'A');
  return out;
}

test('one digit: updates, three end packets one per slot, then the gap, all on the start timestamp', () => {
  const queue = new DtmfSendQueue({ durationMs: 100, gapSlots: 2 });
  assert.equal(queue.enqueue('5'), 1);
  const slots = run(queue, 10);
  const dtmf = slots.filter((s): s is DtmfSlot => s !== 'A');
  assert.equal(dtmf.length, 7, '4 updates + 3 end packets');
  assert.ok(dtmf.every((s) => s.timestamp === 1000 && s.packets.length === 1));
  const payloads = dtmf.map((s) => parseTelephoneEventPayload(s.packets[0]!.payload)!);
  assert.deepEqual(
    payloads.map((p) => [p.event, p.end, p.duration]),
    [
      [5, false, 160],
      [5, false, 320],
      [5, false, 480],
      [5, false, 640],
      [5, true, 800],
      [5, true, 800],
      [5, true, 800],
    ],
  );
  assert.equal(dtmf[0]!.packets[0]!.marker, true);
  assert.equal(dtmf.at(-1)!.last, true);
  assert.equal(queue.busy, false);
  assert.equal(queue.sent, 1);
});

test('end packets together; the gap separates events; the next event starts on its own slot', () => {
  const queue = new DtmfSendQueue({ endPackets: 'together', gapSlots: 3 });
  queue.enqueue('12');
  const slots = run(queue, 20);
  const kinds = slots.map((s) => (s === 'A' ? 'A' : s.packets.length));
  assert.deepEqual(kinds.slice(0, 16), [
    1,
    1,
    1,
    1,
    3,
    'A',
    'A',
    'A',
    1,
    1,
    1,
    1,
    3,
    'A',
    'A',
    'A',
  ]);
  const second = slots[8] as DtmfSlot;
  assert.equal(second.timestamp, 1000 + 8 * 960);
});

test('a flood is bounded: excess digits are dropped and counted, and audio returns within the bound', () => {
  const queue = new DtmfSendQueue({ maxQueuedDigits: 16, gapSlots: 2 });
  let accepted = 0;
  for (let i = 0; i < 10_000; i++) accepted += queue.enqueue('#');
  assert.equal(accepted, 16);
  assert.equal(queue.dropped, 10_000 - 16);
  assert.equal(queue.queued, 16);
  // Each digit takes 7 slots and 2 of audio: 16 digits are done within 144 slots (2.9 s).
  const slots = run(queue, 200);
  const lastDtmf = slots.findLastIndex((s) => s !== 'A');
  assert.ok(lastDtmf < 16 * 9, `DTMF ended at slot ${lastDtmf}`);
  assert.ok(slots.slice(lastDtmf + 1).every((s) => s === 'A'));
  assert.equal(queue.sent, 16);
  // Even during the flood, audio went out between every two events.
  const audioDuringFlood = slots.slice(0, lastDtmf).filter((s) => s === 'A').length;
  assert.equal(audioDuringFlood, 15 * 2);
});

test('invalid digits queue nothing; clear() empties everything', () => {
  const queue = new DtmfSendQueue();
  assert.throws(
    () => queue.enqueue('12x'),
    (err: unknown) => err instanceof ConnectorError && err.code === 'invalid_argument',
  );
  assert.equal(queue.queued, 0);
  queue.enqueue('123');
  queue.next(0);
  queue.clear();
  assert.equal(queue.busy, false);
  assert.equal(queue.next(960), undefined);
});
