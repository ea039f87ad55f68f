import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { RoomEvent, dispose } from '@livekit/rtc-node';
import { toneEnergyShare, windowedToneShare } from '../../../src/media/tone.js';
import {
  RoomListener,
  acceptInboundCall,
  audibleFrameFraction,
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

test('DTMF travels both ways: caller keys reach the room as SIP DTMF, room DTMF reaches the caller', async () => {
  const { userCall, listener } = await acceptInboundCall(bridge);
  try {
    const digits: string[] = [];
    listener.room.on(RoomEvent.DtmfReceived, (_code, digit) => digits.push(digit));
    await userCall.pressDigits('159#');
    await eventually(
      () => digits.join('') === '159#',
      5000,
      `room digits (got ${digits.join('')})`,
    );

    for (const [code, digit] of [
      [4, '4'],
      [10, '*'],
    ] as const) {
      await listener.room.localParticipant!.publishDtmf(code, digit);
      await sleep(300);
    }
    await eventually(
      () => userCall.heardDigits === '4*',
      5000,
      `user digits (got ${userCall.heardDigits})`,
    );
  } finally {
    await bridge.client
      .disconnectWhatsAppCall(userCall.id, bridge.accessToken)
      .catch(() => undefined);
    await listener.close();
  }
});

test('the caller hears every speaker in the room mixed, not just the first track', async () => {
  const { userCall, roomName, listener } = await acceptInboundCall(bridge);
  const second = await RoomListener.join(bridge.lk, roomName, 'second-speaker');
  try {
    await listener.speak(440);
    await second.speak(1000);
    await sleep(2500);
    const pcm = userCall.recording().pcm.subarray(-16_000);
    const share440 = windowedToneShare(pcm, 16_000, 440);
    const share1000 = windowedToneShare(pcm, 16_000, 1000);
    // Two equal tones: each holds about half the energy; a single-track bridge gives ~1 and ~0.
    assert.ok(
      share440 > 0.25 && share1000 > 0.25,
      `440 Hz ${share440.toFixed(2)}, 1000 Hz ${share1000.toFixed(2)}`,
    );
    assert.ok(
      share440 + share1000 > 0.8,
      `tones make up ${(share440 + share1000).toFixed(2)} of the mix`,
    );
    assert.ok(toneEnergyShare(pcm, 16_000, 700) < 0.05, 'no energy between the tones');
  } finally {
    await bridge.client
      .disconnectWhatsAppCall(userCall.id, bridge.accessToken)
      .catch(() => undefined);
    await second.close();
    await listener.close();
  }
});

test('with 5% packet loss and 30 ms jitter on the WhatsApp leg the tone still arrives continuously', async () => {
  bridge.simulator.setFaults({ packetLossPercent: 5, jitterMs: 30 });
  const { userCall, listener } = await acceptInboundCall(bridge, { toneHz: 440 });
  try {
    await sleep(4000);
    const pcm = listener.heard(3000);
    // Every lost packet must be filled: no holes, and the signal stays the tone.
    const audible = audibleFrameFraction(pcm, listener.sampleRate);
    const share = windowedToneShare(pcm, listener.sampleRate, 440);
    assert.ok(audible > 0.97, `audio present in ${(audible * 100).toFixed(1)}% of 20 ms frames`);
    assert.ok(share > 0.7, `440 Hz share ${share.toFixed(2)} in 100 ms windows`);
    const call = bridge.server.calls!.registry.get(userCall.id)!;
    const stats = (
      call.media as unknown as { stats(): { sequenceGaps: number; framesDecoded: number } }
    ).stats();
    assert.ok(stats.sequenceGaps > 0, 'the fault injection dropped packets');
    // Passthrough: the connector forwards Meta's packets with the gaps and reordering as they
    // were; the room's decoder (libwebrtc here) conceals the losses.
    assert.equal(stats.framesDecoded, 0, 'the connector decoded nothing');
  } finally {
    bridge.simulator.setFaults({ packetLossPercent: 0, jitterMs: 0 });
    await bridge.client
      .disconnectWhatsAppCall(userCall.id, bridge.accessToken)
      .catch(() => undefined);
    await listener.close();
  }
});
