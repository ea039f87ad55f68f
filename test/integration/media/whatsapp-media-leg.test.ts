/**
 * The business media leg against a werift peer that is a real ICE-lite agent shaped like Meta's
 * relay (see fake-meta-peer.ts). Everything runs on 127.0.0.1.
 */
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';

import { ConnectorError } from '../../../src/errors/connector-error.js';
import { createLogger } from '../../../src/log/logger.js';
import { analyseTone, concatPcm, rmsDbfs, ToneGenerator } from '../../../src/media/tone.js';
import { InvalidSdpError } from '../../../src/media/sdp/invalid-sdp-error.js';
import { WhatsAppMediaLeg } from '../../../src/media/whatsapp-media-leg.js';
import { FakeMetaPeer } from './fake-meta-peer.js';

const logger = createLogger({ level: 'warn', name: 'test' });
const cleanups: (() => Promise<void> | void)[] = [];

afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.();
});

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function newLeg(sampleRate = 16000): WhatsAppMediaLeg {
  const leg = WhatsAppMediaLeg.create({
    sampleRate,
    iceAllowedAddresses: ['127.0.0.1'],
    iceUseIpv6: false,
    logger,
  });
  cleanups.push(() => leg.close());
  return leg;
}

function newMeta(): FakeMetaPeer {
  const meta = new FakeMetaPeer();
  cleanups.push(() => meta.close());
  return meta;
}

function legConnected(leg: WhatsAppMediaLeg): Promise<void> {
  return new Promise((resolve) => leg.once('connected', () => resolve()));
}

/** User-initiated call: Meta offers, the leg answers. */
async function connectUserInitiated(
  sampleRate = 16000,
): Promise<{ leg: WhatsAppMediaLeg; meta: FakeMetaPeer; answer: string }> {
  const meta = newMeta();
  const leg = newLeg(sampleRate);
  const offer = await meta.createOffer();
  const answer = await leg.createAnswer(offer);
  const connected = legConnected(leg);
  await meta.setAnswer(answer);
  await Promise.all([connected, meta.connected()]);
  return { leg, meta, answer };
}

/** Feed the leg a tone at its rate, 20 ms at a time, a little ahead of its clock. */
function feedTone(leg: WhatsAppMediaLeg, frequencyHz = 1000): () => void {
  const tone = new ToneGenerator(frequencyHz, leg.sampleRate, 0.3);
  const timer = setInterval(() => {
    while (leg.queuedFrames < 3) leg.sendAudio(tone.next(leg.frameSamples));
  }, 10);
  return () => clearInterval(timer);
}

/**
 * A DTLS record carrying a ClientHello without a cookie (RFC 6347 §4.2.1): the first flight of a
 * handshake. Record header 13 bytes, handshake header 12, then version (2) and random (32).
 */
function isInitialClientHello(data: Buffer): boolean {
  if (data[0] !== 22 || data[13] !== 1) return false;
  const sessionIdLength = data[59];
  if (sessionIdLength === undefined) return false;
  return data[60 + sessionIdLength] === 0;
}

function udpSocketCount(): number {
  return process.getActiveResourcesInfo().filter((r) => r === 'UDPWrap').length;
}

async function waitForUdpSockets(done: (count: number) => boolean): Promise<void> {
  const deadline = performance.now() + 3000;
  while (!done(udpSocketCount()) && performance.now() < deadline) await sleep(50);
}

describe('WhatsAppMediaLeg against an ICE-lite Meta-shaped peer', () => {
  it('answers as ICE controlling / DTLS client in WhatsApp SDP shape and carries a 1 kHz tone both ways', async () => {
    const { leg, meta, answer } = await connectUserInitiated();

    assert.match(answer, /^a=setup:active\r?$/m);
    assert.match(answer, /^a=mid:audio\r?$/m);
    assert.match(answer, /^a=rtpmap:111 opus\/48000\/2\r?$/m);
    assert.match(answer, /^a=rtpmap:126 telephone-event\/8000\r?$/m);
    assert.match(answer, /^a=ptime:20\r?$/m);
    assert.equal(answer.match(/^a=fingerprint:/gm)?.length, 1);
    assert.match(answer, /^a=fingerprint:sha-256 /m);
    assert.doesNotMatch(answer, /a=ice-lite/);
    assert.equal(answer.match(/^m=/gm)?.length, 1);

    assert.equal(leg.iceRole, 'controlling');
    assert.equal(leg.dtlsRole, 'client');
    assert.equal(meta.iceControlling, false);
    assert.equal(leg.state, 'connected');

    const heard: Int16Array[] = [];
    leg.on('audio', (pcm) => heard.push(pcm));
    const stopMeta = meta.startTone();
    const stopFeed = feedTone(leg);
    await sleep(1500);
    stopMeta();
    stopFeed();

    assert.ok(
      heard.every((f) => f.length === 320),
      'every frame is 20 ms at 16 kHz',
    );
    const atLeg = analyseTone(concatPcm(heard.slice(15)), 16000, 1000);
    assert.ok(Math.abs(atLeg.frequencyHz - 1000) < 20, `leg hears ${atLeg.frequencyHz} Hz`);
    assert.ok(Math.abs(atLeg.levelDbfs - -13.5) < 3, `leg hears ${atLeg.levelDbfs} dBFS`);
    assert.ok(atLeg.toneShare > 0.8, `leg tone share ${atLeg.toneShare}`);

    const atMeta = analyseTone(concatPcm(meta.receivedPcm.slice(15)), 16000, 1000);
    assert.ok(Math.abs(atMeta.frequencyHz - 1000) < 20, `Meta hears ${atMeta.frequencyHz} Hz`);
    assert.ok(Math.abs(atMeta.levelDbfs - -13.5) < 3, `Meta hears ${atMeta.levelDbfs} dBFS`);
    assert.ok(atMeta.toneShare > 0.8, `Meta tone share ${atMeta.toneShare}`);
    assert.equal(meta.receivedSsrcs.size, 1, 'a single SSRC');
  });

  it('sends DTMF as RFC 4733 on PT 126 and reports received DTMF exactly once per digit', async () => {
    const { leg, meta } = await connectUserInitiated();
    const digits: string[] = [];
    leg.on('dtmf', (d) => digits.push(d));

    leg.sendDtmf('15#');
    const stopMeta = meta.startTone();
    await sleep(300);
    meta.sendDtmfEvent(9);
    await sleep(100);
    meta.sendDtmfEvent(10);
    await sleep(100);
    meta.sendDtmfEvent(9);
    await sleep(700);
    stopMeta();

    assert.deepEqual(digits, ['9', '*', '9']);
    assert.equal(leg.stats().dtmfReceived, 3);

    // Group what Meta received by event timestamp: one event per digit, in order.
    const events = new Map<number, typeof meta.receivedDtmf>();
    for (const p of meta.receivedDtmf) {
      const list = events.get(p.timestamp) ?? [];
      list.push(p);
      events.set(p.timestamp, list);
    }
    const sent = [...events.values()];
    assert.deepEqual(
      sent.map((packets) => packets[0]?.event),
      [1, 5, 11],
    );
    for (const packets of sent) {
      assert.equal(packets[0]?.marker, true, 'first packet of an event has the marker bit');
      assert.equal(packets.filter((p) => p.marker).length, 1);
      const ends = packets.filter((p) => p.end);
      assert.equal(ends.length, 3, 'three end packets');
      assert.ok(
        ends.every((p) => p.duration === 800),
        '100 ms in 8 kHz units',
      );
    }
    assert.equal(leg.stats().dtmfSent, 3);
    assert.equal(meta.receivedSsrcs.size, 1, 'DTMF shares the audio SSRC');
  });

  it('keeps the 20 ms audio clock continuous and conceals 5 % seeded packet loss', async () => {
    const { leg, meta } = await connectUserInitiated();
    const heard: Int16Array[] = [];
    let firstFrameAt = 0;
    leg.on('audio', (pcm) => {
      if (heard.length === 0) firstFrameAt = performance.now();
      heard.push(pcm);
    });
    const stopMeta = meta.startTone({ lossRate: 0.05, seed: 7 });
    await sleep(2500);
    stopMeta();
    const elapsedFrames = (performance.now() - firstFrameAt) / 20;

    const stats = leg.stats();
    assert.ok(meta.packetsDropped > 0, 'the seeded loss dropped packets');
    assert.ok(stats.packetsLost > 0, 'the leg saw the loss');
    assert.ok(stats.framesConcealed >= stats.packetsLost, 'every lost packet was concealed');
    // No gaps: one frame per tick (generous bound: the test itself shares the event loop).
    assert.ok(
      heard.length >= elapsedFrames * 0.9,
      `${heard.length} frames in ${elapsedFrames} ticks`,
    );
    const playing = heard.slice(10, -5);
    const silent = playing.filter((f) => rmsDbfs(f) < -40).length;
    assert.ok(silent <= playing.length * 0.02, `${silent} silent frames while the tone played`);
    const a = analyseTone(concatPcm(playing), 16000, 1000);
    assert.ok(Math.abs(a.frequencyHz - 1000) < 30, `${a.frequencyHz} Hz`);
    assert.ok(a.toneShare > 0.7, `tone share ${a.toneShare}`);

    // The remote stops sending: the clock keeps emitting frames, fading to silence.
    const before = heard.length;
    const stoppedAt = performance.now();
    await sleep(600);
    const ticks = (performance.now() - stoppedAt) / 20;
    assert.ok(heard.length - before >= ticks * 0.9, 'frames keep coming after the remote stops');
    assert.equal(rmsDbfs(concatPcm(heard.slice(-10))), -Infinity, 'and end in silence');
  });

  it('sends encoded silence when nothing is queued, and RTCP sender reports flow', async () => {
    const { leg, meta } = await connectUserInitiated();
    let senderReports = 0;
    meta.pc.getTransceivers()[0]?.receiver.onRtcp.subscribe((packet) => {
      if (packet.type === 200) senderReports++;
    });
    await sleep(1800);
    const opusPackets = meta.receivedPayloadTypes.get(111) ?? 0;
    assert.ok(opusPackets >= 40, `${opusPackets} packets in 1.8 s without queued audio`);
    assert.ok(leg.stats().silenceFramesSent >= 40);
    assert.ok(rmsDbfs(concatPcm(meta.receivedPcm)) < -50, 'and they decode to silence');
    assert.ok(senderReports >= 1, 'werift sends RTCP sender reports by itself');
  });

  it('as DTLS client starts one handshake at once, which the delayed start of werift joins instead of repeating', async () => {
    const meta = newMeta();
    const leg = newLeg();
    const offer = await meta.createOffer();
    // Initial ClientHellos (no cookie yet) reaching Meta: a second handshake would send another.
    let initialClientHellos = 0;
    meta.pc.iceTransports[0]?.connection.onData.subscribe((data) => {
      if (isInitialClientHello(data)) initialClientHellos++;
    });
    const answer = await leg.createAnswer(offer);
    const connected = legConnected(leg);
    await meta.setAnswer(answer);
    await Promise.all([connected, meta.connected()]);
    assert.equal(leg.dtlsRole, 'client');
    // Past werift's fixed 100 ms wait before it starts the client handshake itself.
    await sleep(400);
    assert.equal(initialClientHellos, 1, 'one handshake');
    assert.equal(leg.state, 'connected');
    assert.equal(meta.pc.connectionState, 'connected');

    const heard: Int16Array[] = [];
    leg.on('audio', (pcm) => heard.push(pcm));
    const metaBefore = meta.receivedPcm.length;
    const stopMeta = meta.startTone();
    const stopFeed = feedTone(leg);
    await sleep(800);
    stopMeta();
    stopFeed();
    assert.ok(analyseTone(concatPcm(heard.slice(10)), 16000, 1000).toneShare > 0.8, 'leg hears');
    assert.ok(
      analyseTone(concatPcm(meta.receivedPcm.slice(metaBefore + 10)), 16000, 1000).toneShare > 0.8,
      'Meta hears',
    );
  });

  it('offers for a business-initiated call and accepts an answer that says actpass', async () => {
    const meta = newMeta();
    const leg = newLeg(48000);
    const offer = await leg.createOffer();
    assert.match(offer, /^a=setup:actpass\r?$/m);
    assert.match(offer, /^a=rtpmap:126 telephone-event\/8000\r?$/m);
    assert.match(offer, /^a=ptime:20\r?$/m);
    assert.doesNotMatch(offer, /^a=candidate:.* (?!127\.0\.0\.1)\d+\.\d+\.\d+\.\d+ \d+ typ/m);
    // Meta has been seen answering with actpass; the leg must read it as active.
    const answer = (await meta.createAnswer(offer)).replace(/^a=setup:active/m, 'a=setup:actpass');
    const connected = legConnected(leg);
    await leg.setRemoteAnswer(answer);
    await Promise.all([connected, meta.connected()]);
    assert.equal(leg.iceRole, 'controlling');
    assert.equal(leg.dtlsRole, 'server');
    assert.deepEqual(leg.payloadTypes, { opus: 111, telephoneEvent: 126 });

    const heard: Int16Array[] = [];
    leg.on('audio', (pcm) => heard.push(pcm));
    const stopMeta = meta.startTone();
    const stopFeed = feedTone(leg);
    await sleep(1200);
    stopMeta();
    stopFeed();
    assert.ok(
      heard.every((f) => f.length === 960),
      '20 ms at 48 kHz',
    );
    const atLeg = analyseTone(concatPcm(heard.slice(15)), 48000, 1000);
    assert.ok(Math.abs(atLeg.frequencyHz - 1000) < 20, `leg hears ${atLeg.frequencyHz} Hz`);
    assert.ok(atLeg.toneShare > 0.8);
    const atMeta = analyseTone(concatPcm(meta.receivedPcm.slice(15)), 16000, 1000);
    assert.ok(Math.abs(atMeta.frequencyHz - 1000) < 20, `Meta hears ${atMeta.frequencyHz} Hz`);
    assert.ok(atMeta.toneShare > 0.8);
  });

  it('close() is idempotent, emits closed once and releases its clock and sockets', async () => {
    // Sockets of earlier tests close asynchronously; start from a settled count.
    await waitForUdpSockets((n) => n === 0);
    const baselineSockets = udpSocketCount();
    const { leg, meta } = await connectUserInitiated();
    assert.ok(udpSocketCount() > baselineSockets);
    const closed: string[] = [];
    leg.on('closed', (reason) => closed.push(reason));
    let framesAfterClose = 0;
    const stopMeta = meta.startTone();
    await sleep(200);
    await Promise.all([leg.close(), leg.close()]);
    leg.on('audio', () => framesAfterClose++);
    await leg.close();
    await meta.close();
    stopMeta();
    assert.deepEqual(closed, ['closed']);
    assert.equal(leg.state, 'closed');
    leg.sendAudio(new Int16Array(320)); // no-ops after close, not errors
    leg.sendDtmf('1');
    await waitForUdpSockets((n) => n <= baselineSockets);
    assert.equal(udpSocketCount(), baselineSockets, 'all UDP sockets closed');
    await sleep(100);
    assert.equal(framesAfterClose, 0, 'the clock stopped');
  });

  it('rejects bad input with ConnectorError', async () => {
    const isInvalid = (e: unknown): boolean =>
      e instanceof ConnectorError && e.code === 'invalid_argument';
    assert.throws(() => WhatsAppMediaLeg.create({ sampleRate: 44100 }), isInvalid);
    const leg = newLeg();
    assert.throws(() => leg.sendAudio(new Int16Array(100)), isInvalid);
    assert.throws(() => leg.sendDtmf('x'), isInvalid);
    await assert.rejects(leg.createAnswer('v=0\r\nthis is not sdp'), isInvalid);
    const other = newLeg();
    const noOpus =
      'v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE audio\r\n' +
      'm=audio 9 UDP/TLS/RTP/SAVPF 0\r\nc=IN IP4 0.0.0.0\r\na=ice-ufrag:abcd\r\n' +
      'a=ice-pwd:abcdefghijklmnopqrstuvwx\r\na=fingerprint:sha-256 ' +
      'AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99\r\n' +
      'a=setup:actpass\r\na=mid:audio\r\na=sendrecv\r\na=rtcp-mux\r\na=rtpmap:0 PCMU/8000\r\n';
    await assert.rejects(other.createAnswer(noOpus), isInvalid);
  });

  it("refuses a 774 KiB offer with 15,000 candidates at once while another call's audio keeps flowing", async () => {
    const { leg, meta } = await connectUserInitiated();
    const heard: Int16Array[] = [];
    leg.on('audio', (pcm) => heard.push(pcm));
    const stopMeta = meta.startTone();
    await sleep(300);
    const candidates = Array.from(
      { length: 15_000 },
      (_, i) =>
        `a=candidate:${i} 1 udp 2122260223 157.240.${(i >> 8) & 255}.${i & 255} ${1024 + i} typ host generation 0 network-cost 50\r\n`,
    ).join('');
    const hostile = (await newMeta().createOffer()).replace(
      'a=ice-ufrag:',
      `${candidates}a=ice-ufrag:`,
    );
    assert.ok(hostile.length > 774 * 1024, `${hostile.length} bytes`);
    const framesBefore = heard.length;
    const started = performance.now();
    let worst = 0;
    for (let i = 0; i < 20; i++) {
      const victim = newLeg();
      // CPU time of the refusal (only microtasks run until it settles): other processes on the
      // machine cannot stretch it.
      const cpuBefore = process.cpuUsage();
      await assert.rejects(
        victim.createAnswer(hostile),
        (e: unknown) =>
          e instanceof InvalidSdpError && e.reason === 'too_large' && e.code === 'invalid_argument',
      );
      const cpu = process.cpuUsage(cpuBefore);
      worst = Math.max(worst, (cpu.user + cpu.system) / 1000);
      await sleep(20);
    }
    const elapsedTicks = (performance.now() - started) / 20;
    stopMeta();
    assert.ok(worst < 50, `slowest refusal ${worst.toFixed(1)} ms of CPU`);
    // The running call kept its 20 ms frames meanwhile (generous bound: the test shares the loop).
    assert.ok(
      heard.length - framesBefore >= elapsedTicks * 0.9,
      `${heard.length - framesBefore} frames in ${elapsedTicks.toFixed(0)} ticks`,
    );
    const tone = analyseTone(concatPcm(heard.slice(framesBefore)), 16000, 1000);
    assert.ok(tone.toneShare > 0.8, `tone share ${tone.toneShare}`);
  });
});
