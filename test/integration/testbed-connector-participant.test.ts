import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  AudioFrame,
  AudioSource,
  AudioStream,
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
import { AccessToken, RoomServiceClient } from 'livekit-server-sdk';
import { startLiveKitServer, type LiveKitServerHandle } from '../../testbed/livekit-server.js';
import { createConnectorToken } from '../../src/room/connector-token.js';
import { ToneGenerator, analyseTone, concatPcm } from '../../src/media/tone.js';

let lk: LiveKitServerHandle;

before(async () => {
  lk = await startLiveKitServer();
});

after(async () => {
  await dispose();
  await lk?.stop();
});

test('a participant joining with our connector token shows as CONNECTOR/WhatsApp and its tone is heard', async () => {
  const roomName = `testbed-${Date.now()}`;
  const rooms = new RoomServiceClient(lk.httpUrl, lk.apiKey, lk.apiSecret);
  await rooms.createRoom({ name: roomName, emptyTimeout: 10 });

  const listenerToken = new AccessToken(lk.apiKey, lk.apiSecret, { identity: 'listener' });
  listenerToken.addGrant({ roomJoin: true, room: roomName, canSubscribe: true, canPublish: false });
  const listener = new Room();
  const connectorRoom = new Room();
  try {
    const heard = new Promise<{ participant: RemoteParticipant; track: RemoteTrack }>((resolve) => {
      listener.on(RoomEvent.TrackSubscribed, (track, _pub, participant) => {
        if (track.kind === TrackKind.KIND_AUDIO) resolve({ participant, track });
      });
    });
    await listener.connect(lk.wsUrl, await listenerToken.toJwt(), {
      autoSubscribe: true,
      dynacast: false,
    });

    const token = await createConnectorToken({
      apiKey: lk.apiKey,
      apiSecret: lk.apiSecret,
      roomName,
      identity: 'wa-caller',
      name: 'WhatsApp caller',
    });
    await connectorRoom.connect(lk.wsUrl, token, { autoSubscribe: false, dynacast: false });

    const sampleRate = 48_000;
    const source = new AudioSource(sampleRate, 1, 200);
    const track = LocalAudioTrack.createAudioTrack('whatsapp', source);
    const opts = new TrackPublishOptions();
    opts.source = TrackSource.SOURCE_MICROPHONE;
    await connectorRoom.localParticipant!.publishTrack(track, opts);

    const tone = new ToneGenerator(1000, sampleRate, 0.3);
    let sending = true;
    const sender = (async () => {
      while (sending) {
        const pcm = tone.next(480);
        await source.captureFrame(new AudioFrame(pcm, sampleRate, 1, 480));
      }
    })();

    const { participant, track: remote } = await heard;
    assert.equal(participant.identity, 'wa-caller');
    assert.equal(participant.kind, ParticipantKind.CONNECTOR);
    assert.deepEqual(participant.kindDetails, [ParticipantKindDetail.CONNECTOR_WHATSAPP]);

    const stream = new AudioStream(remote, { sampleRate, numChannels: 1 });
    const chunks: Int16Array[] = [];
    let samples = 0;
    for await (const frame of stream) {
      chunks.push(new Int16Array(frame.data));
      samples += frame.samplesPerChannel;
      if (samples >= sampleRate * 2) break;
    }
    sending = false;
    await sender;
    // Skip the first half second (decoder start-up), analyse the rest.
    const pcm = concatPcm(chunks).subarray(sampleRate / 2);
    const analysis = analyseTone(pcm, sampleRate, 1000);
    assert.ok(Math.abs(analysis.frequencyHz - 1000) < 20, `frequency ${analysis.frequencyHz} Hz`);
    assert.ok(
      analysis.levelDbfs > -20 && analysis.levelDbfs < -8,
      `level ${analysis.levelDbfs} dBFS`,
    );
    assert.ok(analysis.toneShare > 0.8, `tone share ${analysis.toneShare}`);
    await source.close();
  } finally {
    await connectorRoom.disconnect();
    await listener.disconnect();
    await rooms.deleteRoom(roomName).catch(() => undefined);
  }
});
