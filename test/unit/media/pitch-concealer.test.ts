import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PitchConcealer } from '../../../src/media/pitch-concealer.js';
import { ToneGenerator, rmsDbfs, toneEnergyShare } from '../../../src/media/tone.js';

const RATE = 16_000;
const FRAME = 320;

test('a single lost frame of a tone is replaced by the same tone at nearly full level', () => {
  const tone = new ToneGenerator(440, RATE, 0.3);
  const plc = new PitchConcealer(RATE, FRAME);
  for (let i = 0; i < 5; i++) plc.receive(tone.next(FRAME));
  const reference = tone.next(FRAME);
  const concealed = plc.conceal();
  assert.ok(
    rmsDbfs(concealed) > rmsDbfs(reference) - 1.5,
    `level ${rmsDbfs(concealed)} vs ${rmsDbfs(reference)}`,
  );
  assert.ok(toneEnergyShare(concealed, RATE, 440) > 0.8);
});

test('a long loss fades to silence instead of repeating forever', () => {
  const tone = new ToneGenerator(300, RATE, 0.3);
  const plc = new PitchConcealer(RATE, FRAME);
  for (let i = 0; i < 5; i++) plc.receive(tone.next(FRAME));
  const levels = Array.from({ length: 5 }, () => rmsDbfs(plc.conceal()));
  for (let i = 1; i < levels.length; i++)
    assert.ok(levels[i]! <= levels[i - 1]! + 0.01, `levels ${levels.join(', ')}`);
  assert.equal(levels[4], -Infinity);
});

test('the first good frame after a loss starts without a jump', () => {
  const tone = new ToneGenerator(440, RATE, 0.3);
  const plc = new PitchConcealer(RATE, FRAME);
  for (let i = 0; i < 5; i++) plc.receive(tone.next(FRAME));
  const concealed = plc.conceal();
  tone.next(FRAME);
  // A frame whose phase does not continue the concealment: the cross-fade must hide the step.
  const next = new Int16Array(FRAME).fill(9000);
  plc.receive(next);
  const step = Math.abs((next[0] ?? 0) - (concealed[FRAME - 1] ?? 0));
  assert.ok(step < 9000, `first sample moved by ${step}`);
});

test('concealment before any audio is silence', () => {
  const plc = new PitchConcealer(RATE, FRAME);
  assert.equal(rmsDbfs(plc.conceal()), -Infinity);
});
