import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { dispose } from '@livekit/rtc-node';
import { RoomServiceClient } from 'livekit-server-sdk';
import { startLiveKitServer, type LiveKitServerHandle } from '../../../testbed/livekit-server.js';
import {
  DisconnectReason,
  LiveKitError,
  LiveKitParticipant,
  ParticipantKind,
  type RemoteAudioTrack,
  type RemoteParticipant,
} from '../../../src/livekit/index.js';
import {
  OpusToneWriter,
  RtcNodePeer,
  RtpToneReceiver,
  assertTone,
  participantToken,
  uniqueRoom,
  waitFor,
} from './livekit-test-kit.js';

let lk: LiveKitServerHandle;

before(async () => {
  lk = await startLiveKitServer();
});

after(async () => {
  await dispose();
  await lk?.stop();
});

async function joinParticipant(room: string, identity = 'werift') {
  return LiveKitParticipant.join({
    url: lk.wsUrl,
    token: await participantToken(lk, room, identity),
    ice: { hostAddresses: ['127.0.0.1'] },
  });
}

/** The remote track from `identity`, already subscribed or the next one. */
function trackFrom(participant: LiveKitParticipant, identity: string): Promise<RemoteAudioTrack> {
  for (const track of participant.remoteTracks.values()) {
    if (track.participant.identity === identity) return Promise.resolve(track);
  }
  return new Promise((resolve) => {
    participant.on('trackSubscribed', (track, from) => {
      if (from.identity === identity) resolve(track);
    });
  });
}

test('rtc-node hears the tone published as pre-encoded Opus, at its frequency and level', async () => {
  const room = uniqueRoom('lk-publish');
  const listener = await RtcNodePeer.join(lk, room, 'listener');
  const participant = await joinParticipant(room);
  try {
    assert.equal(participant.singlePeerConnection, true);
    const track = await participant.publishAudioTrack({ name: 'caller' });
    assert.match(track.sid ?? '', /^TR_/);
    const writer = new OpusToneWriter(track, 700).start();
    await waitFor(() => listener.recent('werift', 2).length >= 96_000, 15_000, 'two seconds heard');
    writer.stop();
    assertTone(listener.analyse('werift', 700, 1.5), 700, 'rtc-node');
    assert.equal(track.stats.packetsDropped, 0, 'no packet dropped once published');
  } finally {
    await participant.leave();
    await listener.close();
  }
});

for (const mode of ['single', 'dual'] as const) {
  test(`tracks given to join (${mode} peer connection mode) are published with it and heard`, async () => {
    const room = uniqueRoom(`lk-join-tracks-${mode}`);
    const listener = await RtcNodePeer.join(lk, room, 'listener');
    const participant = await LiveKitParticipant.join({
      url: lk.wsUrl,
      token: await participantToken(lk, room, 'werift'),
      ice: { hostAddresses: ['127.0.0.1'] },
      peerConnectionMode: mode,
      audioTracks: [{ name: 'caller' }],
    });
    try {
      const [track] = participant.localTracks;
      assert.ok(track);
      assert.match(track.sid ?? '', /^TR_/, 'published when join resolves');
      const writer = new OpusToneWriter(track, 700).start();
      await waitFor(() => listener.recent('werift', 2).length >= 96_000, 15_000, 'heard');
      writer.stop();
      assertTone(listener.analyse('werift', 700, 1.5), 700, 'rtc-node');
      assert.ok(writer.accepted >= writer.written - 1, 'packets accepted from the first write');
    } finally {
      await participant.leave();
      await listener.close();
    }
  });
}

test('the tone rtc-node publishes arrives as Opus RTP that decodes to its frequency and level', async () => {
  const room = uniqueRoom('lk-subscribe');
  const speaker = await RtcNodePeer.join(lk, room, 'speaker', { toneHz: 440 });
  const participant = await joinParticipant(room);
  try {
    const track = await trackFrom(participant, 'speaker');
    assert.equal(track.participant.identity, 'speaker');
    const receiver = new RtpToneReceiver(track);
    await waitFor(() => receiver.packets >= 100, 15_000, '2 s of RTP');
    assert.equal(receiver.decodeErrors, 0);
    assert.deepEqual([...receiver.payloadTypes], [111]);
    assertTone(receiver.analyse(440, 1.5), 440, 'decoded RTP');
  } finally {
    await participant.leave();
    await speaker.close();
  }
});

test('muting the track is seen by rtc-node and stops its packets; unmuting brings them back', async () => {
  const room = uniqueRoom('lk-mute');
  const listener = await RtcNodePeer.join(lk, room, 'listener');
  const participant = await joinParticipant(room);
  try {
    const track = await participant.publishAudioTrack({ name: 'caller' });
    const writer = new OpusToneWriter(track, 700).start();
    await listener.knows('werift');
    const publication = () =>
      [...listener.room.remoteParticipants.get('werift')!.trackPublications.values()][0];
    await waitFor(() => publication() !== undefined, 10_000, 'publication seen');
    track.setMuted(true);
    await waitFor(() => publication()?.muted === true, 10_000, 'rtc-node sees the mute');
    const accepted = writer.accepted;
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.equal(writer.accepted, accepted, 'nothing sent while muted');
    track.setMuted(false);
    await waitFor(() => publication()?.muted === false, 10_000, 'rtc-node sees the unmute');
    await waitFor(() => writer.accepted > accepted + 5, 5000, 'packets again');
    writer.stop();
  } finally {
    await participant.leave();
    await listener.close();
  }
});

test('DTMF goes both ways as SipDTMF data packets', async () => {
  const room = uniqueRoom('lk-dtmf');
  const agent = await RtcNodePeer.join(lk, room, 'agent');
  const participant = await joinParticipant(room);
  try {
    await agent.knows('werift');
    const received: { code: number; digit: string; from: string | undefined }[] = [];
    participant.on('dtmfReceived', (code, digit, from) =>
      received.push({ code, digit, from: from?.identity }),
    );
    for (const [code, digit] of [
      [1, '1'],
      [10, '*'],
      [11, '#'],
    ] as const) {
      await participant.sendDtmf(code, digit);
    }
    await agent.room.localParticipant!.publishDtmf(5, '5');
    await agent.room.localParticipant!.publishDtmf(13, 'B');
    await waitFor(() => agent.dtmf.length >= 3 && received.length >= 2, 10_000, 'DTMF both ways');
    assert.deepEqual(agent.dtmf, [
      { code: 1, digit: '1', from: 'werift' },
      { code: 10, digit: '*', from: 'werift' },
      { code: 11, digit: '#', from: 'werift' },
    ]);
    assert.deepEqual(received, [
      { code: 5, digit: '5', from: 'agent' },
      { code: 13, digit: 'B', from: 'agent' },
    ]);
  } finally {
    await participant.leave();
    await agent.close();
  }
});

test('user data packets go both ways with their topic', async () => {
  const room = uniqueRoom('lk-data');
  const agent = await RtcNodePeer.join(lk, room, 'agent');
  const participant = await joinParticipant(room);
  try {
    await agent.knows('werift');
    const received: { text: string; topic: string | undefined; from: string | undefined }[] = [];
    participant.on('dataReceived', (payload, topic, from) =>
      received.push({ text: Buffer.from(payload).toString(), topic, from: from?.identity }),
    );
    await participant.publishData(Buffer.from('hello agent'), { topic: 'chat' });
    await agent.room.localParticipant!.publishData(Buffer.from('hello caller'), {
      reliable: true,
      topic: 'chat',
    });
    await waitFor(() => agent.data.length >= 1 && received.length >= 1, 10_000, 'data both ways');
    assert.equal(Buffer.from(agent.data[0]!.payload).toString(), 'hello agent');
    assert.equal(agent.data[0]!.topic, 'chat');
    assert.equal(agent.data[0]!.from, 'werift');
    assert.deepEqual(received, [{ text: 'hello caller', topic: 'chat', from: 'agent' }]);
    await assert.rejects(
      participant.publishData(new Uint8Array(20_000)),
      (err: unknown) => err instanceof LiveKitError && err.reason === 'invalid-argument',
    );
  } finally {
    await participant.leave();
    await agent.close();
  }
});

test('name, metadata and attributes set by the participant are what rtc-node sees', async () => {
  const room = uniqueRoom('lk-attributes');
  const agent = await RtcNodePeer.join(lk, room, 'agent');
  const participant = await joinParticipant(room);
  try {
    await participant.setAttributes({ 'sip.callStatus': 'active', 'x.kept': '1' });
    await participant.setAttributes({ 'sip.callStatus': 'hangup' });
    await participant.setName('WhatsApp caller');
    await participant.setMetadata('{"call":"1"}');
    await waitFor(
      () => agent.room.remoteParticipants.get('werift')?.name === 'WhatsApp caller',
      10_000,
      'name seen by rtc-node',
    );
    const seen = agent.room.remoteParticipants.get('werift')!;
    await waitFor(() => seen.metadata === '{"call":"1"}', 5000, 'metadata seen by rtc-node');
    assert.deepEqual(seen.attributes, { 'sip.callStatus': 'hangup', 'x.kept': '1' });
    assert.equal(participant.attributes['sip.callStatus'], 'hangup');
  } finally {
    await participant.leave();
    await agent.close();
  }
});

test('an attribute update without the metadata grant is refused by the server', async () => {
  const room = uniqueRoom('lk-no-grant');
  const participant = await LiveKitParticipant.join({
    url: lk.wsUrl,
    token: await participantToken(lk, room, 'werift', { grant: { canUpdateOwnMetadata: false } }),
    ice: { hostAddresses: ['127.0.0.1'] },
  });
  try {
    await assert.rejects(
      participant.setAttributes({ a: 'b' }),
      (err: unknown) => err instanceof LiveKitError && err.reason === 'rejected',
    );
  } finally {
    await participant.leave();
  }
});

test('remote participants are reported joining, changing and leaving, with kind and attributes', async () => {
  const room = uniqueRoom('lk-participants');
  const first = await RtcNodePeer.join(lk, room, 'first', { attributes: { role: 'agent' } });
  const participant = await joinParticipant(room);
  try {
    // Present at join: listed, no event.
    const present = participant.remoteParticipants.get('first');
    assert.ok(present);
    assert.equal(present.kind, ParticipantKind.STANDARD);
    assert.deepEqual(present.attributes, { role: 'agent' });

    const connected: string[] = [];
    const updates: { identity: string; changed: Record<string, string> | undefined }[] = [];
    const gone: { identity: string; reason: DisconnectReason }[] = [];
    participant.on('participantConnected', (p) => connected.push(p.identity));
    participant.on('participantUpdated', (p, changes) =>
      updates.push({ identity: p.identity, changed: changes.attributes?.changed }),
    );
    participant.on('participantDisconnected', (p: RemoteParticipant, reason) =>
      gone.push({ identity: p.identity, reason }),
    );

    const second = await RtcNodePeer.join(lk, room, 'second', { attributes: { k: 'v' } });
    await waitFor(() => connected.includes('second'), 10_000, 'second connected');
    assert.deepEqual(participant.remoteParticipants.get('second')?.attributes, { k: 'v' });

    await first.room.localParticipant!.setAttributes({ role: 'supervisor' });
    await waitFor(() => updates.some((u) => u.identity === 'first'), 10_000, 'attribute update');
    assert.deepEqual(updates.find((u) => u.identity === 'first')?.changed, { role: 'supervisor' });

    await second.close();
    await waitFor(() => gone.length === 1, 10_000, 'second left');
    assert.deepEqual(gone, [{ identity: 'second', reason: DisconnectReason.CLIENT_INITIATED }]);
    assert.equal(participant.remoteParticipants.has('second'), false);
  } finally {
    await participant.leave();
    await first.close();
  }
});

test('the reason given to leave() is the disconnect reason rtc-node reads', async () => {
  const room = uniqueRoom('lk-leave');
  const agent = await RtcNodePeer.join(lk, room, 'agent');
  const participant = await joinParticipant(room);
  await agent.knows('werift');
  await participant.leave(DisconnectReason.USER_REJECTED);
  await participant.leave(DisconnectReason.USER_UNAVAILABLE);
  try {
    await waitFor(() => agent.disconnected.length > 0, 10_000, 'rtc-node sees the leave');
    assert.deepEqual(agent.disconnected, [
      { identity: 'werift', reason: DisconnectReason.USER_REJECTED },
    ]);
    assert.equal(participant.closed, true);
    await assert.rejects(
      participant.sendDtmf(1, '1'),
      (err: unknown) => err instanceof LiveKitError && err.reason === 'closed',
    );
  } finally {
    await agent.close();
  }
});

test('a participant removed by the server API is disconnected with PARTICIPANT_REMOVED', async () => {
  const room = uniqueRoom('lk-removed');
  const participant = await joinParticipant(room);
  const ended = new Promise<DisconnectReason>((resolve) =>
    participant.on('disconnected', (reason) => resolve(reason)),
  );
  await new RoomServiceClient(lk.httpUrl, lk.apiKey, lk.apiSecret).removeParticipant(
    room,
    'werift',
  );
  assert.equal(await ended, DisconnectReason.PARTICIPANT_REMOVED);
  assert.equal(participant.closed, true);
});

test('a token for another server is refused at join with not-allowed, nothing left open', async () => {
  const token = await participantToken(
    { ...lk, apiSecret: 'another-secret-0123456789-0123456789' },
    uniqueRoom('lk-bad-token'),
    'werift',
  );
  await assert.rejects(
    LiveKitParticipant.join({ url: lk.wsUrl, token, ice: { hostAddresses: ['127.0.0.1'] } }),
    (err: unknown) =>
      err instanceof LiveKitError && err.reason === 'not-allowed' && err.httpStatus === 401,
  );
});
