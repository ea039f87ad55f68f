import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ParticipantKind, ParticipantKindDetail, dispose } from '@livekit/rtc-node';
import {
  ParticipantInfo_Kind,
  ParticipantInfo_KindDetail,
  RoomAgentDispatch,
} from '@livekit/protocol';
import { AgentDispatchClient, RoomServiceClient } from 'livekit-server-sdk';
import { analyseTone } from '../../../src/media/tone.js';
import { RoomParticipant } from './room-participant.js';
import {
  Direction,
  eventually,
  sleep,
  startTwilioStack,
  type TwilioStack,
} from './twilio-harness.js';
import { TwilioMediaStreamClient } from './twilio-media-stream-client.js';

/** A 0.3 full-scale sine is −13.5 dBFS; Opus, μ-law and two resamplers may move it a little. */
const TONE_DBFS = -13.5;
const LEVEL_TOLERANCE_DB = 3;

let stack: TwilioStack;
let rooms: RoomServiceClient;
const cleanup: Array<() => Promise<void> | void> = [];

before(async () => {
  stack = await startTwilioStack();
  rooms = new RoomServiceClient(stack.lk.httpUrl, stack.lk.apiKey, stack.lk.apiSecret);
});
// Each test's participants and streams go away with it: calls left running would load the
// (shared, two-core) machine and slow the next test's media.
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});
after(async () => {
  await stack?.stop();
  // rtc-node's native client keeps the process alive until disposed.
  await dispose();
});

/** A room with a listener already in it (as an agent would be), and a Twilio call into it. */
async function callInto(
  roomName: string,
  options: { listenerAutoSubscribe?: boolean; attributes?: Record<string, string> } = {},
) {
  const listener = await RoomParticipant.join(stack.lk, roomName, 'listener', {
    autoSubscribe: options.listenerAutoSubscribe ?? true,
  });
  cleanup.push(() => listener.close());
  const res = await stack.client.connectTwilioCall({
    twilioCallDirection: Direction.OUTBOUND,
    roomName,
    participantIdentity: 'twilio-caller',
    participantName: 'Twilio Caller',
    participantMetadata: '{"crm":7}',
    participantAttributes: options.attributes ?? { source: 'test' },
    destinationCountry: 'us',
  });
  return { listener, connectUrl: res.connectUrl };
}

async function startStream(connectUrl: string): Promise<TwilioMediaStreamClient> {
  const twilio = await TwilioMediaStreamClient.connect(connectUrl, {
    customParameters: { caller: '+15550001111' },
  });
  cleanup.push(() => twilio.close());
  return twilio;
}

function assertTone(pcm: Int16Array, rate: number, hz: number, who: string): void {
  const tone = analyseTone(pcm, rate, hz);
  assert.ok(Math.abs(tone.frequencyHz - hz) <= 10, `${who} heard ${tone.frequencyHz} Hz`);
  assert.ok(
    Math.abs(tone.levelDbfs - TONE_DBFS) <= LEVEL_TOLERANCE_DB,
    `${who} heard ${tone.levelDbfs.toFixed(1)} dBFS`,
  );
}

describe('a Twilio call in a room', { timeout: 90_000 }, () => {
  it('joins hidden at ConnectTwilioCall and shows up on start as CONNECTOR / CONNECTOR_TWILIO with its attributes', async () => {
    const { listener, connectUrl } = await callInto('twilio-visibility');
    assert.match(connectUrl, /^ws:\/\/127\.0\.0\.1:\d+\/twilio\/stream\/v1\./);
    const [hidden] = await rooms
      .listParticipants('twilio-visibility')
      .then((ps) => ps.filter((p) => p.identity === 'twilio-caller'));
    assert.ok(hidden, 'the connector participant is in the room');
    assert.equal(hidden.permission?.hidden, true);
    assert.equal(hidden.kind, ParticipantInfo_Kind.CONNECTOR);
    assert.deepEqual(hidden.kindDetails, [ParticipantInfo_KindDetail.CONNECTOR_TWILIO]);
    assert.equal(hidden.attributes['twilio.callStatus'], 'connecting');
    await sleep(300);
    assert.equal(listener.remote('twilio-caller'), undefined, 'others do not see it yet');

    const twilio = await startStream(connectUrl);
    const caller = await eventually(() => listener.remote('twilio-caller'), 10_000, 'caller');
    assert.equal(caller.kind, ParticipantKind.CONNECTOR);
    assert.deepEqual([...(caller.kindDetails ?? [])], [ParticipantKindDetail.CONNECTOR_TWILIO]);
    assert.equal(caller.name, 'Twilio Caller');
    assert.equal(caller.metadata, '{"crm":7}');
    const attrs = caller.attributes;
    assert.equal(attrs.source, 'test');
    assert.equal(attrs['twilio.callStatus'], 'active');
    assert.equal(attrs['twilio.callSid'], twilio.callSid);
    assert.equal(attrs['twilio.streamSid'], twilio.streamSid);
    assert.equal(attrs['twilio.direction'], 'outbound');
    assert.equal(attrs['twilio.destinationCountry'], 'US');
    assert.match(attrs['lk.connector.answerTime'] ?? '', /^\d{13}$/);
    // Caller data passed as <Parameter> is not published.
    assert.ok(!Object.values(attrs).includes('+15550001111'));
  });

  it('carries the caller’s tone into the room and the room’s tone to the caller (frequency and level)', async () => {
    const { listener, connectUrl } = await callInto('twilio-media');
    const twilio = await startStream(connectUrl);
    twilio.sendTone(440);
    await listener.speak(1000);
    // The listener was in the room before the stream started: it auto-subscribed while the
    // participant was hidden, and must still get the track.
    await eventually(
      () => analyseTone(listener.heard(1000), 48_000, 440).levelDbfs > -30,
      15_000,
      'the caller in the room',
    );
    await eventually(
      () => analyseTone(twilio.heard(1000), 8000, 1000).levelDbfs > -30,
      15_000,
      'the room at the caller',
    );
    await sleep(1000);
    assertTone(listener.heard(800), 48_000, 440, 'the room');
    assertTone(twilio.heard(800), 8000, 1000, 'the caller');
    // What the caller hears is exactly 20 ms per message, μ-law.
    for (const m of twilio.messages('media').slice(-5)) {
      const payload = (m.media as { payload: string }).payload;
      assert.equal(Buffer.from(payload, 'base64').length, 160);
      assert.equal(m.streamSid, twilio.streamSid);
    }
  });

  it('lets a participant that subscribes itself (like an agent) hear the caller, with no track interruption', async () => {
    const { listener, connectUrl } = await callInto('twilio-agent-like', {
      listenerAutoSubscribe: false,
    });
    const twilio = await startStream(connectUrl);
    twilio.sendTone(600);
    await eventually(
      () => analyseTone(listener.heard(800), 48_000, 600).levelDbfs > -30,
      15_000,
      'the caller heard by a self-subscribing participant',
    );
    assert.deepEqual(
      listener.observations.filter((o) => o.type === 'trackUnsubscribed'),
      [],
      'the track was never taken away and given back',
    );
  });

  it('sends a keypress into the room as SipDTMF from the connector participant', async () => {
    const { listener, connectUrl } = await callInto('twilio-dtmf');
    const twilio = await startStream(connectUrl);
    twilio.sendTone(0);
    await eventually(() => listener.remote('twilio-caller'), 10_000, 'caller');
    twilio.sendDtmf('5');
    twilio.sendDtmf('#');
    const dtmf = await eventually(
      () => {
        const seen = listener.observations.filter((o) => o.type === 'dtmf');
        return seen.length >= 2 ? seen : undefined;
      },
      10_000,
      'DTMF in the room',
    );
    assert.deepEqual(dtmf, [
      { type: 'dtmf', identity: 'twilio-caller', code: 5, digit: '5' },
      { type: 'dtmf', identity: 'twilio-caller', code: 11, digit: '#' },
    ]);
  });

  it('is transferred by call SID into another room: the Twilio stream stays, both rooms hear the caller in turn, attributes say where it went', async () => {
    const { listener, connectUrl } = await callInto('twilio-transfer-a');
    const twilio = await startStream(connectUrl);
    twilio.sendTone(440);
    await listener.speak(1000);
    await eventually(
      () => analyseTone(listener.heard(1000), 48_000, 440).levelDbfs > -30,
      15_000,
      'the caller in room A',
    );
    const human = await RoomParticipant.join(stack.lk, 'twilio-transfer-b', 'human');
    cleanup.push(() => human.close());
    await human.speak(700);
    const { AccessToken } = await import('livekit-server-sdk');
    const token = new AccessToken(stack.lk.apiKey, stack.lk.apiSecret, { ttl: 60 });
    token.addGrant({ roomCreate: true });
    const internal = `http://127.0.0.1:${stack.server.internalPort}`;
    const res = await fetch(`${internal}/api/calls/${twilio.callSid}/transfer`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${await token.toJwt()}` },
      body: JSON.stringify({ room: 'twilio-transfer-b', attributes: { handoff: 'yes' } }),
    });
    assert.equal(res.status, 200, await res.clone().text());
    assert.deepEqual(await res.json(), {
      callId: twilio.callSid,
      roomName: 'twilio-transfer-b',
      participantIdentity: 'twilio-caller',
    });
    const left = await eventually(
      () => listener.left('twilio-caller'),
      10_000,
      'the participant leaving room A',
    );
    assert.equal(left.attributes['twilio.endReason'], 'transferred');
    assert.equal(left.attributes['twilio.transferredTo'], 'twilio-transfer-b');
    const there = await eventually(() => human.remote('twilio-caller'), 10_000, 'in room B');
    assert.equal(there.attributes['twilio.callStatus'], 'active');
    assert.equal(there.attributes['twilio.callSid'], twilio.callSid);
    assert.equal(there.attributes['twilio.transferredFrom'], 'twilio-transfer-a');
    assert.equal(there.attributes.handoff, 'yes');
    await eventually(
      () => analyseTone(human.heard(1000), 48_000, 440).levelDbfs > -30,
      15_000,
      'the caller in room B',
    );
    await eventually(
      () => Math.abs(analyseTone(twilio.heard(1000), 8000, 700).frequencyHz - 700) <= 10,
      15_000,
      'room B at the caller',
    );
    assert.equal(stack.server.twilio!.find(twilio.callSid)?.roomName, 'twilio-transfer-b');
  });

  it('on stop sets twilio.endReason=stream_stopped, then the participant leaves', async () => {
    const { listener, connectUrl } = await callInto('twilio-stop');
    const twilio = await startStream(connectUrl);
    twilio.sendTone(0);
    await eventually(() => listener.remote('twilio-caller'), 10_000, 'caller');
    const stoppedAt = Date.now();
    twilio.sendStop();
    assert.deepEqual(await twilio.closed, { code: 1000, reason: 'stream stopped' });
    const left = await eventually(
      () => listener.left('twilio-caller'),
      10_000,
      'the participant leaving',
    );
    assert.ok(Date.now() - stoppedAt < 5000, 'left within seconds');
    assert.equal(left.attributes['twilio.callStatus'], 'hangup');
    assert.equal(left.attributes['twilio.endReason'], 'stream_stopped');
    const participants = await rooms.listParticipants('twilio-stop');
    assert.deepEqual(
      participants.map((p) => p.identity),
      ['listener'],
    );
  });

  it('gets its marks back, and clears Twilio’s queue after a playout stall so the caller hears the room live again', async () => {
    const { listener, connectUrl } = await callInto('twilio-marks');
    const twilio = await startStream(connectUrl);
    twilio.sendTone(0);
    await listener.speak(1000);
    await eventually(() => twilio.marksEchoed.length >= 2, 10_000, 'marks echoed');
    assert.deepEqual(twilio.clears, [], 'no clear while playout keeps up');
    const marks = twilio.messages('mark').map((m) => (m.mark as { name: string }).name);
    assert.deepEqual(twilio.marksEchoed, marks.slice(0, twilio.marksEchoed.length));

    // Twilio's playout stalls for 2.5 s: the audio sent meanwhile queues up behind it.
    twilio.stallPlayout(2500);
    await sleep(2600);
    assert.ok(twilio.queuedMs >= 2000, `${twilio.queuedMs} ms queued after the stall`);
    // The next mark to come back shows more than 1 s queued: the connector sends clear.
    await eventually(() => twilio.clears.length > 0, 5000, 'a clear');
    assert.ok(twilio.queuedMs < 500, `${twilio.queuedMs} ms queued after the clear`);
    await sleep(500);
    assertTone(twilio.heard(400), 8000, 1000, 'the caller after the clear');
    assert.equal(twilio.clears.length, 1, 'one clear is enough');
  });

  it('dispatches the requested agent exactly once, whether or not the room exists yet', async () => {
    const dispatches = new AgentDispatchClient(
      stack.lk.httpUrl,
      stack.lk.apiKey,
      stack.lk.apiSecret,
    );
    const agents = [new RoomAgentDispatch({ agentName: 'twilio-agent', metadata: '{"a":1}' })];
    // A new room: the hidden participant's join creates it, its token carries the dispatch.
    await stack.client.connectTwilioCall({
      twilioCallDirection: Direction.INBOUND,
      roomName: 'twilio-dispatch-new',
      agents,
    });
    // A room that exists already: the dispatch goes through the API.
    const early = await RoomParticipant.join(stack.lk, 'twilio-dispatch-existing', 'early');
    cleanup.push(() => early.close());
    await stack.client.connectTwilioCall({
      twilioCallDirection: Direction.INBOUND,
      roomName: 'twilio-dispatch-existing',
      agents,
    });
    for (const room of ['twilio-dispatch-new', 'twilio-dispatch-existing']) {
      const named = (await dispatches.listDispatch(room)).filter(
        (d) => d.agentName === 'twilio-agent',
      );
      assert.equal(named.length, 1, room);
      assert.equal(named[0]?.metadata, '{"a":1}', room);
    }
  });
});
