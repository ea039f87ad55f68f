/**
 * The Opus passthrough paths of the media leg against the ICE-lite Meta-shaped peer, on loopback:
 * Meta's packets handed out undecoded, forwarded agent packets sent to Meta unchanged, keep-alives
 * when the forwarded speaker is silent, and switching to mixing and back without a timestamp jump.
 */
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';

import { Encoder } from '@evan/opus';

import { createLogger } from '../../../src/log/logger.js';
import { OPUS_SILENCE_FRAME } from '../../../src/media/opus-packet.js';
import { analyseTone, concatPcm, ToneGenerator } from '../../../src/media/tone.js';
import {
  WhatsAppMediaLeg,
  type ReceivedOpusPacket,
} from '../../../src/media/whatsapp-media-leg.js';
import { FakeMetaPeer } from './fake-meta-peer.js';

const logger = createLogger({ level: 'warn', name: 'test' });
const cleanups: (() => Promise<void> | void)[] = [];

afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.();
});

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

async function connect(): Promise<{ leg: WhatsAppMediaLeg; meta: FakeMetaPeer }> {
  const meta = new FakeMetaPeer();
  cleanups.push(() => meta.close());
  const leg = WhatsAppMediaLeg.create({
    sampleRate: 16000,
    iceAllowedAddresses: ['127.0.0.1'],
    iceUseIpv6: false,
    logger,
  });
  cleanups.push(() => leg.close());
  const answer = await leg.createAnswer(await meta.createOffer());
  const connected = new Promise<void>((resolve) => leg.once('connected', () => resolve()));
  await meta.setAnswer(answer);
  await Promise.all([connected, meta.connected()]);
  return { leg, meta };
}

/** Forwards 20 ms Opus packets of a tone every 20 ms, like an agent's track. */
function forwardTone(
  leg: WhatsAppMediaLeg,
  bitrate = 16_000,
): { stop: () => void; sent: Uint8Array[] } {
  const encoder = new Encoder({ channels: 1, sample_rate: 48000, application: 'voip' });
  encoder.bitrate = bitrate;
  const tone = new ToneGenerator(700, 48000, 0.3);
  const sent: Uint8Array[] = [];
  let seq = 0;
  const timer = setInterval(() => {
    const payload = encoder.encode(tone.next(960));
    sent.push(payload);
    leg.sendOpus({ payload, sequenceNumber: seq++ });
  }, 20);
  return { stop: () => clearInterval(timer), sent };
}

describe('WhatsAppMediaLeg Opus passthrough', () => {
  it("hands out Meta's Opus packets byte for byte, never DTMF, and decodes nothing when PCM is off", async () => {
    const { leg, meta } = await connect();
    leg.setPcmOutput(false);
    const packets: ReceivedOpusPacket[] = [];
    const digits: string[] = [];
    let frames = 0;
    leg.on('opus', (p) => packets.push(p));
    leg.on('dtmf', (d) => digits.push(d));
    leg.on('audio', () => frames++);
    const stopMeta = meta.startTone();
    await sleep(400);
    meta.sendDtmfEvent(3);
    await sleep(400);
    stopMeta();
    await sleep(100);

    assert.ok(packets.length >= 30, `${packets.length} packets`);
    assert.equal(packets.length, meta.sentOpusPayloads.length, 'every Opus packet, nothing else');
    const sent = new Set(meta.sentOpusPayloads.map((p) => Buffer.from(p).toString('hex')));
    assert.ok(
      packets.every((p) => sent.has(Buffer.from(p.payload).toString('hex'))),
      'bit-exact payloads',
    );
    assert.equal(new Set(packets.map((p) => p.ssrc)).size, 1);
    assert.deepEqual(digits, ['3']);
    assert.equal(frames, 0);
    assert.equal(leg.stats().framesDecoded, 0, 'nothing decoded');
  });

  it('forwards agent packets to Meta unchanged and keeps Meta fed while the agent is silent', async () => {
    const { leg, meta } = await connect();
    leg.selectAudioSource('opus');
    const agent = forwardTone(leg);
    await sleep(1000);
    agent.stop();
    const forwardedCount = meta.receivedOpusPayloads.length;
    const received = new Set(meta.receivedOpusPayloads.map((p) => p.toString('hex')));
    const delivered = agent.sent.filter((p) => received.has(Buffer.from(p).toString('hex')));
    assert.ok(
      delivered.length >= agent.sent.length - 2,
      `${delivered.length} of ${agent.sent.length} agent packets arrived unchanged`,
    );
    const tone = analyseTone(concatPcm(meta.receivedPcm.slice(10)), 16000, 700);
    assert.ok(Math.abs(tone.frequencyHz - 700) < 20, `Meta hears ${tone.frequencyHz} Hz`);

    // The agent goes silent (DTX): Meta still gets a packet every 20 ms.
    await sleep(1000);
    const keepAlives = meta.receivedOpusPayloads
      .slice(forwardedCount)
      .filter((p) => p.equals(OPUS_SILENCE_FRAME));
    assert.ok(keepAlives.length >= 40, `${keepAlives.length} keep-alives in 1 s`);
    const stats = leg.stats();
    assert.ok(stats.forwardedPackets >= 45);
    assert.equal(stats.reencodedPackets, 0, 'a 16 kbit/s agent fits Meta: no re-encoding');
    assert.equal(meta.receivedSsrcs.size, 1);
  });

  it('switches from forwarding to mixing and back with continuous timestamps', async () => {
    const { leg, meta } = await connect();
    const timestamps: number[] = [];
    meta.pc.getTransceivers()[0]?.receiver.tracks[0]?.onReceiveRtp.subscribe((p) => {
      if (p.header.payloadType === 111) timestamps.push(p.header.timestamp);
    });
    leg.selectAudioSource('opus');
    const agent = forwardTone(leg);
    await sleep(500);
    leg.selectAudioSource('pcm');
    const tone = new ToneGenerator(1000, 16000, 0.3);
    const mix = setInterval(() => leg.sendAudio(tone.next(320)), 20);
    await sleep(500);
    clearInterval(mix);
    leg.selectAudioSource('opus');
    await sleep(500);
    agent.stop();
    assert.ok(timestamps.length >= 60, `${timestamps.length} packets`);
    const steps = timestamps.slice(1).map((t, i) => (t - timestamps[i]! + 2 ** 32) % 2 ** 32);
    assert.ok(
      steps.every((s) => s === 960),
      `timestamp steps other than 960: ${steps.filter((s) => s !== 960).join(',')}`,
    );
    assert.ok(leg.stats().pcmDropsWhileForwarding === 0);
  });
});
