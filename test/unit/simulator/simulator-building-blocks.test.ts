import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ToneGenerator, analyseTone } from '../../../src/media/tone.js';
import { newCallId } from '../../../src/simulator/call-id.js';
import { SeededRandom } from '../../../src/simulator/seeded-random.js';
import { parseFaultUpdate } from '../../../src/simulator/simulator-faults.js';
import { decodeWav, PcmVoice } from '../../../src/simulator/user-voice.js';
import { serialiseWebhook } from '../../../src/simulator/webhook-dispatcher.js';
import { ConnectorError } from '../../../src/errors/connector-error.js';

test("call ids decode like Meta's: user number, a 32-hex token, the business number", () => {
  const id = newCallId('917358580180', '15551441906');
  // Same prefix and suffix as the real id in the 2025-10-17 capture; only the token differs.
  assert.match(
    id,
    /^wacid\.HBgMOTE3MzU4NTgwMTgwFQIAEhgg[A-Za-z0-9+/]{43}cGAsxNTU1MTQ0MTkwNhUCABUKAA==$/,
  );
  const raw = Buffer.from(id.slice(6), 'base64');
  assert.equal(
    raw
      .subarray(21, 53)
      .toString('latin1')
      .replace(/[0-9A-F]/g, ''),
    '',
  );
  assert.notEqual(newCallId('917358580180', '15551441906'), id);
});

test('the fault PRNG is reproducible from its seed', () => {
  const a = new SeededRandom(42);
  const b = new SeededRandom(42);
  const seqA = Array.from({ length: 5 }, () => a.next());
  assert.deepEqual(
    seqA,
    Array.from({ length: 5 }, () => b.next()),
  );
  assert.ok(seqA.every((x) => x >= 0 && x < 1));
  assert.notDeepEqual(
    seqA,
    Array.from({ length: 5 }, () => new SeededRandom(43).next()),
  );
});

test('fault updates are validated', () => {
  assert.deepEqual(parseFaultUpdate({ duplicateWebhooks: true, jitterMs: 20 }), {
    duplicateWebhooks: true,
    jitterMs: 20,
  });
  assert.throws(() => parseFaultUpdate({ jitterMs: -1 }), /non-negative/);
  assert.throws(() => parseFaultUpdate({ nope: 1 }), /unknown fault/);
  assert.throws(() => parseFaultUpdate([]), /object/);
});

test('webhook bodies escape non-ASCII as lowercase \\uXXXX, like the bytes Meta signs', () => {
  const body = serialiseWebhook({ name: 'äöå €' });
  assert.equal(body, '{"name":"\\u00e4\\u00f6\\u00e5 \\u20ac"}');
  assert.deepEqual(JSON.parse(body), { name: 'äöå €' });
});

function wav(samples: Int16Array, rate: number, channels: number): Buffer {
  const data = Buffer.alloc(samples.length * 2 * channels);
  samples.forEach((s, i) => {
    for (let c = 0; c < channels; c++) data.writeInt16LE(s, (i * channels + c) * 2);
  });
  const h = Buffer.alloc(44);
  h.write('RIFF', 0);
  h.writeUInt32LE(36 + data.length, 4);
  h.write('WAVEfmt ', 8);
  h.writeUInt32LE(16, 16);
  h.writeUInt16LE(1, 20);
  h.writeUInt16LE(channels, 22);
  h.writeUInt32LE(rate, 24);
  h.writeUInt32LE(rate * 2 * channels, 28);
  h.writeUInt16LE(2 * channels, 32);
  h.writeUInt16LE(16, 34);
  h.write('data', 36);
  h.writeUInt32LE(data.length, 40);
  return Buffer.concat([h, data]);
}

test('a 48 kHz stereo WAV becomes 16 kHz mono speech that plays once, then silence', () => {
  const pcm = decodeWav(wav(new ToneGenerator(700, 48000, 0.5).next(48000), 48000, 2));
  assert.equal(pcm.length, 16000);
  const tone = analyseTone(pcm, 16000, 700);
  assert.ok(Math.abs(tone.frequencyHz - 700) < 10);
  assert.ok(tone.levelDbfs > -10);
  const voice = new PcmVoice(pcm, 'test');
  voice.next(15990);
  const tail = voice.next(20);
  assert.ok(tail.subarray(10).every((s) => s === 0));
  assert.throws(() => decodeWav(Buffer.from('not a wav at all')), ConnectorError);
});
