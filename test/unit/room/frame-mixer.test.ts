import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FrameMixer } from '../../../src/room/frame-mixer.js';

const frame = (value: number, n = 4) => new Int16Array(n).fill(value);

test('sums inputs sample by sample once each has its start cushion', () => {
  const mixer = new FrameMixer(4, { startFrames: 1 });
  const a = mixer.addInput();
  const b = mixer.addInput();
  a.push(Int16Array.from([1, 2, 3, 4]));
  b.push(Int16Array.from([10, 20, 30, 40]));
  assert.deepEqual([...mixer.mix()], [11, 22, 33, 44]);
});

test('saturates at the int16 range instead of wrapping', () => {
  const mixer = new FrameMixer(4, { startFrames: 1 });
  mixer.addInput().push(Int16Array.from([30000, -30000, 20000, 0]));
  mixer.addInput().push(Int16Array.from([10000, -10000, 20000, 5]));
  assert.deepEqual([...mixer.mix()], [32767, -32768, 32767, 5]);
});

test('produces silence when no input has audio', () => {
  const mixer = new FrameMixer(4);
  mixer.addInput();
  assert.deepEqual([...mixer.mix()], [0, 0, 0, 0]);
  assert.deepEqual([...new FrameMixer(3).mix()], [0, 0, 0]);
});

test('a late input contributes silence without holding back the others', () => {
  const mixer = new FrameMixer(4, { startFrames: 1 });
  const prompt = mixer.addInput();
  mixer.addInput(); // never sends
  prompt.push(frame(7));
  assert.deepEqual([...mixer.mix()], [7, 7, 7, 7]);
});

test('an input waits for its start cushion, then re-primes after running dry', () => {
  const mixer = new FrameMixer(4, { startFrames: 2, maxStartFrames: 2 });
  const input = mixer.addInput();
  input.push(frame(5));
  assert.deepEqual([...mixer.mix()], [0, 0, 0, 0], 'one frame is not yet a cushion');
  input.push(frame(6));
  assert.deepEqual([...mixer.mix()], [5, 5, 5, 5]);
  input.push(Int16Array.from([8, 8]));
  assert.deepEqual([...mixer.mix()], [6, 6, 6, 6]);
  assert.deepEqual([...mixer.mix()], [8, 8, 0, 0], 'partial frame padded with silence');
  assert.equal(input.underruns, 1);
  input.push(frame(9));
  assert.deepEqual([...mixer.mix()], [0, 0, 0, 0], 'cushion needed again after an underrun');
});

test('an input that runs ahead drops its oldest audio so latency stays bounded', () => {
  const mixer = new FrameMixer(2, { startFrames: 1, maxStartFrames: 1, maxFrames: 2 });
  const input = mixer.addInput();
  input.push(Int16Array.from([1, 1]));
  input.push(Int16Array.from([2, 2]));
  input.push(Int16Array.from([3, 3]));
  assert.equal(input.droppedSamples, 2);
  assert.equal(input.bufferedSamples, 4);
  assert.deepEqual([...mixer.mix()], [2, 2]);
  assert.deepEqual([...mixer.mix()], [3, 3]);
});

test('frames of other sizes are re-chunked across the ring boundary', () => {
  const mixer = new FrameMixer(3, { startFrames: 1, maxStartFrames: 1, maxFrames: 2 });
  const input = mixer.addInput();
  input.push(Int16Array.from([1, 2]));
  input.push(Int16Array.from([3, 4, 5]));
  assert.deepEqual([...mixer.mix()], [1, 2, 3]);
  input.push(Int16Array.from([6, 7, 8]));
  assert.deepEqual([...mixer.mix()], [4, 5, 6]);
  assert.deepEqual([...mixer.mix()], [7, 8, 0]);
});

test('a removed input no longer contributes', () => {
  const mixer = new FrameMixer(2, { startFrames: 1 });
  const input = mixer.addInput();
  input.push(Int16Array.from([4, 4, 4, 4]));
  mixer.removeInput(input);
  assert.equal(mixer.inputCount, 0);
  assert.deepEqual([...mixer.mix()], [0, 0]);
});

test('the cushion starts at one frame: a steady sender is mixed on the tick after its first frame', () => {
  const mixer = new FrameMixer(4);
  const input = mixer.addInput();
  for (let i = 1; i <= 50; i++) {
    input.push(frame(1000 + i));
    assert.deepEqual([...mixer.mix()], [...frame(1000 + i)]);
  }
  assert.equal(input.cushionFrames, 1);
  assert.equal(input.underruns, 0);
});

test('audio that comes late grows the cushion by a frame, up to maxStartFrames', () => {
  const mixer = new FrameMixer(4, { maxStartFrames: 3 });
  const input = mixer.addInput();
  const silence = [0, 0, 0, 0];
  input.push(frame(1000));
  mixer.mix();
  assert.deepEqual([...mixer.mix()], silence, 'dry: the next packet is late');
  assert.equal(input.underruns, 1);
  assert.equal(input.cushionFrames, 1, 'late or a pause? not known yet');
  input.push(frame(1001)); // one tick late
  assert.equal(input.cushionFrames, 2);
  assert.equal(input.lateFrames, 1);
  assert.deepEqual([...mixer.mix()], silence, 'waits for two frames now');
  input.push(frame(1002));
  assert.deepEqual([...mixer.mix()], [...frame(1001)]);
  assert.deepEqual([...mixer.mix()], [...frame(1002)]);
  mixer.mix();
  mixer.mix(); // two ticks late this time: still jitter
  input.push(frame(1003));
  assert.equal(input.cushionFrames, 3);
  for (let i = 0; i < 3; i++) input.push(frame(1100));
  for (let i = 0; i < 5; i++) mixer.mix();
  input.push(frame(1004)); // late again, but the cushion stays at the cap
  assert.equal(input.cushionFrames, 3);
  assert.equal(input.lateFrames, 3);
});

test('a pause of the speaker (DTX, mute) longer than two frames does not grow the cushion', () => {
  const mixer = new FrameMixer(4);
  const input = mixer.addInput();
  input.push(frame(1000));
  assert.deepEqual([...mixer.mix()], [...frame(1000)]);
  for (let i = 0; i < 10; i++) mixer.mix(); // 200 ms of nothing
  input.push(frame(1001));
  assert.equal(input.underruns, 1);
  assert.equal(input.lateFrames, 0);
  assert.equal(input.cushionFrames, 1);
  assert.deepEqual([...mixer.mix()], [...frame(1001)], 'heard on the next tick');
});

test('after clean ticks a grown cushion shrinks, dropping one quiet frame and never a loud one', () => {
  const mixer = new FrameMixer(4, { relaxAfterFrames: 10 });
  const input = mixer.addInput();
  input.push(frame(1000));
  mixer.mix();
  mixer.mix(); // underrun: cushion 2
  input.push(frame(1000));
  input.push(frame(1000));
  const heard: number[] = [];
  // A steady sender from now on: two frames held before each tick.
  for (let i = 0; i < 10; i++) {
    heard.push(mixer.mix()[0]!);
    input.push(frame(1000));
  }
  assert.equal(input.cushionFrames, 1, 'shrunk after 10 clean ticks');
  // Loud audio is never dropped to shrink: latency stays until the speaker pauses.
  for (let i = 0; i < 5; i++) {
    heard.push(mixer.mix()[0]!);
    input.push(frame(1000));
  }
  assert.equal(input.trimmedFrames, 0);
  assert.equal(input.bufferedSamples, 8, 'still two frames held');
  heard.push(mixer.mix()[0]!);
  input.push(frame(3)); // the speaker pauses for a frame
  heard.push(mixer.mix()[0]!);
  input.push(frame(7));
  assert.deepEqual([...mixer.mix()], [...frame(7)], 'the quiet frame was skipped');
  assert.equal(input.trimmedFrames, 1);
  assert.ok(
    heard.every((v) => v === 1000),
    'no loud frame was lost',
  );
  input.push(frame(8));
  assert.deepEqual([...mixer.mix()], [...frame(8)], 'one frame of latency from now on');
});

test('a burst beyond the cushion is trimmed only in quiet audio', () => {
  const mixer = new FrameMixer(4, { maxFrames: 6 });
  const input = mixer.addInput();
  for (const v of [1000, 1001, 1002]) input.push(frame(v));
  assert.deepEqual([...mixer.mix()], [...frame(1000)], 'loud: played, not trimmed');
  for (const v of [0, 0, 5]) input.push(frame(v));
  // Held: 1001, 1002, 0, 0, 5 - five frames against a cushion of one.
  assert.deepEqual([...mixer.mix()], [...frame(1001)]);
  assert.deepEqual([...mixer.mix()], [...frame(1002)]);
  assert.deepEqual([...mixer.mix()], [...frame(0)], 'the first silent frame is dropped');
  assert.equal(input.trimmedFrames, 1);
  assert.deepEqual([...mixer.mix()], [...frame(5)]);
});

test('rejects a non-positive frame size', () => {
  assert.throws(() => new FrameMixer(0), RangeError);
});
