import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { ConnectorError } from '../../../src/errors/connector-error.js';
import {
  DtmfDecoder,
  dtmfDigitToEvent,
  dtmfEventToDigit,
  encodeDtmfDigit,
  parseTelephoneEventPayload,
} from '../../../src/media/rtp-dtmf.js';

describe('DTMF digit mapping', () => {
  it('maps 0-9, *, #, A-D to RFC 4733 events 0-15 and back', () => {
    const digits = '0123456789*#ABCD';
    for (let i = 0; i < digits.length; i++) {
      assert.equal(dtmfDigitToEvent(digits[i]!), i);
      assert.equal(dtmfEventToDigit(i), digits[i]);
    }
    assert.equal(dtmfDigitToEvent('a'), 12);
  });

  it('rejects non-digits with invalid_argument and ignores non-DTMF events', () => {
    for (const bad of ['E', '', '12', ' ', 'x']) {
      assert.throws(
        () => dtmfDigitToEvent(bad),
        (e: unknown) => e instanceof ConnectorError && e.code === 'invalid_argument',
      );
    }
    assert.equal(dtmfEventToDigit(16), undefined);
    assert.equal(dtmfEventToDigit(-1), undefined);
  });
});

describe('encodeDtmfDigit', () => {
  it('produces a marked start, growing durations and three identical end packets', () => {
    const packets = encodeDtmfDigit('#', { durationMs: 100, volume: 10 });
    // 100 ms at 20 ms intervals: 4 updates (160..640) then 3 end packets at 800 (8 kHz units).
    assert.deepEqual(
      packets.map((p) => [p.marker, p.end, p.duration]),
      [
        [true, false, 160],
        [false, false, 320],
        [false, false, 480],
        [false, false, 640],
        [false, true, 800],
        [false, true, 800],
        [false, true, 800],
      ],
    );
    const first = parseTelephoneEventPayload(packets[0]!.payload)!;
    assert.deepEqual(first, { event: 11, end: false, volume: 10, duration: 160 });
    const last = parseTelephoneEventPayload(packets[6]!.payload)!;
    assert.deepEqual(last, { event: 11, end: true, volume: 10, duration: 800 });
    assert.deepEqual([...packets[6]!.payload], [11, 0x80 | 10, 800 >> 8, 800 & 0xff]);
  });

  it('rejects a bad digit and bad volume', () => {
    assert.throws(() => encodeDtmfDigit('Z'), ConnectorError);
    assert.throws(() => encodeDtmfDigit('1', { volume: 64 }), ConnectorError);
    assert.throws(() => encodeDtmfDigit('1', { durationMs: 0 }), ConnectorError);
  });
});

describe('DtmfDecoder', () => {
  it('reports each event once despite updates and repeated end packets', () => {
    const decoder = new DtmfDecoder();
    const got: string[] = [];
    let ts = 1000;
    for (const digit of ['1', '5', '#', '5']) {
      for (const p of encodeDtmfDigit(digit)) {
        const d = decoder.push(p.payload, ts);
        if (d) got.push(d.digit);
      }
      ts += 9600;
    }
    assert.deepEqual(got, ['1', '5', '#', '5']);
  });

  it('reports an event whose start packets were lost, and ignores the reordered start arriving later', () => {
    const decoder = new DtmfDecoder();
    const packets = encodeDtmfDigit('7');
    const order = [packets[5]!, packets[0]!, packets[6]!, packets[1]!];
    const got = order.map((p) => decoder.push(p.payload, 0xfffffff0)?.digit);
    assert.deepEqual(got, ['7', undefined, undefined, undefined]);
  });

  it('ignores malformed payloads and non-DTMF events', () => {
    const decoder = new DtmfDecoder();
    assert.equal(decoder.push(new Uint8Array(3), 1), undefined);
    assert.equal(decoder.push(Uint8Array.of(16, 0, 0, 160), 2), undefined);
    assert.equal(decoder.push(Uint8Array.of(3, 0, 0, 160), 2)?.digit, '3');
  });

  it('after reset the same event timestamp is reported again', () => {
    const decoder = new DtmfDecoder();
    const [p] = encodeDtmfDigit('9');
    assert.equal(decoder.push(p!.payload, 5)?.digit, '9');
    assert.equal(decoder.push(p!.payload, 5), undefined);
    decoder.reset();
    assert.equal(decoder.push(p!.payload, 5)?.digit, '9');
  });
});
