import { afterEach, beforeEach, describe, mock, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  AcceptTimeoutError,
  CallEndedError,
  InvalidSdpError,
  MediaConnectError,
} from '../../../src/calls/call-errors.js';
import { InboundCall } from '../../../src/calls/inbound-call.js';
import {
  acceptParams,
  callBed,
  deferred,
  flush,
  metaRefusal,
  metaTimeout,
  refusalAfterTimeout,
  type CallBed,
} from './call-fakes.js';

beforeEach(() => mock.timers.enable({ apis: ['setTimeout', 'setInterval'] }));
afterEach(() => mock.timers.reset());

/** A call whose accept is under way; media connects when the test says so. */
function startAccept(bed: CallBed, ringingTimeoutMs = 30_000) {
  const call = new InboundCall(acceptParams({ ringingTimeoutMs }), bed.deps);
  const accepted = call.accept();
  accepted.catch(() => undefined);
  return { call, accepted };
}

async function advance(ms: number): Promise<void> {
  await flush();
  mock.timers.tick(ms);
  await flush();
}

describe('accepting a user-initiated call', () => {
  test('pre-accepts, joins the room, and accepts with the same SDP once media is up', async () => {
    const bed = callBed();
    const { call, accepted } = startAccept(bed);
    await flush();
    // pre_accept lets Meta start ICE while the room is joined; accept waits for media.
    assert.deepEqual(bed.graph.actions(), ['pre_accept']);
    assert.equal(call.state, 'accepting');
    assert.equal(bed.rooms.last?.attributes['whatsapp.callStatus'], 'ringing');
    bed.media.connect();
    await accepted;
    assert.deepEqual(bed.graph.actions(), ['pre_accept', 'accept']);
    assert.equal(call.state, 'active');
    assert.equal(bed.rooms.last?.attributes['whatsapp.callStatus'], 'active');
    assert.equal(bed.rooms.last?.attributes.tier, 'gold');
    assert.equal(bed.rooms.last?.attributes['whatsapp.callId'], 'wacid.fake-inbound');
  });

  test('a repeated accept joins the first: Meta sees one pre_accept and one accept', async () => {
    const bed = callBed();
    const { call, accepted } = startAccept(bed);
    const again = call.accept();
    assert.equal(again, accepted);
    await flush();
    bed.media.connect();
    await Promise.all([accepted, again]);
    assert.deepEqual(bed.graph.actions(), ['pre_accept', 'accept']);
    assert.equal(bed.rooms.legs.length, 1);
  });

  test('a terminate webhook during the accept ends the call with nothing sent to Meta', async () => {
    const bed = callBed();
    const preAccept = deferred<unknown>();
    bed.graph.script('pre_accept', preAccept);
    const { call, accepted } = startAccept(bed);
    await flush();
    // Meta reports the caller gone while our pre_accept is still on its way.
    await call.close('user_hangup', { endedAtMeta: true });
    preAccept.resolve(undefined);
    await assert.rejects(accepted, CallEndedError);
    assert.equal((await call.whenEnded()).kind, 'not_needed');
    assert.deepEqual(bed.graph.actions(), ['pre_accept']);
    assert.equal(call.endReason, 'user_hangup');
    assert.equal(call.state, 'ended');
  });

  test('an offer the media leg cannot answer fails with InvalidSdpError and declines the call', async () => {
    const bed = callBed();
    bed.media.rejectOffer = true;
    const { call, accepted } = startAccept(bed);
    await assert.rejects(accepted, InvalidSdpError);
    await call.whenEnded();
    // Nothing was answered at Meta, so the call is declined rather than left ringing.
    assert.deepEqual(bed.graph.actions(), ['reject']);
    assert.equal(call.endReason, 'failed');
    assert.equal(bed.rooms.legs.length, 0);
  });

  test('media that fails to connect fails the accept and terminates the pre-accepted call', async () => {
    const bed = callBed();
    const { call, accepted } = startAccept(bed);
    await flush();
    bed.media.end('ice-dtls-failed');
    await assert.rejects(accepted, MediaConnectError);
    await call.whenEnded();
    assert.deepEqual(bed.graph.actions(), ['pre_accept', 'terminate']);
  });
});

describe('ending an inbound call: reject only when Meta surely never answered it', () => {
  test('the ringing timeout before media is up ends it as no_answer, terminated because pre_accept was applied', async () => {
    const bed = callBed();
    const { call, accepted } = startAccept(bed, 5000);
    await advance(5000);
    await assert.rejects(accepted, AcceptTimeoutError);
    await call.whenEnded();
    assert.equal(call.endReason, 'no_answer');
    assert.deepEqual(bed.graph.actions(), ['pre_accept', 'terminate']);
  });

  test('the ringing timeout during a pre_accept waits for Meta: a pre_accept refused outright is rejected', async () => {
    const bed = callBed();
    const preAccept = deferred<unknown>();
    bed.graph.script('pre_accept', preAccept);
    const { call, accepted } = startAccept(bed, 5000);
    await advance(5000);
    assert.equal(call.state, 'ending');
    // The decision waits for Meta's answer to the request under way.
    assert.deepEqual(bed.graph.actions(), ['pre_accept']);
    preAccept.reject(metaRefusal());
    await assert.rejects(accepted, AcceptTimeoutError);
    await call.whenEnded();
    assert.deepEqual(bed.graph.actions(), ['pre_accept', 'reject']);
  });

  test('Meta timing out on accept ends the call with terminate, never reject', async () => {
    const bed = callBed();
    bed.graph.script('accept', metaTimeout());
    const { call, accepted } = startAccept(bed);
    await flush();
    bed.media.connect();
    await assert.rejects(accepted, (err: Error) => err.name === 'GraphTransportError');
    await call.whenEnded();
    assert.deepEqual(bed.graph.actions(), ['pre_accept', 'accept', 'terminate']);
    assert.equal(call.endReason, 'failed');
  });

  test('a refusal of accept after a timed-out attempt counts as maybe applied: terminate', async () => {
    const bed = callBed();
    bed.graph.script('accept', refusalAfterTimeout());
    const { call, accepted } = startAccept(bed);
    await flush();
    bed.media.connect();
    await assert.rejects(accepted);
    await call.whenEnded();
    assert.ok(!bed.graph.actions().includes('reject'));
    assert.equal(bed.graph.actions().at(-1), 'terminate');
  });

  test('a pre_accept Meta refused outright leaves a call that was never answered: reject', async () => {
    const bed = callBed();
    bed.graph.script('pre_accept', metaRefusal(100));
    const { call, accepted } = startAccept(bed);
    await assert.rejects(accepted, (err: Error) => err.name === 'GraphApiError');
    await call.whenEnded();
    assert.deepEqual(bed.graph.actions(), ['pre_accept', 'reject']);
  });

  test('a pre_accept that timed out is terminated even when the accept never went out', async () => {
    const bed = callBed();
    bed.graph.script('pre_accept', metaTimeout());
    const { call, accepted } = startAccept(bed);
    await assert.rejects(accepted);
    await call.whenEnded();
    assert.deepEqual(bed.graph.actions(), ['pre_accept', 'terminate']);
  });

  test('a reject Meta refuses is followed by a terminate', async () => {
    const bed = callBed();
    bed.graph.script('pre_accept', metaRefusal());
    bed.graph.script('reject', metaRefusal());
    const { call, accepted } = startAccept(bed);
    await assert.rejects(accepted);
    assert.equal((await call.whenEnded()).kind, 'confirmed');
    assert.deepEqual(bed.graph.actions(), ['pre_accept', 'reject', 'terminate']);
  });
});
