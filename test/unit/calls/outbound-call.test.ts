import { afterEach, beforeEach, describe, mock, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  AcceptTimeoutError,
  CallEndedError,
  InvalidSdpError,
  NoCallPermissionError,
  RoomJoinError,
} from '../../../src/calls/call-errors.js';
import { OutboundCall } from '../../../src/calls/outbound-call.js';
import {
  callBed,
  deferred,
  dialParams,
  flush,
  metaRefusal,
  metaTimeout,
  type CallBed,
} from './call-fakes.js';

beforeEach(() => mock.timers.enable({ apis: ['setTimeout', 'setInterval'] }));
afterEach(() => mock.timers.reset());

async function advance(ms: number): Promise<void> {
  await flush();
  mock.timers.tick(ms);
  await flush();
}

function startDial(bed: CallBed, ringingTimeoutMs = 30_000) {
  const call = new OutboundCall(dialParams({ ringingTimeoutMs }), bed.deps);
  const placed: string[] = [];
  const dialled = call.dial((c) => placed.push(c.callId));
  dialled.catch(() => undefined);
  return { call, dialled, placed };
}

describe('dialling', () => {
  test('offers to Meta while joining the room; the call is registered as soon as Meta names it', async () => {
    const bed = callBed();
    const join = bed.rooms.hold();
    const { call, dialled, placed } = startDial(bed);
    await flush();
    // Meta has named the call; the room join is still under way.
    assert.deepEqual(placed, ['wacid.fake-outbound']);
    assert.equal(call.callId, 'wacid.fake-outbound');
    join.resolve();
    await dialled;
    assert.equal(call.state, 'dialing');
    const attrs = bed.rooms.last!.attributes;
    assert.equal(attrs['whatsapp.callId'], 'wacid.fake-outbound');
    assert.equal(attrs['whatsapp.phoneNumber'], '15551230002');
    assert.equal(attrs['whatsapp.direction'], 'outbound');
  });

  test('a call closed while Meta is placing it is terminated once Meta names it, and the dial fails', async () => {
    const bed = callBed();
    const connect = deferred<unknown>();
    bed.graph.script('connect', connect);
    const { call, dialled, placed } = startDial(bed);
    await flush();
    await call.close('shutdown');
    // Nothing to end yet: the end waits for Meta's answer to the connect.
    assert.deepEqual(bed.graph.actions(), ['connect']);
    connect.resolve(undefined);
    await assert.rejects(dialled, CallEndedError);
    await call.whenEnded();
    assert.deepEqual(placed, ['wacid.fake-outbound']);
    assert.deepEqual(bed.graph.requests.at(-1), {
      action: 'terminate',
      callId: 'wacid.fake-outbound',
      accessToken: 'EAAB-secret',
    });
  });

  test("Meta's refusal for lack of permission is NoCallPermissionError and leaves nothing running", async () => {
    const bed = callBed();
    bed.graph.script('connect', metaRefusal(138006, 401));
    const { call, dialled, placed } = startDial(bed);
    await assert.rejects(dialled, NoCallPermissionError);
    assert.equal((await call.whenEnded()).kind, 'not_needed');
    assert.deepEqual(placed, []);
    assert.deepEqual(bed.graph.actions(), ['connect']);
    assert.equal(bed.media.state, 'closed');
    assert.ok(bed.rooms.last?.closed, 'the room leg left');
  });

  test('a user already in a call ends the dial as busy, and the room is told', async () => {
    const bed = callBed();
    bed.graph.script('connect', metaRefusal(138003));
    const { call, dialled } = startDial(bed);
    await assert.rejects(dialled);
    await call.whenEnded();
    assert.equal(call.endReason, 'busy');
    assert.equal(bed.rooms.last?.attributes['whatsapp.endReason'], 'busy');
    assert.equal(bed.rooms.last?.attributes['whatsapp.callStatus'], 'hangup');
    assert.equal(bed.rooms.last?.closedWith, 'busy');
  });

  test('a connect that timed out is not repeated and nothing can be terminated without an id', async () => {
    const bed = callBed();
    bed.graph.script('connect', metaTimeout());
    const { call, dialled } = startDial(bed);
    await assert.rejects(dialled, (err: Error) => err.name === 'GraphTransportError');
    await call.whenEnded();
    assert.deepEqual(bed.graph.actions(), ['connect']);
    assert.equal(call.endReason, 'failed');
  });

  test('a room that cannot be joined fails the dial and terminates the call Meta placed', async () => {
    const bed = callBed();
    bed.rooms.failWith(new Error('livekit-server unreachable'));
    const { call, dialled } = startDial(bed);
    await assert.rejects(dialled, RoomJoinError);
    await call.whenEnded();
    assert.deepEqual(bed.graph.actions(), ['connect', 'terminate']);
  });
});

describe('a dialled call ringing and answered', () => {
  test("Meta's answer is applied once when the API and the webhook both deliver it", async () => {
    const bed = callBed();
    const { call, dialled } = startDial(bed);
    await dialled;
    await Promise.all([call.applyAnswer('v=0 meta-answer'), call.applyAnswer('v=0 meta-answer')]);
    assert.deepEqual(bed.media.answersApplied, ['v=0 meta-answer']);
    assert.equal(call.state, 'ringing');
  });

  test('an unusable answer is InvalidSdpError, and a later good answer still applies', async () => {
    const bed = callBed();
    const { call, dialled } = startDial(bed);
    await dialled;
    await assert.rejects(call.applyAnswer('v=0 unusable'), InvalidSdpError);
    await call.applyAnswer('v=0 meta-answer');
    assert.equal(call.state, 'ringing');
  });

  test('the ringing timeout ends an unanswered call as no_answer, terminates it, and fails the waiters', async () => {
    const bed = callBed();
    const { call, dialled } = startDial(bed, 10_000);
    await dialled;
    await call.applyAnswer('v=0 meta-answer');
    const waiting = call.waitUntilAnswered();
    waiting.catch(() => undefined);
    await advance(10_000);
    await assert.rejects(waiting, AcceptTimeoutError);
    await call.whenEnded();
    assert.equal(call.endReason, 'no_answer');
    assert.deepEqual(bed.graph.actions(), ['connect', 'terminate']);
  });

  test('an answer before the ringing timeout keeps the call up past it', async () => {
    const bed = callBed();
    const { call, dialled } = startDial(bed, 10_000);
    await dialled;
    await call.applyAnswer('v=0 meta-answer');
    await advance(9_000);
    call.applyStatus('ACCEPTED');
    await call.waitUntilAnswered();
    bed.media.receive();
    for (let t = 0; t < 5; t++) {
      await advance(1000);
      bed.media.receive();
    }
    assert.equal(call.state, 'active');
    assert.deepEqual(bed.graph.actions(), ['connect']);
  });

  test("the user's first audio answers the call even without the ACCEPTED webhook", async () => {
    const bed = callBed();
    const { call, dialled } = startDial(bed);
    await dialled;
    await call.applyAnswer('v=0 meta-answer');
    bed.media.receive();
    assert.equal(call.state, 'active');
    assert.equal(bed.rooms.last?.callerFrames, 1);
  });

  test('a REJECTED status ends the call as rejected with nothing sent to Meta', async () => {
    const bed = callBed();
    const { call, dialled } = startDial(bed);
    await dialled;
    call.applyStatus('REJECTED');
    await call.whenEnded();
    assert.equal(call.endReason, 'rejected');
    assert.deepEqual(bed.graph.actions(), ['connect']);
    assert.equal(bed.rooms.last?.attributes['whatsapp.endReason'], 'rejected');
  });
});
