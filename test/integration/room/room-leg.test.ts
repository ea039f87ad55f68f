import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  AudioFrame,
  AudioSource,
  AudioStream,
  DisconnectReason,
  LocalAudioTrack,
  ParticipantKind,
  ParticipantKindDetail,
  Room,
  RoomEvent,
  TrackKind,
  TrackPublishOptions,
  TrackSource,
  dispose,
  type RemoteParticipant,
  type RemoteTrack,
} from '@livekit/rtc-node';
import { RoomAgentDispatch } from '@livekit/protocol';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  AccessToken,
  AgentDispatchClient,
  RoomServiceClient,
  WebhookReceiver,
  type WebhookEvent,
} from 'livekit-server-sdk';
import { startLiveKitServer, type LiveKitServerHandle } from '../../../testbed/livekit-server.js';
import { RoomLeg, type RoomLegOptions } from '../../../src/room/room-leg.js';
import { buildCallAttributes, CALL_ATTRIBUTE } from '../../../src/room/call-attributes.js';
import { ConnectorError } from '../../../src/errors/connector-error.js';
import {
  ToneGenerator,
  analyseTone,
  concatPcm,
  rmsDbfs,
  windowedToneShare,
} from '../../../src/media/tone.js';

let lk: LiveKitServerHandle;
let rooms: RoomServiceClient;
let dispatches: AgentDispatchClient;
let roomCounter = 0;
const openRooms: Room[] = [];
const openLegs: RoomLeg[] = [];

/** livekit-server's webhooks, as received (verified with the API key). */
const webhooks: WebhookEvent[] = [];
let webhookServer: Server;

before(async () => {
  webhookServer = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString('utf8')));
    req.on('end', () => {
      void new WebhookReceiver(lk.apiKey, lk.apiSecret)
        .receive(body, req.headers.authorization)
        .then((event) => webhooks.push(event))
        .catch(() => undefined)
        .finally(() => res.writeHead(200).end());
    });
  });
  await new Promise<void>((resolve) => webhookServer.listen(0, '127.0.0.1', resolve));
  const { port } = webhookServer.address() as AddressInfo;
  lk = await startLiveKitServer({ webhookUrls: [`http://127.0.0.1:${port}/livekit`] });
  rooms = new RoomServiceClient(lk.httpUrl, lk.apiKey, lk.apiSecret);
  dispatches = new AgentDispatchClient(lk.httpUrl, lk.apiKey, lk.apiSecret);
});

after(async () => {
  for (const leg of openLegs) await leg.close();
  for (const room of openRooms) await room.disconnect().catch(() => undefined);
  await dispose();
  await lk?.stop();
  await new Promise((resolve) => webhookServer?.close(resolve));
});

function newRoomName(): string {
  return `room-leg-${process.pid}-${++roomCounter}`;
}

async function joinLeg(
  overrides: Partial<RoomLegOptions> & { roomName: string },
): Promise<RoomLeg> {
  const leg = await RoomLeg.join({
    url: lk.wsUrl,
    apiKey: lk.apiKey,
    apiSecret: lk.apiSecret,
    identity: 'wa-caller',
    sampleRate: 48_000,
    ...overrides,
  });
  openLegs.push(leg);
  return leg;
}

/** A plain participant (the "agent" side) joined with an ordinary token. */
async function joinPeer(roomName: string, identity: string): Promise<Room> {
  const token = new AccessToken(lk.apiKey, lk.apiSecret, { identity });
  token.addGrant({ roomJoin: true, room: roomName, canSubscribe: true, canPublish: true });
  const room = new Room();
  openRooms.push(room);
  await room.connect(lk.wsUrl, await token.toJwt(), { autoSubscribe: true, dynacast: false });
  return room;
}

/** Publish a continuous tone from a peer until the returned stop() is called. */
async function publishTone(room: Room, frequencyHz: number, amplitude: number) {
  const rate = 48_000;
  const source = new AudioSource(rate, 1, 100);
  const track = LocalAudioTrack.createAudioTrack('tone', source);
  const opts = new TrackPublishOptions();
  opts.source = TrackSource.SOURCE_MICROPHONE;
  await room.localParticipant!.publishTrack(track, opts);
  const tone = new ToneGenerator(frequencyHz, rate, amplitude);
  let running = true;
  const loop = (async () => {
    while (running) await source.captureFrame(new AudioFrame(tone.next(960), rate, 1, 960));
  })();
  return async () => {
    running = false;
    await loop.catch(() => undefined);
    await source.close();
  };
}

/**
 * Push caller audio into the leg in real time, 20 ms a frame, as the bridge does: frames due
 * while the event loop was busy are pushed together (like RTP arriving in a burst).
 */
function pushEvery20ms(leg: RoomLeg, frame: () => Int16Array): () => void {
  const start = performance.now();
  let sent = 0;
  const timer = setInterval(() => {
    const due = Math.floor((performance.now() - start) / 20) + 1;
    for (; sent < due; sent++) leg.pushCallerAudio(frame());
  }, 10);
  return () => clearInterval(timer);
}

function waitFor<T>(register: (resolve: (v: T) => void) => void, ms = 10_000, what = 'event') {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms);
    register((v) => {
      clearTimeout(t);
      resolve(v);
    });
  });
}

function firstAudioTrackOf(room: Room, identity: string): Promise<RemoteTrack> {
  const existing = room.remoteParticipants.get(identity);
  for (const pub of existing?.trackPublications.values() ?? []) {
    if (pub.track && pub.kind === TrackKind.KIND_AUDIO) return Promise.resolve(pub.track);
  }
  return waitFor<RemoteTrack>(
    (resolve) =>
      room.on(RoomEvent.TrackSubscribed, (track, _pub, participant) => {
        if (participant.identity === identity && track.kind === TrackKind.KIND_AUDIO) {
          resolve(track);
        }
      }),
    10_000,
    `audio track of ${identity}`,
  );
}

describe('RoomLeg', () => {
  test('joins as a CONNECTOR/WhatsApp participant with the requested identity, name, metadata and attributes', async () => {
    const roomName = newRoomName();
    const observer = await joinPeer(roomName, 'observer');
    const joined = waitFor<RemoteParticipant>((resolve) =>
      observer.on(RoomEvent.ParticipantConnected, (p) => {
        if (p.identity === 'wa-caller') resolve(p);
      }),
    );
    const attributes = buildCallAttributes({
      callStatus: 'ringing',
      callId: 'wacid.abc',
      direction: 'inbound',
      phoneNumber: '15551234567',
      destinationCountry: 'us',
    });
    const leg = await joinLeg({
      roomName,
      name: 'WhatsApp caller',
      metadata: '{"k":"v"}',
      attributes,
    });
    const participant = await joined;
    assert.equal(participant.kind, ParticipantKind.CONNECTOR);
    assert.deepEqual(participant.kindDetails, [ParticipantKindDetail.CONNECTOR_WHATSAPP]);
    assert.equal(participant.name, 'WhatsApp caller');
    assert.equal(participant.metadata, '{"k":"v"}');
    assert.equal(participant.attributes[CALL_ATTRIBUTE.callStatus], 'ringing');
    assert.equal(participant.attributes[CALL_ATTRIBUTE.destinationCountry], 'US');
    assert.equal(participant.sid, leg.participantSid);
    assert.equal(leg.roomName, roomName);
    assert.equal(leg.participantIdentity, 'wa-caller');

    const track = await firstAudioTrackOf(observer, 'wa-caller');
    const pub = [...participant.trackPublications.values()].find((p) => p.sid === track.sid);
    assert.equal(pub?.name, 'whatsapp');
    assert.equal(pub?.source, TrackSource.SOURCE_MICROPHONE);

    const changed = waitFor<Record<string, string>>((resolve) =>
      observer.on(RoomEvent.ParticipantAttributesChanged, (changedAttrs, p) => {
        if (p.identity === 'wa-caller') resolve(changedAttrs);
      }),
    );
    await leg.setAttributes(buildCallAttributes({ callStatus: 'active' }));
    assert.deepEqual(await changed, { [CALL_ATTRIBUTE.callStatus]: 'active' });
    assert.equal(participant.attributes[CALL_ATTRIBUTE.callId], 'wacid.abc');
    await leg.close();
  });

  test('caller audio pushed into the leg is heard by another participant (1000 Hz tone)', async () => {
    const roomName = newRoomName();
    const listener = await joinPeer(roomName, 'listener');
    const leg = await joinLeg({ roomName, sampleRate: 48_000 });
    const track = await firstAudioTrackOf(listener, 'wa-caller');
    const stream = new AudioStream(track, { sampleRate: 48_000, numChannels: 1, frameSizeMs: 10 });
    const reader = stream.getReader();

    // 600 ms of silence first, so the path is running before the tone starts: the time from the
    // first tone frame pushed to the first tone frame heard is then the steady-state latency.
    const tone = new ToneGenerator(1000, 48_000, 0.3);
    let frames = 0;
    let toneStartedAt = 0;
    const stopPush = pushEvery20ms(leg, () => {
      frames++;
      if (frames <= 30) return new Int16Array(960);
      if (toneStartedAt === 0) toneStartedAt = performance.now();
      return tone.next(960);
    });
    const chunks: Int16Array[] = [];
    let heardAt = 0;
    try {
      while (chunks.length < 100) {
        const { done, value } = await reader.read();
        if (done) break;
        if (heardAt === 0) {
          if (toneStartedAt > 0 && rmsDbfs(value.data) > -30) heardAt = performance.now();
          else continue;
        }
        chunks.push(new Int16Array(value.data));
      }
    } finally {
      stopPush();
      await reader.cancel();
    }
    const pcm = concatPcm(chunks).subarray(48_000 / 5);
    const analysis = analyseTone(pcm, 48_000, 1000);
    assert.ok(Math.abs(analysis.frequencyHz - 1000) < 20, `frequency ${analysis.frequencyHz} Hz`);
    assert.ok(analysis.levelDbfs > -16 && analysis.levelDbfs < -8, `level ${analysis.levelDbfs}`);
    assert.ok(analysis.toneShare > 0.8, `tone share ${analysis.toneShare}`);
    console.log(
      `[measure] pushCallerAudio → heard by another participant: ${(heardAt - toneStartedAt).toFixed(1)} ms ` +
        `(loopback, Opus, receiver 10 ms frames); stats ${JSON.stringify(leg.stats)}`,
    );
    await leg.close();
  });

  test('two participants with different tones are both present in the leg mix (16 kHz)', async () => {
    const roomName = newRoomName();
    const leg = await joinLeg({ roomName, sampleRate: 16_000 });
    const frames: Int16Array[] = [];
    let collecting = false;
    leg.on('audio', (pcm) => {
      assert.equal(pcm.length, 320);
      if (collecting) frames.push(pcm);
    });
    const a = await joinPeer(roomName, 'peer-a');
    const b = await joinPeer(roomName, 'peer-b');
    const stopA = await publishTone(a, 440, 0.2);
    const stopB = await publishTone(b, 1000, 0.2);
    await waitFor<void>((resolve) => {
      const check = setInterval(() => {
        if (leg.stats.remoteTracks === 2) {
          clearInterval(check);
          resolve();
        }
      }, 20);
    });
    await new Promise((r) => setTimeout(r, 700)); // decoders settle
    collecting = true;
    await new Promise((r) => setTimeout(r, 1000));
    collecting = false;
    await stopA();
    await stopB();
    const pcm = concatPcm(frames);
    assert.ok(pcm.length >= 16_000 * 0.8, `mixed ${pcm.length} samples`);
    const share440 = windowedToneShare(pcm, 16_000, 440);
    const share1000 = windowedToneShare(pcm, 16_000, 1000);
    assert.ok(share440 > 0.3, `440 Hz share ${share440}`);
    assert.ok(share1000 > 0.3, `1000 Hz share ${share1000}`);
    assert.ok(share440 + share1000 > 0.85, `tones ${share440 + share1000} of the mix`);
    await leg.close();
  });

  test('a mixing-only leg (Twilio) gives silence on a steady clock when nobody speaks', async () => {
    const roomName = newRoomName();
    const leg = await joinLeg({ roomName, sampleRate: 48_000, forwardSingleSpeaker: false });
    assert.equal(leg.audioMode, 'mixing');
    const frames: Int16Array[] = [];
    leg.on('audio', (pcm) => frames.push(pcm));
    await new Promise((r) => setTimeout(r, 300));
    await leg.close();
    assert.ok(frames.length >= 5, `${frames.length} frames`);
    for (const f of frames) {
      assert.equal(f.length, 960);
      assert.ok(f.every((s) => s === 0));
    }
  });

  test('DTMF flows both ways as SipDTMF data packets', async () => {
    const roomName = newRoomName();
    const peer = await joinPeer(roomName, 'agent');
    const leg = await joinLeg({ roomName });
    await firstAudioTrackOf(peer, 'wa-caller');

    const atLeg = waitFor<[string, string | undefined]>((resolve) =>
      leg.on('dtmf', (digit, from) => resolve([digit, from])),
    );
    await peer.localParticipant!.publishDtmf(11, '#');
    assert.deepEqual(await atLeg, ['#', 'agent']);

    const atPeer = waitFor<[number, string, string]>((resolve) =>
      peer.on(RoomEvent.DtmfReceived, (code, digit, p) => resolve([code, digit, p.identity])),
    );
    await leg.sendDtmf('7');
    assert.deepEqual(await atPeer, [7, '7', 'wa-caller']);
    await assert.rejects(leg.sendDtmf('x'), (e: unknown) => {
      return e instanceof ConnectorError && e.code === 'invalid_argument';
    });
    await leg.close();
  });

  test('deleting the room emits disconnected with reason room-deleted', async () => {
    const roomName = newRoomName();
    const leg = await joinLeg({ roomName });
    const disconnected = waitFor<[string, DisconnectReason]>((resolve) =>
      leg.on('disconnected', (reason, code) => resolve([reason, code])),
    );
    await rooms.deleteRoom(roomName);
    assert.deepEqual(await disconnected, ['room-deleted', DisconnectReason.ROOM_DELETED]);
    assert.equal(leg.connected, false);
    await assert.rejects(leg.sendDtmf('1'), (e: unknown) => {
      return e instanceof ConnectorError && e.code === 'failed_precondition';
    });
    await leg.close();
  });

  test('removing the participant emits disconnected with reason participant-removed', async () => {
    const roomName = newRoomName();
    const keeper = await joinPeer(roomName, 'keeper');
    const leg = await joinLeg({ roomName });
    await firstAudioTrackOf(keeper, 'wa-caller');
    const disconnected = waitFor<string>((resolve) => leg.on('disconnected', (r) => resolve(r)));
    await rooms.removeParticipant(roomName, 'wa-caller');
    assert.equal(await disconnected, 'participant-removed');
    await leg.close();
  });

  test('a refused join rejects with unavailable', async () => {
    await assert.rejects(
      RoomLeg.join({
        url: lk.wsUrl,
        apiKey: lk.apiKey,
        apiSecret: 'not-the-secret-0123456789-0123456789',
        roomName: newRoomName(),
        identity: 'wa-caller',
        sampleRate: 16_000,
      }),
      (e: unknown) => e instanceof ConnectorError && e.code === 'unavailable',
    );
  });

  test('agents are dispatched exactly once when the join creates the room (token dispatch)', async () => {
    const roomName = newRoomName();
    const leg = await joinLeg({
      roomName,
      agents: [
        new RoomAgentDispatch({ agentName: 'agent-a', metadata: '{"lang":"en"}' }),
        new RoomAgentDispatch({ agentName: 'agent-b' }),
      ],
    });
    const list = await dispatches.listDispatch(roomName);
    const named = list.filter((d) => d.agentName !== '');
    assert.deepEqual(named.map((d) => d.agentName).sort(), ['agent-a', 'agent-b']);
    assert.equal(named.find((d) => d.agentName === 'agent-a')?.metadata, '{"lang":"en"}');
    await leg.close();
  });

  test('agents are dispatched exactly once through the API when the room already exists', async () => {
    const roomName = newRoomName();
    const early = await joinPeer(roomName, 'early-bird');
    const leg = await joinLeg({
      roomName,
      agents: [new RoomAgentDispatch({ agentName: 'agent-a', metadata: 'm' })],
    });
    const list = await dispatches.listDispatch(roomName);
    const named = list.filter((d) => d.agentName !== '');
    assert.deepEqual(
      named.map((d) => [d.agentName, d.metadata]),
      [['agent-a', 'm']],
    );
    await leg.close();
    await early.disconnect();
  });

  test('agents are dispatched once into a room created empty through the API', async () => {
    const roomName = newRoomName();
    await rooms.createRoom({ name: roomName, emptyTimeout: 30 });
    const leg = await joinLeg({
      roomName,
      agents: [new RoomAgentDispatch({ agentName: 'agent-c' })],
    });
    const named = (await dispatches.listDispatch(roomName)).filter((d) => d.agentName !== '');
    assert.deepEqual(
      named.map((d) => d.agentName),
      ['agent-c'],
    );
    await leg.close();
  });

  test('reports participant changes; close() is idempotent, leaves the room and emits no disconnected event', async () => {
    const roomName = newRoomName();
    const observer = await joinPeer(roomName, 'observer');
    const leg = await joinLeg({ roomName });
    await firstAudioTrackOf(observer, 'wa-caller');
    const seen = waitFor<string[]>((resolve) =>
      leg.on('participantsChanged', (list) => resolve(list.map((p) => p.identity).sort())),
    );
    await joinPeer(roomName, 'late-joiner');
    assert.deepEqual(await seen, ['late-joiner', 'observer']);
    let disconnectedEvents = 0;
    leg.on('disconnected', () => disconnectedEvents++);
    const left = waitFor<string>((resolve) =>
      observer.on(RoomEvent.ParticipantDisconnected, (p) => resolve(p.identity)),
    );
    await Promise.all([leg.close(), leg.close()]);
    await leg.close();
    assert.equal(await left, 'wa-caller');
    assert.equal(leg.connected, false);
    leg.pushCallerAudio(new Int16Array(960)); // ignored, no throw
    await assert.rejects(leg.setAttributes({ a: 'b' }), ConnectorError);
    assert.equal(disconnectedEvents, 0);
  });

  test('the leave carries the DisconnectReason of the end reason, readable by rtc-node', async () => {
    const roomName = newRoomName();
    const observer = await joinPeer(roomName, 'observer');
    const left = new Map<string, DisconnectReason | undefined>();
    observer.on(RoomEvent.ParticipantDisconnected, (p) => left.set(p.identity, p.disconnectReason));
    const cases = [
      ['rejected', DisconnectReason.USER_REJECTED],
      ['no_answer', DisconnectReason.USER_UNAVAILABLE],
      ['busy', DisconnectReason.USER_UNAVAILABLE],
      ['user_hangup', DisconnectReason.CLIENT_INITIATED],
    ] as const;
    for (const [reason] of cases) {
      const leg = await joinLeg({ roomName, identity: `leg-${reason}` });
      await firstAudioTrackOf(observer, `leg-${reason}`);
      await leg.close(reason);
    }
    await waitFor<void>((resolve) => {
      const check = setInterval(() => {
        if (left.size === cases.length) {
          clearInterval(check);
          resolve();
        }
      }, 50);
    });
    for (const [reason, code] of cases) {
      assert.equal(left.get(`leg-${reason}`), code, `${reason} → ${DisconnectReason[code]}`);
    }
    // LiveKit's participant_left webhook carries the same reason.
    const leftEvent = (identity: string) =>
      webhooks.find((e) => e.event === 'participant_left' && e.participant?.identity === identity);
    await waitFor<void>((resolve) => {
      const check = setInterval(() => {
        if (cases.every(([reason]) => leftEvent(`leg-${reason}`))) {
          clearInterval(check);
          resolve();
        }
      }, 50);
    });
    for (const [reason, code] of cases) {
      assert.equal(
        leftEvent(`leg-${reason}`)?.participant?.disconnectReason,
        code,
        `webhook: ${reason} → ${DisconnectReason[code]}`,
      );
    }
  });

  test('ringback: a 425 Hz tone on the caller track while on; caller audio is ignored meanwhile', async () => {
    const roomName = newRoomName();
    const listener = await joinPeer(roomName, 'listener');
    const leg = await joinLeg({ roomName, sampleRate: 16_000 });
    const track = await firstAudioTrackOf(listener, 'wa-caller');
    const stream = new AudioStream(track, { sampleRate: 48_000, numChannels: 1 });
    const reader = stream.getReader();
    leg.setRingback(true);
    assert.equal(leg.ringbackPlaying, true);
    leg.pushCallerAudio(new Int16Array(320).fill(8000)); // ignored while ringing
    const chunks: Int16Array[] = [];
    try {
      let loud = 0;
      while (loud < 40) {
        const { done, value } = await reader.read();
        if (done) break;
        if (rmsDbfs(value.data) > -30) {
          loud++;
          chunks.push(new Int16Array(value.data));
        }
      }
    } finally {
      await reader.cancel();
    }
    const analysis = analyseTone(concatPcm(chunks), 48_000, 425);
    assert.ok(Math.abs(analysis.frequencyHz - 425) < 15, `${analysis.frequencyHz} Hz`);
    assert.equal(leg.stats.caller.encoded > 0, true);
    leg.setRingback(false);
    assert.equal(leg.ringbackPlaying, false);
    await leg.close();
  });
});
