import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { dispose } from '@livekit/rtc-node';
import { startLiveKitServer, type LiveKitServerHandle } from '../../../testbed/livekit-server.js';
import {
  DisconnectReason,
  LiveKitError,
  LiveKitParticipant,
  type PeerConnectionMode,
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

/** The server every test but the kill tests uses (those start their own). */
let lk: LiveKitServerHandle;
let proxy: TcpProxy;

before(async () => {
  lk = await startLiveKitServer();
  proxy = await TcpProxy.start(lk.port);
});

after(async () => {
  await proxy?.close();
  await dispose();
  await lk?.stop();
});

/** Record the participant's recovery events with their time since `t0`. */
function recordEvents(participant: LiveKitParticipant): string[] {
  const events: string[] = [];
  participant.on('reconnecting', () => events.push('reconnecting'));
  participant.on('resumed', () => events.push('resumed'));
  participant.on('reconnected', () => events.push('reconnected'));
  participant.on('disconnected', (reason) =>
    events.push(`disconnected:${DisconnectReason[reason]}`),
  );
  return events;
}

async function signalCutResumes(mode: PeerConnectionMode): Promise<void> {
  const room = uniqueRoom(`lk-cut-${mode}`);
  const agent = await RtcNodePeer.join(lk, room, 'agent', { toneHz: 440 });
  const participant = await LiveKitParticipant.join({
    url: proxy.url,
    token: await participantToken(lk, room, 'werift'),
    peerConnectionMode: mode,
    ice: { hostAddresses: ['127.0.0.1'] },
  });
  const writerTrack = await participant.publishAudioTrack({ name: 'caller' });
  const writer = new OpusToneWriter(writerTrack, 700).start();
  try {
    await waitFor(() => participant.remoteTracks.size === 1, 10_000, 'agent track');
    const receiver = new RtpToneReceiver([...participant.remoteTracks.values()][0]!);
    await agent.knows('werift');
    await waitFor(() => agent.recent('werift', 1).length >= 48_000, 10_000, 'audio before cut');
    const events = recordEvents(participant);
    const sid = participant.sid;
    const trackSid = writerTrack.sid;

    proxy.cut();
    await waitFor(() => events.includes('resumed'), 10_000, 'resumed');
    assert.deepEqual(events, ['reconnecting', 'resumed']);
    assert.equal(participant.sid, sid, 'same session');
    assert.equal(writerTrack.sid, trackSid, 'same track');

    // Audio after the cut, both ways, and data still flows.
    agent.clearHeard();
    receiver.clear();
    await waitFor(
      () => agent.recent('werift', 2).length >= 96_000 && receiver.packets >= 75,
      10_000,
      'audio after the resume',
    );
    assertTone(agent.analyse('werift', 700, 1.5), 700, 'rtc-node after the resume');
    assertTone(receiver.analyse(440, 1.5), 440, 'we after the resume');
    await participant.sendDtmf(9, '9');
    await waitFor(() => agent.dtmf.length === 1, 5000, 'DTMF after the resume');
    assert.equal(participant.closed, false);
  } finally {
    writer.stop();
    await participant.leave();
    await agent.close();
  }
}

test('a cut signal WebSocket is resumed: same session, audio and data keep flowing', async () => {
  await signalCutResumes('auto');
});

test('a cut signal WebSocket is resumed with two peer connections too', async () => {
  await signalCutResumes('dual');
});

{
  const scenario = 'node-failure';
  test('a simulated node failure ends in a full reconnect that re-subscribes and re-publishes', async () => {
    const room = uniqueRoom(`lk-${scenario}`);
    const agent = await RtcNodePeer.join(lk, room, 'agent', { toneHz: 440 });
    const participant = await LiveKitParticipant.join({
      url: lk.wsUrl,
      token: await participantToken(lk, room, 'werift'),
      ice: { hostAddresses: ['127.0.0.1'] },
    });
    const track = await participant.publishAudioTrack({ name: 'caller' });
    const writer = new OpusToneWriter(track, 700).start();
    try {
      await waitFor(() => participant.remoteTracks.size === 1, 10_000, 'agent track');
      const events = recordEvents(participant);
      const unsubscribed: string[] = [];
      participant.on('trackUnsubscribed', (t) => unsubscribed.push(t.sid));
      const { sid } = participant;
      const trackSid = track.sid;
      participant.simulateScenario(scenario);
      await waitFor(() => events.includes('reconnected'), 15_000, 'reconnected');
      assert.deepEqual(events, ['reconnecting', 'reconnected']);
      assert.notEqual(participant.sid, sid);
      assert.notEqual(track.sid, trackSid);
      assert.equal(unsubscribed.length, 1, 'the old subscription ended');
      // Subscribed again on the new session, and heard again.
      await waitFor(() => participant.remoteTracks.size === 1, 10_000, 'agent track again');
      const receiver = new RtpToneReceiver([...participant.remoteTracks.values()][0]!);
      agent.clearHeard();
      await waitFor(
        () => agent.recent('werift', 2).length >= 96_000 && receiver.packets >= 75,
        15_000,
        'audio after the full reconnect',
      );
      assertTone(agent.analyse('werift', 700, 1.5), 700, 'rtc-node after the full reconnect');
      assertTone(receiver.analyse(440, 1.5), 440, 'we after the full reconnect');
    } finally {
      writer.stop();
      await participant.leave();
      await agent.close();
    }
  });
}

test('a server leave without a reconnect request ends the participant with the server reason', async () => {
  const room = uniqueRoom('lk-server-leave');
  const participant = await LiveKitParticipant.join({
    url: lk.wsUrl,
    token: await participantToken(lk, room, 'werift'),
    ice: { hostAddresses: ['127.0.0.1'] },
  });
  const track = await participant.publishAudioTrack({ name: 'caller' });
  const events = recordEvents(participant);
  // livekit-server closes the session with a LeaveRequest{SERVER_SHUTDOWN, DISCONNECT}.
  participant.simulateScenario('server-leave');
  await waitFor(() => events.length > 0, 10_000, 'disconnected');
  assert.deepEqual(events, ['disconnected:SERVER_SHUTDOWN']);
  assert.equal(participant.closed, true);
  assert.equal(track.ended, true);
});

test('livekit-server killed and restarted on its port: full reconnect, track published again, audio back', async () => {
  let server = await startLiveKitServer();
  const room = uniqueRoom('lk-restart');
  const participant = await LiveKitParticipant.join({
    url: server.wsUrl,
    token: await participantToken(server, room, 'werift'),
    ice: { hostAddresses: ['127.0.0.1'] },
  });
  const track = await participant.publishAudioTrack({ name: 'caller' });
  const writer = new OpusToneWriter(track, 700).start();
  let agent: RtcNodePeer | undefined;
  try {
    const events = recordEvents(participant);
    const { sid } = participant;
    const killedAt = performance.now();
    server.process.child.kill('SIGKILL');
    await waitFor(() => events.includes('reconnecting'), 5000, 'reconnecting');
    server = await startLiveKitServer({ port: server.port });
    await waitFor(
      () => events.includes('reconnected') || events.some((e) => e.startsWith('disconnected')),
      20_000,
      'recovery outcome',
    );
    const recoveredMs = performance.now() - killedAt;
    assert.deepEqual(events, ['reconnecting', 'reconnected']);
    assert.notEqual(participant.sid, sid, 'a new session');
    assert.match(track.sid ?? '', /^TR_/);
    console.log(`livekit-server killed → reconnected in ${recoveredMs.toFixed(0)} ms`);

    // A listener on the restarted server hears the re-published track; we hear it.
    agent = await RtcNodePeer.join(server, room, 'agent', { toneHz: 440 });
    await waitFor(() => participant.remoteTracks.size === 1, 10_000, 'agent track');
    const receiver = new RtpToneReceiver([...participant.remoteTracks.values()][0]!);
    await waitFor(
      () => agent!.recent('werift', 2).length >= 96_000 && receiver.packets >= 75,
      15_000,
      'audio after the full reconnect',
    );
    assertTone(agent.analyse('werift', 700, 1.5), 700, 'rtc-node after the restart');
    assertTone(receiver.analyse(440, 1.5), 440, 'we after the restart');
  } finally {
    writer.stop();
    await participant.leave();
    await agent?.close();
    await server.stop();
  }
});

test('livekit-server killed for good: disconnected within the reconnect bound, nothing left open', async () => {
  const server = await startLiveKitServer();
  const room = uniqueRoom('lk-gone');
  const participant = await LiveKitParticipant.join({
    url: server.wsUrl,
    token: await participantToken(server, room, 'werift'),
    ice: { hostAddresses: ['127.0.0.1'] },
    timeouts: { reconnectMs: 3000 },
  });
  const track = await participant.publishAudioTrack({ name: 'caller' });
  try {
    const ended = new Promise<{ reason: DisconnectReason; error: LiveKitError | undefined }>(
      (resolve) => participant.on('disconnected', (reason, error) => resolve({ reason, error })),
    );
    const killedAt = performance.now();
    server.process.child.kill('SIGKILL');
    const { reason, error } = await ended;
    const elapsed = performance.now() - killedAt;
    assert.ok(elapsed >= 3000 && elapsed < 6000, `disconnected after ${elapsed.toFixed(0)} ms`);
    assert.equal(reason, DisconnectReason.SIGNAL_CLOSE);
    assert.equal(error?.reason, 'timeout');
    // Everything is closed: no half-alive participant or track.
    assert.equal(participant.closed, true);
    assert.equal(track.ended, true);
    assert.equal(track.writeRtp({ payload: new Uint8Array([0x78]), timestamp: 0 }), false);
    await assert.rejects(participant.sendDtmf(1, '1'), LiveKitError);
    await participant.leave();
  } finally {
    await server.stop();
  }
});
