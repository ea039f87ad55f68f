/**
 * CPU of the WhatsApp media leg alone (no LiveKit, no room legs), per call-minute.
 *
 *   node --import tsx bench/media-leg-cpu.ts [calls...] [--seconds 20] [--mode pcm|opus]
 *
 * This process runs N `WhatsAppMediaLeg`s the way the bridge uses them (public API only): a
 * 20 ms producer feeds each leg a tone (`--mode pcm`, the transcoding path) or forwards
 * pre-encoded Opus packets (`--mode opus`, the passthrough path, when the leg has `sendOpus`:
 * then Meta's audio is also taken as undecoded packets), and every leg's received audio is
 * consumed. A child process plays Meta: N ICE-lite werift
 * peers that replay pre-encoded Opus at 20 ms and count what arrives. Reported: this process's
 * CPU (user + system, all threads) over the window as CPU-s per call-minute, event-loop delay
 * p99, and whether every leg heard Meta and Meta heard every leg.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

import { Encoder } from '@evan/opus';
import {
  MediaStreamTrack,
  RTCPeerConnection,
  RTCRtpCodecParameters,
  RtpHeader,
  type RTCRtpTransceiver,
} from 'werift';

import { createLogger } from '../src/log/logger.js';
import { ToneGenerator } from '../src/media/tone.js';
import { WhatsAppMediaLeg } from '../src/media/whatsapp-media-leg.js';

const META_OPUS_FMTP =
  'maxaveragebitrate=20000;maxplaybackrate=16000;minptime=20;sprop-maxcapturerate=16000;useinbandfec=1';

/** One second of a 440 Hz tone as 20 ms Opus packets at 16 kHz, replayed in a loop. */
function toneOpusPackets(): Uint8Array[] {
  const encoder = new Encoder({ channels: 1, sample_rate: 16000, application: 'voip' });
  encoder.bitrate = 20_000;
  const tone = new ToneGenerator(440, 16000, 0.3);
  return Array.from({ length: 50 }, () => encoder.encode(tone.next(320)));
}

type ChildMessage =
  { type: 'offer'; id: number; sdp: string } | { type: 'counts'; received: number[] };
type ParentMessage =
  | { type: 'start'; calls: number }
  | { type: 'answer'; id: number; sdp: string }
  | { type: 'count' }
  | { type: 'stop' };

// ------------------------------------------------------------------------------- child: Meta side

async function runMetaSide(): Promise<void> {
  const packets = toneOpusPackets();
  const peers: { pc: RTCPeerConnection; transceiver: RTCRtpTransceiver; received: number }[] = [];
  let timer: NodeJS.Timeout | undefined;
  let seq = 0;
  let ts = 0;
  const send = (message: ChildMessage) => process.send?.(message);
  process.on('message', (message: ParentMessage) => {
    void (async () => {
      if (message.type === 'start') {
        for (let id = 0; id < message.calls; id++) {
          const pc = new RTCPeerConnection({
            iceLite: true,
            iceAdditionalHostAddresses: ['127.0.0.1'],
            iceUseIpv6: false,
            iceFilterCandidatePair: (pair) => pair.localCandidate.host === '127.0.0.1',
            codecs: {
              audio: [
                new RTCRtpCodecParameters({
                  mimeType: 'audio/opus',
                  clockRate: 48000,
                  channels: 2,
                  payloadType: 111,
                  parameters: META_OPUS_FMTP,
                }),
                new RTCRtpCodecParameters({
                  mimeType: 'audio/telephone-event',
                  clockRate: 8000,
                  payloadType: 126,
                }),
              ],
              video: [],
            },
            headerExtensions: { audio: [], video: [] },
          });
          const transceiver = pc.addTransceiver(new MediaStreamTrack({ kind: 'audio' }), {
            direction: 'sendrecv',
          });
          const peer = { pc, transceiver, received: 0 };
          pc.onTrack.subscribe((track) => track.onReceiveRtp.subscribe(() => peer.received++));
          peers.push(peer);
          await pc.setLocalDescription(await pc.createOffer());
          while (pc.iceGatheringState !== 'complete') {
            await new Promise((r) => setTimeout(r, 10));
          }
          // werift writes a=ice-lite per media section; Meta's offers keep only loopback here.
          send({ type: 'offer', id, sdp: pc.localDescription!.sdp });
        }
        let next = performance.now();
        const loop = () => {
          while (performance.now() >= next) {
            const payload = packets[seq % packets.length]!;
            for (const peer of peers) {
              const sender = peer.transceiver.sender;
              if (sender.dtlsTransport.state !== 'connected') continue;
              void sender.dtlsTransport
                .sendRtp(
                  Buffer.from(payload),
                  new RtpHeader({
                    payloadType: 111,
                    sequenceNumber: seq & 0xffff,
                    timestamp: ts >>> 0,
                    ssrc: sender.ssrc,
                  }),
                )
                .catch(() => undefined);
            }
            seq++;
            ts += 960;
            next += 20;
          }
          timer = setTimeout(loop, Math.max(0, next - performance.now()));
        };
        loop();
      } else if (message.type === 'answer') {
        await peers[message.id]!.pc.setRemoteDescription({ type: 'answer', sdp: message.sdp });
      } else if (message.type === 'count') {
        send({ type: 'counts', received: peers.map((p) => p.received) });
      } else {
        if (timer) clearTimeout(timer);
        await Promise.all(peers.map((p) => p.pc.close()));
        process.exit(0);
      }
    })();
  });
}

// ---------------------------------------------------------------------------- parent: the legs

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function measure(calls: number, seconds: number, mode: 'pcm' | 'opus'): Promise<void> {
  const child: ChildProcess = fork(fileURLToPath(import.meta.url), ['--meta-side'], {
    execArgv: ['--import', 'tsx'],
  });
  const logger = createLogger({ level: 'warn', name: 'bench' });
  const legs: WhatsAppMediaLeg[] = [];
  const heard: number[] = [];
  const connected: Promise<void>[] = [];
  const offers = new Map<number, string>();
  let counts: ((received: number[]) => void) | undefined;
  let offerWaiter: (() => void) | undefined;
  child.on('message', (message: ChildMessage) => {
    if (message.type === 'offer') {
      offers.set(message.id, message.sdp);
      offerWaiter?.();
    } else counts?.(message.received);
  });
  child.send({ type: 'start', calls } satisfies ParentMessage);
  for (let id = 0; id < calls; id++) {
    while (!offers.has(id)) await new Promise<void>((r) => (offerWaiter = r));
    const leg = WhatsAppMediaLeg.create({
      sampleRate: 16000, // the bridge's rate (BRIDGE_SAMPLE_RATE)
      iceAllowedAddresses: ['127.0.0.1'],
      iceUseIpv6: false,
      logger,
    });
    heard.push(0);
    const passthrough = leg as unknown as { setPcmOutput?: (on: boolean) => void };
    if (mode === 'opus' && passthrough.setPcmOutput) {
      // Passthrough both ways: Meta's packets are handed out undecoded.
      passthrough.setPcmOutput(false);
      (leg as unknown as { on(e: 'opus', f: () => void): void }).on('opus', () => heard[id]!++);
    } else {
      leg.on('audio', () => heard[id]!++);
    }
    connected.push(new Promise((r) => leg.once('connected', () => r())));
    legs.push(leg);
    const answer = await leg.createAnswer(offers.get(id)!);
    child.send({ type: 'answer', id, sdp: answer } satisfies ParentMessage);
  }
  await Promise.all(connected);

  // The bridge's producer: one 20 ms frame (or forwarded packet) per leg per tick.
  const forward = (
    leg: WhatsAppMediaLeg,
  ): ((packet: Uint8Array, seq: number) => void) | undefined => {
    const maybe = leg as unknown as {
      sendOpus?: (p: { payload: Uint8Array; sequenceNumber: number; timestamp: number }) => void;
      selectAudioSource?: (source: 'pcm' | 'opus') => void;
    };
    if (mode !== 'opus' || !maybe.sendOpus) return undefined;
    maybe.selectAudioSource?.('opus');
    return (payload, seq) =>
      maybe.sendOpus!({ payload, sequenceNumber: seq, timestamp: seq * 960 });
  };
  const forwarders = legs.map(forward);
  if (mode === 'opus' && forwarders.some((f) => f === undefined)) {
    throw new Error('this build of WhatsAppMediaLeg has no sendOpus: measure --mode pcm');
  }
  const packets = toneOpusPackets();
  const tones = legs.map(() => new ToneGenerator(1000, 16000, 0.3));
  let produced = 0;
  let next = performance.now();
  let producer: NodeJS.Timeout | undefined;
  const produce = () => {
    while (performance.now() >= next) {
      legs.forEach((leg, i) => {
        const forwarder = forwarders[i];
        if (forwarder) forwarder(packets[produced % packets.length]!, produced & 0xffff);
        else leg.sendAudio(tones[i]!.next(leg.frameSamples));
      });
      produced++;
      next += 20;
    }
    producer = setTimeout(produce, Math.max(0, next - performance.now()));
  };
  produce();

  await sleep(3000); // warm-up
  const loop = monitorEventLoopDelay({ resolution: 5 });
  loop.enable();
  const heardBefore = [...heard];
  const cpuBefore = process.cpuUsage();
  const t0 = performance.now();
  await sleep(seconds * 1000);
  const cpu = process.cpuUsage(cpuBefore);
  const wallS = (performance.now() - t0) / 1000;
  loop.disable();
  const received = await new Promise<number[]>((r) => {
    counts = r;
    child.send({ type: 'count' } satisfies ParentMessage);
  });
  if (producer) clearTimeout(producer);
  const stats = legs.map((leg) => leg.stats());
  await Promise.all(legs.map((leg) => leg.close()));
  child.send({ type: 'stop' } satisfies ParentMessage);

  const cpuS = (cpu.user + cpu.system) / 1e6;
  const perCallMinute = cpuS / calls / (wallS / 60);
  const framesPerLeg = heard.map((h, i) => (h - heardBefore[i]!) / wallS);
  console.log(
    JSON.stringify({
      calls,
      mode,
      seconds: Number(wallS.toFixed(1)),
      cpuPercentOfCore: Number(((cpuS / wallS) * 100).toFixed(1)),
      cpuSecondsPerCallMinute: Number(perCallMinute.toFixed(3)),
      eventLoopDelayP99Ms: Number((loop.percentile(99) / 1e6).toFixed(1)),
      legFramesOrPacketsPerSecondMin: Number(Math.min(...framesPerLeg).toFixed(1)),
      metaPacketsReceivedMin: Math.min(...received),
      framesDecoded: stats.reduce((a, s) => a + s.framesDecoded, 0),
      framesConcealed: stats.reduce((a, s) => a + s.framesConcealed, 0),
      clockResyncs: stats.reduce((a, s) => a + s.clockResyncs, 0),
    }),
  );
}

if (process.argv.includes('--meta-side')) {
  void runMetaSide();
} else {
  const args = process.argv.slice(2);
  const flag = (name: string, fallback: string): string => {
    const i = args.indexOf(name);
    return i >= 0 ? (args.splice(i, 2)[1] ?? fallback) : fallback;
  };
  const seconds = Number(flag('--seconds', '20'));
  const mode = flag('--mode', 'pcm') === 'opus' ? 'opus' : 'pcm';
  const sizes = args.length > 0 ? args.map(Number) : [1, 10];
  for (const calls of sizes) await measure(calls, seconds, mode);
}
