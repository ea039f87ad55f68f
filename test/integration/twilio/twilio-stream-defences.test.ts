import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { dispose } from '@livekit/rtc-node';
import { RoomServiceClient } from 'livekit-server-sdk';
import { RoomParticipant } from './room-participant.js';
import {
  Direction,
  eventually,
  sleep,
  startTwilioStack,
  type TwilioStack,
} from './twilio-harness.js';
import { TwilioMediaStreamClient } from './twilio-media-stream-client.js';

/** The bound: the participant leaves "within seconds" of the stream ending. */
const LEAVE_WITHIN_MS = 5000;

let stack: TwilioStack;
let rooms: RoomServiceClient;
const cleanup: Array<() => Promise<void> | void> = [];

before(async () => {
  stack = await startTwilioStack({ TWILIO_STREAM_TIMEOUT_SECONDS: '2' });
  rooms = new RoomServiceClient(stack.lk.httpUrl, stack.lk.apiKey, stack.lk.apiSecret);
});
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});
after(async () => {
  await stack?.stop();
  await dispose();
});

/** A listener in `roomName`, a Twilio call into it, and its stream started. */
async function liveCall(roomName: string) {
  const listener = await RoomParticipant.join(stack.lk, roomName, 'listener');
  cleanup.push(() => listener.close());
  const { connectUrl } = await stack.client.connectTwilioCall({
    twilioCallDirection: Direction.INBOUND,
    roomName,
    participantIdentity: 'twilio-caller',
  });
  const twilio = await TwilioMediaStreamClient.connect(connectUrl);
  cleanup.push(() => twilio.close());
  twilio.sendTone(440);
  await eventually(() => listener.remote('twilio-caller'), 10_000, 'the caller in the room');
  return { listener, twilio };
}

/** Wait for the caller to leave the room and return the end reason it left with. */
async function endReasonWhenLeft(listener: RoomParticipant, sinceMs: number): Promise<string> {
  const left = await eventually(() => listener.left('twilio-caller'), 15_000, 'the caller leaving');
  assert.ok(
    performance.now() - sinceMs < LEAVE_WITHIN_MS,
    `left ${Math.round(performance.now() - sinceMs)} ms after`,
  );
  assert.equal(left.attributes['twilio.callStatus'], 'hangup');
  return left.attributes['twilio.endReason'] ?? '';
}

describe('a Twilio media stream', { timeout: 60_000 }, () => {
  it('closes with 1008 and the reason after too many malformed frames; the caller leaves with protocol_error', async () => {
    const { listener, twilio } = await liveCall('twilio-malformed');
    const since = performance.now();
    for (let i = 0; i < 10; i++) twilio.sendRaw('{"event":"media","streamSid":"MZ"}');
    await sleep(300);
    assert.equal(twilio.ws.readyState, twilio.ws.OPEN, 'ten malformed frames are tolerated');
    twilio.sendRaw('this is not JSON');
    assert.deepEqual(await twilio.closed, {
      code: 1008,
      reason: 'too many malformed frames (last: not JSON)',
    });
    assert.equal(await endReasonWhenLeft(listener, since), 'protocol_error');
  });

  it('closes a media flood (ten seconds of audio at once) with 1008; the caller leaves with media_flood', async () => {
    const { listener, twilio } = await liveCall('twilio-flood');
    twilio.stopSending();
    const since = performance.now();
    // Ten seconds of audio at once.
    const frame = new Uint8Array(160).fill(0xff);
    for (let i = 0; i < 500; i++) twilio.sendMedia(frame);
    const closed = await twilio.closed;
    assert.deepEqual(closed, {
      code: 1008,
      reason: 'media flood: more than 2000 ms of audio beyond real time',
    });
    assert.equal(await endReasonWhenLeft(listener, since), 'media_flood');
  });

  it('ends a stream that goes silent within seconds (media_timeout, 1001)', async () => {
    const { listener, twilio } = await liveCall('twilio-silent');
    twilio.stopSending();
    const since = performance.now();
    assert.deepEqual(await twilio.closed, { code: 1001, reason: 'no media for 2000 ms' });
    assert.equal(await endReasonWhenLeft(listener, since), 'media_timeout');
  });

  it('ends the call when the WebSocket drops without a stop (stream_closed)', async () => {
    const { listener, twilio } = await liveCall('twilio-dropped');
    const since = performance.now();
    twilio.ws.terminate();
    assert.equal(await endReasonWhenLeft(listener, since), 'stream_closed');
  });

  it('closes the stream (1000, room closed) when the room is deleted', async () => {
    const { twilio } = await liveCall('twilio-room-deleted');
    await rooms.deleteRoom('twilio-room-deleted');
    assert.deepEqual(await twilio.closed, { code: 1000, reason: 'room closed' });
  });

  it('refuses a start for audio other than 8 kHz μ-law with 1008, and the caller never shows', async () => {
    const listener = await RoomParticipant.join(stack.lk, 'twilio-format', 'listener');
    cleanup.push(() => listener.close());
    const { connectUrl } = await stack.client.connectTwilioCall({
      twilioCallDirection: Direction.INBOUND,
      roomName: 'twilio-format',
      participantIdentity: 'twilio-caller',
    });
    const twilio = await TwilioMediaStreamClient.connect(connectUrl, {
      mediaFormat: { encoding: 'audio/x-l16', sampleRate: 16000, channels: 1 },
    });
    cleanup.push(() => twilio.close());
    const closed = await twilio.closed;
    assert.equal(closed.code, 1008);
    assert.match(closed.reason, /^unsupported media format audio\/x-l16\/16000\/1/);
    await eventually(
      async () => (await rooms.listParticipants('twilio-format')).length === 1,
      10_000,
      'the hidden participant leaving',
    );
    assert.equal(listener.remote('twilio-caller'), undefined);
    assert.equal(
      listener.observations.some((o) => o.type === 'joined'),
      false,
      'it was never visible',
    );
  });

  it('closes the socket (1009) on a message larger than 64 KiB', async () => {
    const { listener, twilio } = await liveCall('twilio-oversized');
    const since = performance.now();
    twilio.sendRaw(`{"event":"media","pad":"${'x'.repeat(70_000)}"}`);
    assert.equal((await twilio.closed).code, 1009);
    assert.equal(await endReasonWhenLeft(listener, since), 'stream_closed');
  });
});
