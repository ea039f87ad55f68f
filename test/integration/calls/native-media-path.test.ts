/**
 * The native media path end to end (real livekit-server, the simulator as Meta): Meta's Opus
 * reaches the room byte for byte, one agent's Opus reaches the user undecoded, a second speaker
 * switches the call to mixing and its leaving switches back without a hole. rtc-node is the
 * independent room participant; our
 * own participant (`src/livekit`) is only used where packets must be compared.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { dispose } from '@livekit/rtc-node';
import { SessionDescription } from '@livekit/protocol';
import { AccessToken } from 'livekit-server-sdk';
import { LiveKitParticipant } from '../../../src/livekit/index.js';
import { rmsDbfs, windowedToneShare } from '../../../src/media/tone.js';
import type { WhatsAppCall } from '../../../src/calls/whatsapp-call.js';
import type { RoomLeg } from '../../../src/room/room-leg.js';
import {
  RoomListener,
  acceptInboundCall,
  assertTone,
  eventually,
  sleep,
  startBridge,
  type Bridge,
} from './bridge-harness.js';

let bridge: Bridge;

before(async () => {
  bridge = await startBridge();
});

after(async () => {
  await bridge?.stop();
  await dispose();
});

function callOf(id: string): WhatsAppCall {
  const call = bridge.server.calls!.registry.get(id);
  assert.ok(call, `call ${id} is held`);
  return call;
}

interface LegCounters {
  framesDecoded: number;
  forwardedPackets: number;
  reencodedPackets: number;
}

function mediaStats(call: WhatsAppCall): LegCounters {
  return (call.media as unknown as { stats(): LegCounters }).stats();
}

async function token(roomName: string, identity: string): Promise<string> {
  const t = new AccessToken(bridge.lk.apiKey, bridge.lk.apiSecret, { identity });
  t.addGrant({ roomJoin: true, room: roomName, canSubscribe: true, canPublish: true });
  return t.toJwt();
}

const hex = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');

test("the room receives Meta's Opus payloads bit-exact (no decode, no encode), and keys as SipDTMF only", async () => {
  const userCall = await bridge.simulator.placeUserCall({
    from: '15550001001',
    voice: { kind: 'tone', frequencyHz: 440 },
  });
  // Every Opus payload "Meta" sends, as sent.
  const sent = new Set<string>();
  const relay = userCall.relay;
  const send = relay.send.bind(relay);
  relay.send = (packet) => {
    if (packet.payloadType === relay.opusPayloadType) sent.add(hex(packet.payload));
    send(packet);
  };
  const roomName = `bitexact-${Date.now()}`;
  const packets = await LiveKitParticipant.join({
    url: bridge.lk.wsUrl,
    token: await token(roomName, 'packet-listener'),
    ice: { hostAddresses: ['127.0.0.1'] },
  });
  const listener = await RoomListener.join(bridge.lk, roomName);
  const received: string[] = [];
  const digits: string[] = [];
  packets.on('dtmfReceived', (_code, digit) => digits.push(digit));
  packets.on('trackSubscribed', (track) => {
    if (track.participant.identity !== 'wa-caller') return;
    track.on('rtp', (p) => received.push(hex(p.payload)));
  });
  try {
    await bridge.client.acceptWhatsAppCall({
      whatsappPhoneNumberId: bridge.phoneNumberId,
      whatsappApiKey: bridge.accessToken,
      whatsappCloudApiVersion: '24.0',
      whatsappCallId: userCall.id,
      sdp: new SessionDescription({ type: 'offer', sdp: userCall.metaSdp }),
      roomName,
      participantIdentity: 'wa-caller',
      waitUntilAnswered: true,
    });
    await eventually(() => received.length >= 100, 15_000, 'packets in the room');
    // Keys pressed meanwhile reach the room as SipDTMF, never as audio packets.
    await userCall.pressDigits('12#');
    await eventually(() => digits.join('') === '12#', 10_000, `room digits (${digits.join('')})`);
    await eventually(() => received.length >= 200, 15_000, 'more packets in the room');
    const foreign = received.filter((p) => !sent.has(p));
    assert.equal(foreign.length, 0, `${foreign.length} of ${received.length} payloads not Meta's`);
    // Distinct payloads: an encoder in between would not reproduce Meta's bytes.
    assert.ok(new Set(received).size > 100, 'the tone is carried by many distinct payloads');
    const call = callOf(userCall.id);
    assert.equal(mediaStats(call).framesDecoded, 0, 'the connector decoded nothing from Meta');
    // The independent listener hears the user's tone.
    await sleep(1000);
    assertTone(listener.heard(1000), listener.sampleRate, 440, 'rtc-node listener');
  } finally {
    await bridge.client
      .disconnectWhatsAppCall(userCall.id, bridge.accessToken)
      .catch(() => undefined);
    await packets.leave();
    await listener.close();
  }
});

test('one agent is forwarded; a second speaker switches to mixing, and passthrough returns without a hole over 60 ms', async (t) => {
  const { userCall, roomName, listener } = await acceptInboundCall(bridge);
  const second = await RoomListener.join(bridge.lk, roomName, 'second-speaker');
  try {
    const call = callOf(userCall.id);
    const room = call.room as RoomLeg;
    await listener.speak(440);
    await eventually(() => mediaStats(call).forwardedPackets > 50, 10_000, 'agent forwarded');
    await sleep(1200);
    assert.equal(room.audioMode, 'passthrough');
    const before = mediaStats(call);
    assert.equal(before.reencodedPackets, 0, 'the agent fits Meta: forwarded unchanged');
    assertTone(userCall.recording().pcm.subarray(-16_000), 16_000, 440, 'user, one agent');

    await second.speak(1000);
    await eventually(() => room.audioMode === 'mixing', 10_000, 'mixing');
    await sleep(2000);
    const mixed = userCall.recording().pcm.subarray(-16_000);
    const share440 = windowedToneShare(mixed, 16_000, 440);
    const share1000 = windowedToneShare(mixed, 16_000, 1000);
    assert.ok(share440 > 0.25 && share1000 > 0.25, `mix: ${share440} / ${share1000}`);

    const leftAt = Date.now() - userCall.createdAt.valueOf();
    await second.close();
    await eventually(() => room.audioMode === 'passthrough', 10_000, 'passthrough again');
    await sleep(1500);
    // Around the switch (from the second speaker leaving to 1 s after): no silent stretch in what
    // the user heard exceeds 60 ms. Arrival gaps are reported, not asserted: on a loaded machine
    // they measure the scheduler as much as the switch (the sender's slots keep the media clock).
    const chunks = userCall.recording().chunks.filter((c) => c.atMs >= leftAt - 200);
    assert.ok(chunks.length > 50, `${chunks.length} frames after the switch`);
    let longestGap = 0;
    let silentRun = 0;
    let longestSilence = 0;
    for (let i = 0; i < chunks.length; i++) {
      if (i > 0) longestGap = Math.max(longestGap, chunks[i]!.atMs - chunks[i - 1]!.atMs);
      silentRun = rmsDbfs(chunks[i]!.samples) < -35 ? silentRun + 20 : 0;
      longestSilence = Math.max(longestSilence, silentRun);
    }
    t.diagnostic(`longest arrival gap around the switch: ${longestGap} ms`);
    assert.ok(longestSilence <= 60, `longest silence ${longestSilence} ms`);
    const after = mediaStats(call);
    assert.ok(after.forwardedPackets > before.forwardedPackets + 40, 'forwarding resumed');
    assertTone(userCall.recording().pcm.subarray(-16_000), 16_000, 440, 'user, agent again');
  } finally {
    await bridge.client
      .disconnectWhatsAppCall(userCall.id, bridge.accessToken)
      .catch(() => undefined);
    await second.close().catch(() => undefined);
    await listener.close();
  }
});
