/**
 * A call whose LiveKit side breaks: the signal WebSocket is cut (the leg resumes), livekit-server
 * is killed and restarted on its port (the leg reconnects in full and audio flows again, or the
 * call ends at Meta), or killed for good (the call ends at Meta). Never half-alive: either audio
 * flows both ways again or Meta is told the call is over. Real livekit-server, the simulator as
 * Meta, rtc-node as the room participant.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { dispose } from '@livekit/rtc-node';
import { startLiveKitServer, type LiveKitServerHandle } from '../../../testbed/livekit-server.js';
import type { RoomLeg } from '../../../src/room/room-leg.js';
import { TcpProxy } from '../livekit/livekit-test-kit.js';
import {
  RoomListener,
  acceptInboundCall,
  assertTone,
  eventually,
  sleep,
  startBridge,
  type Bridge,
} from './bridge-harness.js';

const cleanups: (() => Promise<unknown>)[] = [];

after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  await dispose();
});

function roomOf(bridge: Bridge, callId: string): RoomLeg {
  const room = bridge.server.calls!.registry.get(callId)?.room;
  assert.ok(room, 'the call has a room leg');
  return room as RoomLeg;
}

/** Both directions carry their tones: the user's 440 Hz in the room, the room's 1000 Hz at the user. */
async function assertAudioBothWays(
  listener: RoomListener,
  userCall: { recording(): { pcm: Int16Array } },
  where: string,
): Promise<void> {
  await eventually(
    () => {
      assertTone(listener.heard(1000), listener.sampleRate, 440, `room, ${where}`);
      assertTone(userCall.recording().pcm.subarray(-16_000), 16_000, 1000, `user, ${where}`);
      return true;
    },
    5000,
    `audio both ways ${where}`,
  );
}

test('the signal WebSocket is cut mid-call: the room leg resumes and audio keeps flowing', async () => {
  let proxy: TcpProxy | undefined;
  const bridge = await startBridge({
    liveKitUrl: async (lk) => {
      proxy = await TcpProxy.start(lk.port);
      return proxy.url;
    },
  });
  cleanups.push(
    () => bridge.stop(),
    () => proxy!.close(),
  );
  const { userCall, listener } = await acceptInboundCall(bridge, { toneHz: 440 });
  cleanups.push(() => listener.close());
  await listener.speak(1000);
  await sleep(1500);
  await assertAudioBothWays(listener, userCall, 'before the cut');
  const room = roomOf(bridge, userCall.id);
  const sid = room.participantSid;
  const back: string[] = [];
  room.on('reconnected', (how) => back.push(how));

  proxy!.cut();
  await eventually(() => back.length > 0, 20_000, 'the room leg back');
  assert.deepEqual(back, ['resumed']);
  assert.equal(room.participantSid, sid, 'the same session');
  assert.equal(bridge.server.calls!.registry.get(userCall.id)?.state, 'active');
  await sleep(1000);
  await assertAudioBothWays(listener, userCall, 'after the resume');
  await bridge.client.disconnectWhatsAppCall(userCall.id, bridge.accessToken);
});

test('livekit-server is killed and restarted mid-call: the call comes back with audio, or ends at Meta', async () => {
  const bridge = await startBridge();
  let lk: LiveKitServerHandle = bridge.lk;
  cleanups.push(
    () => bridge.stop(),
    () => lk.stop(),
  );
  const { userCall, roomName, listener } = await acceptInboundCall(bridge, { toneHz: 440 });
  const room = roomOf(bridge, userCall.id);
  const back: string[] = [];
  room.on('reconnected', (how) => back.push(how));
  await listener.speak(1000);
  await sleep(1500);
  await assertAudioBothWays(listener, userCall, 'before the kill');

  const killedAt = performance.now();
  bridge.lk.process.child.kill('SIGKILL');
  lk = await startLiveKitServer({ port: bridge.lk.port });
  const call = bridge.server.calls!.registry.get(userCall.id)!;
  await eventually(() => back.length > 0 || call.isClosed, 30_000, 'reconnected or ended');
  console.log(
    `[measure] livekit-server killed → ${call.isClosed ? 'call ended' : back.join()} after ` +
      `${(performance.now() - killedAt).toFixed(0)} ms`,
  );
  if (call.isClosed) {
    // Not half-alive: Meta was told.
    await userCall.waitForState('ended', 15_000);
    return;
  }
  assert.deepEqual(back, ['reconnected'], 'a new session on the restarted server');
  // The old listener's server is gone: a new one joins the re-created room.
  await listener.close().catch(() => undefined);
  const fresh = await RoomListener.join(lk, roomName, 'listener-after-restart');
  cleanups.push(() => fresh.close());
  await fresh.waitForConnectorTrack();
  await fresh.speak(1000);
  await assertAudioBothWays(fresh, userCall, 'after the restart');
  assert.equal(call.state, 'active');
  await bridge.client.disconnectWhatsAppCall(userCall.id, bridge.accessToken);
});

test('livekit-server is killed for good: the call ends at Meta once the leg gives up', async () => {
  const bridge = await startBridge();
  cleanups.push(() => bridge.stop());
  const { userCall, listener } = await acceptInboundCall(bridge, { toneHz: 440 });
  cleanups.push(() => listener.close());
  const call = bridge.server.calls!.registry.get(userCall.id)!;
  bridge.lk.process.child.kill('SIGKILL');
  // The leg tries for ROOM_LEG_RECONNECT_TIMEOUT_MS (15 s); Meta keeps getting keep-alives.
  await eventually(() => call.isClosed, 40_000, 'the call ending');
  assert.equal(call.endReason, 'room_closed');
  await userCall.waitForState('ended', 15_000);
  assert.equal(userCall.endReason, 'business_terminate');
});
