import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { ParticipantKindDetail, dispose } from '@livekit/rtc-node';
import { ConnectTwilioCallRequest_TwilioCallDirection as Direction } from '@livekit/protocol';
import { analyseTone } from '../../../src/media/tone.js';
import { eventually } from '../calls/bridge-harness.js';
import { RoomParticipant } from '../twilio/room-participant.js';
import { openSocket, TwilioMediaStreamClient } from '../twilio/twilio-media-stream-client.js';
import {
  KEY_PREFIX,
  startClusterBed,
  type ClusterBed,
  type ClusterInstance,
} from './cluster-harness.js';

// Two instances on a real Redis, as behind one load balancer (or `serve --processes`): Twilio's
// stream for a connect URL node-a issued reaches node-b.
let bed: ClusterBed;
let a: ClusterInstance;
let b: ClusterInstance;

before(async () => {
  bed = await startClusterBed();
  a = await bed.startInstance('relay-a');
  b = await bed.startInstance('relay-b');
  await eventually(
    async () => (await b.server.cluster!.peersWithCapacity()).some((p) => p.id === 'relay-a'),
    10_000,
    'relay-b sees relay-a',
  );
});

after(async () => {
  await bed?.stop();
  await dispose();
});

/** The same connect URL, but on `instance`'s listener (what a load balancer does). */
function onInstance(connectUrl: string, instance: ClusterInstance): string {
  const url = new URL(connectUrl);
  return `${instance.url.replace(/^http/, 'ws')}${url.pathname}`;
}

test('a stream for a URL issued by one instance that reaches another is relayed there: the caller joins and audio flows both ways', async () => {
  const roomName = `relay-${Date.now()}`;
  const listener = await RoomParticipant.join(bed.lk, roomName, 'listener');
  let twilio: TwilioMediaStreamClient | undefined;
  try {
    const { connectUrl } = await a.client.connectTwilioCall({
      twilioCallDirection: Direction.INBOUND,
      roomName,
      participantIdentity: 'twilio-caller',
    });
    assert.ok(connectUrl.startsWith(a.url.replace(/^http/, 'ws')), connectUrl);
    const sessionId = new URL(connectUrl).pathname.split('.')[1];
    assert.equal(await bed.inspect.get(`${KEY_PREFIX}twilio-stream:${sessionId}`), 'relay-a');

    twilio = await TwilioMediaStreamClient.connect(onInstance(connectUrl, b));
    const caller = await eventually(() => listener.remote('twilio-caller'), 10_000, 'caller');
    assert.deepEqual([...(caller!.kindDetails ?? [])], [ParticipantKindDetail.CONNECTOR_TWILIO]);
    assert.equal(a.server.twilio!.list().filter((c) => c.roomName === roomName).length, 1);
    assert.equal(b.server.twilio!.list().filter((c) => c.roomName === roomName).length, 0);
    const metrics = await (await fetch(`${b.internalUrl}/metrics`)).text();
    assert.match(
      metrics,
      /^whatsapp_connector_cluster_forwarded_requests_total\{operation="twilio-stream",outcome="relayed"\} 1$/m,
    );

    twilio.sendTone(440);
    await listener.speak(1000);
    await eventually(
      () => analyseTone(listener.heard(800), 48_000, 440).levelDbfs > -30,
      15_000,
      'the caller in the room, through the relay',
    );
    await eventually(
      () => analyseTone(twilio!.heard(800), 8000, 1000).levelDbfs > -30,
      15_000,
      'the room at the caller, through the relay',
    );

    // Single use holds across instances: the URL is spent, wherever it is presented again.
    for (const instance of [a, b]) {
      const again = await openSocket(onInstance(connectUrl, instance));
      assert.ok(!('readyState' in again), 'refused');
      assert.equal((again as { status: number }).status, 409);
    }

    // Twilio hangs up: the participant leaves the room.
    twilio.ws.close();
    await eventually(
      () => listener.remote('twilio-caller') === undefined,
      10_000,
      'the caller left the room',
    );
  } finally {
    twilio?.close();
    await listener.close();
  }
});

test('a genuine URL no instance holds is refused with 404 on every instance, not relayed in circles', async () => {
  const roomName = `relay-gone-${Date.now()}`;
  const { connectUrl } = await a.client.connectTwilioCall({
    twilioCallDirection: Direction.OUTBOUND,
    roomName,
    participantIdentity: 'twilio-gone',
  });
  const sessionId = new URL(connectUrl).pathname.split('.')[1]!;
  // The holder forgets the call (as after its restart) but the cluster's entry still names it.
  const call = a.server.twilio!.find(sessionId);
  assert.ok(call);
  await call.end('room_closed');
  const refused = await openSocket(onInstance(connectUrl, b));
  assert.equal((refused as { status: number }).status, 410, 'the holder says the call ended');
  // Now an entry naming an instance that is gone.
  await bed.inspect.set(`${KEY_PREFIX}twilio-stream:${sessionId}`, 'relay-nobody', 'PX', 60_000);
  const unknown = await openSocket(onInstance(connectUrl, b));
  assert.equal((unknown as { status: number }).status, 404);
});
