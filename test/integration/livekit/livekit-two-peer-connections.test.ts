import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { dispose } from '@livekit/rtc-node';
import { startLiveKitServer, type LiveKitServerHandle } from '../../../testbed/livekit-server.js';
import {
  LiveKitError,
  LiveKitParticipant,
  type PeerConnectionMode,
  type RemoteAudioTrack,
} from '../../../src/livekit/index.js';
import {
  OpusToneWriter,
  RtcNodePeer,
  RtpToneReceiver,
  TcpProxy,
  assertTone,
  participantToken,
  uniqueRoom,
  waitFor,
} from './livekit-test-kit.js';

let lk: LiveKitServerHandle;
/** Plays a server before v1.9.2: upgrades to /rtc/v1 are answered 404. */
let oldServer: TcpProxy;

before(async () => {
  lk = await startLiveKitServer();
  oldServer = await TcpProxy.start(lk.port, { rejectPath: '/rtc/v1' });
});

after(async () => {
  await oldServer?.close();
  await dispose();
  await lk?.stop();
});

/** Audio both ways and DTMF both ways with an rtc-node agent, over `url` in `mode`. */
async function exchange(url: string, mode: PeerConnectionMode): Promise<LiveKitParticipant> {
  const room = uniqueRoom(`lk-${mode}`);
  const agent = await RtcNodePeer.join(lk, room, 'agent', { toneHz: 440 });
  const participant = await LiveKitParticipant.join({
    url,
    token: await participantToken(lk, room, 'werift'),
    peerConnectionMode: mode,
    ice: { hostAddresses: ['127.0.0.1'] },
  });
  try {
    const remote = await new Promise<RemoteAudioTrack>((resolve) => {
      const present = [...participant.remoteTracks.values()][0];
      if (present) resolve(present);
      else participant.on('trackSubscribed', (track) => resolve(track));
    });
    const receiver = new RtpToneReceiver(remote);
    const track = await participant.publishAudioTrack({ name: 'caller' });
    const writer = new OpusToneWriter(track, 700).start();
    await agent.knows('werift');
    const dtmf: string[] = [];
    participant.on('dtmfReceived', (_code, digit) => dtmf.push(digit));
    await participant.sendDtmf(3, '3');
    await agent.room.localParticipant!.publishDtmf(7, '7');
    await waitFor(
      () => agent.recent('werift', 2).length >= 96_000 && receiver.packets >= 100,
      15_000,
      'two seconds of audio each way',
    );
    writer.stop();
    assertTone(agent.analyse('werift', 700, 1.5), 700, 'rtc-node hearing us');
    assertTone(receiver.analyse(440, 1.5), 440, 'we hearing rtc-node');
    await waitFor(() => agent.dtmf.length === 1 && dtmf.length === 1, 10_000, 'DTMF both ways');
    assert.equal(agent.dtmf[0]?.digit, '3');
    assert.deepEqual(dtmf, ['7']);
    return participant;
  } finally {
    await participant.leave();
    await agent.close();
  }
}

test('with two peer connections asked for, audio and DTMF go both ways', async () => {
  const participant = await exchange(lk.wsUrl, 'dual');
  assert.equal(participant.singlePeerConnection, false);
});

test('a server without the single-PC endpoint gets two peer connections in auto mode', async () => {
  const before = oldServer.connections;
  const participant = await exchange(oldServer.url, 'auto');
  assert.equal(participant.singlePeerConnection, false);
  // One refused /rtc/v1 upgrade, then the /rtc one.
  assert.equal(oldServer.connections - before, 2);
});

test('single-PC mode only: a server without the endpoint is an error', async () => {
  await assert.rejects(
    LiveKitParticipant.join({
      url: oldServer.url,
      token: await participantToken(lk, uniqueRoom('lk-single'), 'werift'),
      peerConnectionMode: 'single',
      ice: { hostAddresses: ['127.0.0.1'] },
    }),
    (err: unknown) => err instanceof LiveKitError && err.httpStatus === 404,
  );
});
