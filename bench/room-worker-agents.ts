/**
 * Stand-in agents for the room worker benchmark: one participant per room (AGENT_ROOMS, comma
 * separated) speaking a 1 kHz tone, as an AI agent would talk to the caller. Does not subscribe.
 */
import {
  AudioFrame,
  AudioSource,
  LocalAudioTrack,
  Room,
  TrackPublishOptions,
  TrackSource,
  dispose,
} from '@livekit/rtc-node';
import { AccessToken } from 'livekit-server-sdk';
import { ToneGenerator } from '../src/media/tone.js';

const env = process.env;
const rooms = (env.AGENT_ROOMS ?? '').split(',').filter(Boolean);
let running = true;
const joined: Room[] = [];
const senders: Promise<void>[] = [];

for (const roomName of rooms) {
  const token = new AccessToken(env.LIVEKIT_API_KEY!, env.LIVEKIT_API_SECRET!, {
    identity: `agent-${roomName}`,
  });
  token.addGrant({ roomJoin: true, room: roomName, canPublish: true, canSubscribe: false });
  const room = new Room();
  await room.connect(env.LIVEKIT_URL!, await token.toJwt(), {
    autoSubscribe: false,
    dynacast: false,
  });
  joined.push(room);
  const source = new AudioSource(48_000, 1, 100);
  const track = LocalAudioTrack.createAudioTrack('agent', source);
  const opts = new TrackPublishOptions();
  opts.source = TrackSource.SOURCE_MICROPHONE;
  await room.localParticipant!.publishTrack(track, opts);
  const tone = new ToneGenerator(1000, 48_000, 0.3);
  senders.push(
    (async () => {
      while (running) await source.captureFrame(new AudioFrame(tone.next(480), 48_000, 1, 480));
      await source.close();
    })(),
  );
}
process.stdout.write('ready\n');
process.once('SIGTERM', () => {
  running = false;
  void (async () => {
    await Promise.all(senders);
    await Promise.all(joined.map((r) => r.disconnect()));
    await dispose();
    process.exit(0);
  })();
});
