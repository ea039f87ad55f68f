import { afterEach, beforeEach, describe, mock, test } from 'node:test';
import assert from 'node:assert/strict';
import { InboundCall } from '../../../src/calls/inbound-call.js';
import { OutboundCall } from '../../../src/calls/outbound-call.js';
import type { CallSettings } from '../../../src/calls/whatsapp-call.js';
import {
  acceptParams,
  callBed,
  deferred,
  dialParams,
  flush,
  FRAME,
  metaRefusal,
  metaTimeout,
  type CallBed,
} from './call-fakes.js';

beforeEach(() => mock.timers.enable({ apis: ['setTimeout', 'setInterval'] }));
afterEach(() => mock.timers.reset());

async function advance(ms: number, step = 250): Promise<void> {
  for (let t = 0; t < ms; t += step) {
    await flush();
    mock.timers.tick(Math.min(step, ms - t));
  }
  await flush();
}

/** An inbound call accepted and active (Meta has accepted it; no RTP counted yet). */
async function answeredCall(settings: Partial<CallSettings> = {}) {
  const bed = callBed(settings);
  const call = new InboundCall(acceptParams(), bed.deps);
  const accepted = call.accept();
  await flush();
  bed.media.connect();
  await accepted;
  return { bed, call };
}

describe('timers of an answered call', () => {
  test('the media watchdog is armed at answer: a call that never gets RTP ends as media_timeout', async () => {
    const { bed, call } = await answeredCall({ mediaTimeoutMs: 2000 });
    await advance(1750);
    assert.equal(call.state, 'active');
    await advance(500);
    assert.equal(call.endReason, 'media_timeout');
    await call.whenEnded();
    assert.equal(bed.graph.actions().at(-1), 'terminate');
  });

  test('the media watchdog leaves a call alone while RTP flows, and ends it when RTP stops', async () => {
    const { bed, call } = await answeredCall({ mediaTimeoutMs: 2000 });
    for (let t = 0; t < 10; t++) {
      bed.media.receive();
      await advance(500);
    }
    assert.equal(call.state, 'active');
    await advance(2500);
    assert.equal(call.endReason, 'media_timeout');
  });

  test('a call reaching the maximum duration ends as max_duration; 0 means no limit', async () => {
    const limited = await answeredCall({ maxDurationMs: 60_000, mediaTimeoutMs: 600_000 });
    const unlimited = await answeredCall({ maxDurationMs: 0, mediaTimeoutMs: 600_000 });
    await advance(59_000, 1000);
    assert.equal(limited.call.state, 'active');
    await advance(2000, 1000);
    assert.equal(limited.call.endReason, 'max_duration');
    assert.equal(unlimited.call.state, 'active');
  });

  test('an unanswered call has no media watchdog: ringing without RTP is not a media timeout', async () => {
    const bed = callBed({ mediaTimeoutMs: 1000 });
    const call = new OutboundCall(dialParams({ ringingTimeoutMs: 20_000 }), bed.deps);
    await call.dial(() => undefined);
    await advance(10_000, 500);
    assert.equal(call.state, 'dialing');
  });
});

describe('the end of a call', () => {
  async function activeOutbound(bed: CallBed): Promise<OutboundCall> {
    const call = new OutboundCall(dialParams(), bed.deps);
    await call.dial(() => undefined);
    await call.applyAnswer('v=0 meta-answer');
    call.applyStatus('ACCEPTED');
    return call;
  }

  test('the room is told why the call ended before the connector leaves with that reason', async () => {
    const bed = callBed();
    const call = await activeOutbound(bed);
    await call.close('business_hangup');
    const room = bed.rooms.last!;
    assert.deepEqual(room.attributeUpdates.at(-1), {
      'whatsapp.callStatus': 'hangup',
      'whatsapp.callId': 'wacid.fake-outbound',
      'whatsapp.phoneNumber': '15551230002',
      'whatsapp.direction': 'outbound',
      'whatsapp.endReason': 'business_hangup',
    });
    assert.equal(room.closedWith, 'business_hangup');
    assert.equal(bed.media.state, 'closed');
  });

  test('close is idempotent: the first reason wins and Meta is told once', async () => {
    const bed = callBed();
    const call = await activeOutbound(bed);
    const first = call.close('room_closed');
    const second = call.close('business_hangup');
    await Promise.all([first, second]);
    await call.whenEnded();
    assert.equal(call.endReason, 'room_closed');
    assert.equal(bed.graph.actions().filter((a) => a === 'terminate').length, 1);
    assert.equal(bed.media.closeCalls, 1);
    assert.equal(bed.rooms.last?.closedWith, 'room_closed');
  });

  test('close never throws, even when the legs fail to close', async () => {
    const bed = callBed();
    const call = await activeOutbound(bed);
    bed.media.close = async () => {
      throw new Error('transport exploded');
    };
    bed.rooms.last!.close = async () => {
      throw new Error('room exploded');
    };
    await call.close('business_hangup');
    assert.equal((await call.whenEnded()).kind, 'confirmed');
  });

  test('the room deleted or the participant removed ends the call at Meta', async () => {
    const bed = callBed();
    const call = await activeOutbound(bed);
    bed.rooms.last!.disconnect('participant-removed');
    await call.whenEnded();
    assert.equal(call.endReason, 'participant_removed');
    assert.equal(bed.graph.actions().at(-1), 'terminate');
  });

  test('Meta closing DTLS is the user hanging up: nothing is sent to Meta', async () => {
    const bed = callBed();
    const call = await activeOutbound(bed);
    bed.media.end('peer-closed');
    assert.equal((await call.whenEnded()).kind, 'not_needed');
    assert.equal(call.endReason, 'user_hangup');
    assert.deepEqual(bed.graph.actions(), ['connect']);
  });

  test('a terminate Meta does not confirm keeps the call ending and is retried with backoff until it does', async () => {
    const bed = callBed({
      metaEndRetry: { initialDelayMs: 1000, maxDelayMs: 4000, giveUpAfterMs: 600_000 },
    });
    const call = await activeOutbound(bed);
    bed.graph.script('terminate', metaTimeout(), metaTimeout(), metaTimeout());
    await call.close('business_hangup');
    await flush();
    assert.equal(call.state, 'ending');
    assert.equal(call.summary().state, 'ending');
    await advance(1000);
    assert.equal(bed.graph.actions().filter((a) => a === 'terminate').length, 2);
    await advance(2000);
    assert.equal(bed.graph.actions().filter((a) => a === 'terminate').length, 3);
    assert.equal(call.state, 'ending');
    await advance(4000);
    assert.equal(bed.graph.actions().filter((a) => a === 'terminate').length, 4);
    assert.equal((await call.whenEnded()).kind, 'confirmed');
    assert.equal(call.state, 'ended');
  });

  test('a terminate webhook while the end is being retried settles it at once', async () => {
    const bed = callBed();
    const call = await activeOutbound(bed);
    bed.graph.script('terminate', metaTimeout());
    await call.close('business_hangup');
    await flush();
    assert.equal(call.state, 'ending');
    call.confirmEndedAtMeta();
    assert.equal((await call.whenEnded()).kind, 'confirmed');
    assert.equal(bed.graph.actions().filter((a) => a === 'terminate').length, 1);
  });

  test('a terminate Meta refuses for good ends the call here and reports the refusal', async () => {
    const bed = callBed();
    const call = await activeOutbound(bed);
    bed.graph.script('terminate', metaRefusal(190, 401));
    await call.close('business_hangup');
    const outcome = await call.whenEnded();
    assert.equal(outcome.kind, 'refused');
    assert.equal(call.state, 'ended');
  });

  test('rate limiting is waited out: a 429 on terminate is retried', async () => {
    const bed = callBed();
    const call = await activeOutbound(bed);
    bed.graph.script('terminate', metaRefusal(130429, 429));
    await call.close('business_hangup');
    await advance(1000);
    assert.equal((await call.whenEnded()).kind, 'confirmed');
    assert.equal(bed.graph.actions().filter((a) => a === 'terminate').length, 2);
  });

  test('ending uses the access token the disconnect brought', async () => {
    const bed = callBed();
    const call = await activeOutbound(bed);
    await call.close('business_hangup', { accessToken: 'EAAB-rotated' });
    await call.whenEnded();
    assert.equal(bed.graph.requests.at(-1)?.accessToken, 'EAAB-rotated');
  });

  test('abandoning the retries (shutdown) ends the call as far as we can tell', async () => {
    const bed = callBed();
    const call = await activeOutbound(bed);
    const pending = deferred<unknown>();
    bed.graph.script('terminate', metaTimeout(), pending);
    await call.close('shutdown');
    await flush();
    call.abandonMetaEnd();
    assert.equal((await call.whenEnded()).kind, 'gave_up');
  });
});

describe('pumps between the legs', () => {
  test('audio and DTMF flow both ways while the call is up, and stop when it closes', async () => {
    const bed = callBed();
    const call = new OutboundCall(dialParams(), bed.deps);
    await call.dial(() => undefined);
    const room = bed.rooms.last!;
    room.mix(FRAME);
    room.dtmf('5');
    bed.media.receive();
    assert.equal(bed.media.audioSent.length, 1);
    assert.deepEqual(bed.media.dtmfSent, ['5']);
    assert.equal(room.callerFrames, 1);
    await call.close('business_hangup');
    room.mix(FRAME);
    assert.equal(bed.media.audioSent.length, 1);
  });
});

describe('the native audio path', () => {
  test("Meta's Opus goes to the room undecoded; the room's mode picks what the media leg sends", async () => {
    const bed = callBed();
    const call = new OutboundCall(dialParams(), bed.deps);
    await call.dial(() => undefined);
    const room = bed.rooms.last!;
    assert.equal(bed.media.pcmOutput, false, 'the media leg never decodes for the room');
    assert.equal(bed.media.source, 'opus', 'one agent (or none): forwarded Opus');
    bed.media.receive();
    assert.equal(room.callerFrames, 1);
    room.agentOpus(7);
    assert.equal(bed.media.opusSent.length, 1);
    room.switchAudio('mixing');
    assert.equal(bed.media.source, 'pcm');
    room.mix(FRAME);
    assert.equal(bed.media.audioSent.length, 1);
    room.switchAudio('passthrough');
    assert.equal(bed.media.source, 'opus');
    await call.close('business_hangup');
    room.agentOpus(8);
    assert.equal(bed.media.opusSent.length, 1, 'nothing forwarded after close');
  });

  test('ringback plays while a dialled call rings (setting on) and stops when the user answers', async () => {
    const bed = callBed({ playRingback: true });
    const call = new OutboundCall(dialParams(), bed.deps);
    await call.dial(() => undefined);
    const room = bed.rooms.last!;
    assert.deepEqual(room.ringback, [false], 'not while Meta has not answered the offer');
    await call.applyAnswer('v=0 meta-answer');
    assert.deepEqual(room.ringback, [false, true]);
    call.applyStatus('ACCEPTED');
    assert.deepEqual(room.ringback, [false, true, false]);
    await call.close('business_hangup');
  });

  test('ringback is off by default, and never plays for a user-initiated call', async () => {
    const bed = callBed();
    const call = new OutboundCall(dialParams(), bed.deps);
    await call.dial(() => undefined);
    await call.applyAnswer('v=0 meta-answer');
    assert.ok(!bed.rooms.last!.ringback.includes(true));
    await call.close('business_hangup');
    const { bed: inbound, call: answered } = await answeredCall({ playRingback: true });
    assert.ok(!inbound.rooms.last!.ringback.includes(true));
    await answered.close('business_hangup');
  });
});
