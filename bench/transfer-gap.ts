/**
 * What a WhatsApp caller hears while the call is transferred between rooms.
 *
 *   RUST_LOG=warn NODE_ENV=production node --import tsx bench/transfer-gap.ts [--transfers 10]
 *
 * Real parts: livekit-server, the simulator as Meta (the caller records what they hear), the
 * connector (`ConnectorServer` with its TypeScript room legs), and two rtc-node participants, one
 * per room, speaking
 * 440 Hz (room A) and 660 Hz (room B). One call is moved A → B → A … through
 * `POST /api/calls/{id}/transfer`. Per transfer:
 * - the request's round trip (join of the new room included);
 * - the caller's gap: 20 ms frames the caller heard with neither room's tone between the old
 *   room's last tone frame and the new room's first (0 = seamless; the goal is < 10, 200 ms);
 * - for comparison, the longest run of frames without the old room's tone in the 2 s before the
 *   transfer: what the machine's load alone does to the audio.
 * The participants share this process; figures are for comparing changes on one machine.
 */
import { parseArgs } from 'node:util';
import { dispose } from '@livekit/rtc-node';
import { AccessToken } from 'livekit-server-sdk';
import { SessionDescription } from '@livekit/protocol';
import { rmsDbfs, toneEnergyShare } from '../src/media/tone.js';
import type { HeardChunk } from '../src/simulator/simulated-phone.js';
import { RoomListener, sleep, startBridge } from '../test/integration/calls/bridge-harness.js';

const { values } = parseArgs({ options: { transfers: { type: 'string', default: '10' } } });
const transfers = Number(values.transfers);
const TONES = { A: 440, B: 660 } as const;

function toneOf(chunk: HeardChunk, rate: number): 'A' | 'B' | undefined {
  if (rmsDbfs(chunk.samples) < -35) return undefined;
  const a = toneEnergyShare(chunk.samples, rate, TONES.A);
  const b = toneEnergyShare(chunk.samples, rate, TONES.B);
  if (a > 0.5 && a > b) return 'A';
  if (b > 0.5 && b > a) return 'B';
  return undefined;
}

function summary(label: string, xs: number[], unit: string): string {
  const s = [...xs].sort((a, b) => a - b);
  const p50 = s[Math.floor((s.length - 1) / 2)] ?? NaN;
  return `${label.padEnd(44)} p50 ${p50.toFixed(0).padStart(5)} ${unit}   max ${(s.at(-1) ?? NaN).toFixed(0).padStart(5)} ${unit}   (n=${s.length})`;
}

const bridge = await startBridge({
  env: { CALL_MEDIA_TIMEOUT_SECONDS: '10' },
});
const internal = `http://127.0.0.1:${bridge.server.internalPort}`;
const rooms = { A: `gap-a-${Date.now()}`, B: `gap-b-${Date.now()}` } as const;
const listeners = {
  A: await RoomListener.join(bridge.lk, rooms.A, 'room-a'),
  B: await RoomListener.join(bridge.lk, rooms.B, 'room-b'),
};
await listeners.A.speak(TONES.A);
await listeners.B.speak(TONES.B);

const userCall = await bridge.simulator.placeUserCall({
  from: '15550009999',
  voice: { kind: 'tone', frequencyHz: 880 },
});
await bridge.client.acceptWhatsAppCall({
  whatsappPhoneNumberId: bridge.phoneNumberId,
  whatsappApiKey: bridge.accessToken,
  whatsappCloudApiVersion: '24.0',
  whatsappCallId: userCall.id,
  sdp: new SessionDescription({ type: 'offer', sdp: userCall.metaSdp }),
  roomName: rooms.A,
  participantIdentity: 'caller',
  waitUntilAnswered: true,
});
await sleep(3000);

const requestMs: number[] = [];
const gapFrames: number[] = [];
const baselineFrames: number[] = [];
let from: 'A' | 'B' = 'A';
for (let i = 0; i < transfers; i++) {
  const to: 'A' | 'B' = from === 'A' ? 'B' : 'A';
  const token = new AccessToken(bridge.lk.apiKey, bridge.lk.apiSecret, { ttl: 60 });
  token.addGrant({ roomCreate: true });
  const firstChunk = userCall.recording().chunks.length;
  const started = performance.now();
  const res = await fetch(`${internal}/api/calls/${encodeURIComponent(userCall.id)}/transfer`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${await token.toJwt()}` },
    body: JSON.stringify({ room: rooms[to] }),
  });
  requestMs.push(performance.now() - started);
  if (res.status !== 200) throw new Error(`transfer ${i} failed: ${await res.text()}`);
  await sleep(3000);
  const rec = userCall.recording();
  const tones = rec.chunks.map((c) => toneOf(c, rec.sampleRate));
  const firstNew = tones.findIndex((t, k) => k >= firstChunk && t === to);
  const lastOld = tones.lastIndexOf(from, firstNew);
  if (firstNew < 0 || lastOld < 0) {
    console.log(`transfer ${i + 1}: the caller never heard room ${to}'s tone`);
  } else {
    gapFrames.push(firstNew - lastOld - 1);
    let longest = 0;
    let run = 0;
    for (let k = Math.max(0, firstChunk - 100); k < firstChunk; k++) {
      run = tones[k] === from ? 0 : run + 1;
      longest = Math.max(longest, run);
    }
    baselineFrames.push(longest);
  }
  from = to;
}

console.log(`${transfers} transfers of one call between two rooms`);
console.log(summary('transfer request round trip', requestMs, 'ms'));
console.log(summary('caller: toneless frames at the switch', gapFrames, '  '));
console.log(summary('caller: longest toneless run, 2 s before', baselineFrames, '  '));

userCall.hangUp();
await listeners.A.close();
await listeners.B.close();
await bridge.stop();
await dispose();
