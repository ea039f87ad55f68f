/**
 * Test peer playing Meta's media relay: a werift agent with `iceLite: true` (a real lite agent that
 * stays controlled), Meta's Opus fmtp and telephone-event/8000 on PT 126. Its SDP is rewritten to
 * the shape of Meta's real offers (session-level `a=ice-lite`, `mid:audio`, ptime 20).
 *
 * It sends and parses RTP itself (raw @evan/opus, hand-built RFC 4733 payloads) so the leg under
 * test is checked against code that shares nothing with it.
 */
import { Decoder, Encoder } from '@evan/opus';
import {
  MediaStreamTrack,
  RTCPeerConnection,
  RTCRtpCodecParameters,
  RtpHeader,
  type RtpPacket,
  type RTCRtpTransceiver,
} from 'werift';

import { ToneGenerator } from '../../../src/media/tone.js';

export const META_OPUS_FMTP =
  'maxaveragebitrate=20000;maxplaybackrate=16000;minptime=20;sprop-maxcapturerate=16000;useinbandfec=1';

/** Deterministic PRNG (mulberry32) for reproducible loss. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface ReceivedDtmfPacket {
  event: number;
  end: boolean;
  duration: number;
  timestamp: number;
  marker: boolean;
}

export class FakeMetaPeer {
  readonly pc: RTCPeerConnection;
  private readonly track = new MediaStreamTrack({ kind: 'audio' });
  private transceiver: RTCRtpTransceiver | undefined;
  private readonly decoder = new Decoder({ channels: 1, sample_rate: 16000 });
  private readonly encoder = new Encoder({ channels: 1, sample_rate: 16000, application: 'voip' });
  private seq = 1000;
  private timestamp = 123456;
  private readonly ssrc = 0x4d455441;
  private sendTimer: NodeJS.Timeout | undefined;

  /** PCM decoded from the leg's Opus packets, 16 kHz. */
  readonly receivedPcm: Int16Array[] = [];
  /** The leg's Opus payloads as received, in arrival order. */
  readonly receivedOpusPayloads: Buffer[] = [];
  /** The Opus payloads this peer sent, in order. */
  readonly sentOpusPayloads: Uint8Array[] = [];
  readonly receivedDtmf: ReceivedDtmfPacket[] = [];
  readonly receivedPayloadTypes = new Map<number, number>();
  /** Sequence numbers of all packets received from the leg (both payload types), in arrival order. */
  readonly receivedSequence: number[] = [];
  readonly receivedSsrcs = new Set<number>();
  packetsSent = 0;
  packetsDropped = 0;

  constructor() {
    this.pc = new RTCPeerConnection({
      iceLite: true,
      iceAdditionalHostAddresses: ['127.0.0.1'],
      iceUseIpv6: false,
      iceServers: [],
      // The machine may have other interfaces; keep every check on loopback.
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
    });
    this.pc.onTrack.subscribe((remote) => {
      remote.onReceiveRtp.subscribe((packet) => this.onRtp(packet));
    });
  }

  get iceControlling(): boolean | undefined {
    return this.pc.iceTransports[0]?.connection.iceControlling;
  }

  /** Meta-shaped offer (user-initiated call). */
  async createOffer(): Promise<string> {
    this.transceiver = this.pc.addTransceiver(this.track, { direction: 'sendrecv' });
    await this.pc.setLocalDescription(await this.pc.createOffer());
    await this.gathered();
    return toMetaShape(this.pc.localDescription!.sdp);
  }

  /** Apply the leg's answer (its `mid:audio` mapped back to werift's own mid). */
  async setAnswer(sdp: string): Promise<void> {
    await this.pc.setRemoteDescription({ type: 'answer', sdp: fromMetaShape(sdp, this.mid()) });
  }

  /** Answer the leg's offer (business-initiated call) in Meta's shape. */
  async createAnswer(offer: string): Promise<string> {
    await this.pc.setRemoteDescription({ type: 'offer', sdp: offer });
    const transceiver = this.pc.getTransceivers()[0]!;
    this.transceiver = transceiver;
    transceiver.setDirection('sendrecv');
    transceiver.sender.registerTrack(this.track);
    await this.pc.setLocalDescription(await this.pc.createAnswer());
    await this.gathered();
    // Meta's answers carry a=ice-lite at session level; werift writes it per media section.
    return toMetaAnswerShape(this.pc.localDescription!.sdp);
  }

  async connected(): Promise<void> {
    if (this.pc.connectionState === 'connected') return;
    await new Promise<void>((resolve) => {
      const sub = this.pc.connectionStateChange.subscribe((s) => {
        if (s === 'connected') {
          sub.unSubscribe();
          resolve();
        }
      });
    });
  }

  /**
   * Send a 1 kHz tone (16 kHz content in 48 kHz RTP, like Meta) every 20 ms, dropping a seeded
   * share of packets. Returns a function that stops it.
   */
  startTone(options: { lossRate?: number; seed?: number; frequencyHz?: number } = {}): () => void {
    const tone = new ToneGenerator(options.frequencyHz ?? 1000, 16000, 0.3);
    const random = seededRandom(options.seed ?? 42);
    const loss = options.lossRate ?? 0;
    let next = performance.now();
    const tickOnce = (): void => {
      const payload = this.encoder.encode(tone.next(320));
      if (random() < loss) {
        this.packetsDropped++;
        this.seq = (this.seq + 1) & 0xffff;
      } else {
        this.sendRaw(111, payload, false);
      }
      this.timestamp = (this.timestamp + 960) >>> 0;
    };
    const loop = (): void => {
      const now = performance.now();
      while (now >= next) {
        tickOnce();
        next += 20;
      }
      this.sendTimer = setTimeout(loop, next - performance.now());
    };
    loop();
    return () => {
      if (this.sendTimer) clearTimeout(this.sendTimer);
      this.sendTimer = undefined;
    };
  }

  /**
   * Send one DTMF event like a phone does, with duplicates and a reordering thrown in: start
   * (marker), updates, the first update duplicated, end packets sent three times, one end packet
   * before the last update.
   */
  sendDtmfEvent(event: number): void {
    const ts = this.timestamp;
    const payload = (end: boolean, duration: number): Uint8Array =>
      Uint8Array.of(event, (end ? 0x80 : 0) | 10, duration >> 8, duration & 0xff);
    const packets: [Uint8Array, boolean][] = [
      [payload(false, 160), true],
      [payload(false, 320), false],
      [payload(false, 320), false],
      [payload(true, 800), false],
      [payload(false, 480), false],
      [payload(true, 800), false],
      [payload(true, 800), false],
    ];
    for (const [p, marker] of packets) this.sendRaw(126, p, marker, ts);
    this.timestamp = (this.timestamp + 960 * 5) >>> 0;
  }

  async close(): Promise<void> {
    if (this.sendTimer) clearTimeout(this.sendTimer);
    this.sendTimer = undefined;
    await this.pc.close();
  }

  private sendRaw(pt: number, payload: Uint8Array, marker: boolean, ts = this.timestamp): void {
    const sender = this.transceiver?.sender;
    if (!sender || sender.dtlsTransport.state !== 'connected') return;
    const header = new RtpHeader({
      payloadType: pt,
      sequenceNumber: this.seq,
      timestamp: ts,
      marker,
      ssrc: sender.ssrc || this.ssrc,
    });
    this.seq = (this.seq + 1) & 0xffff;
    this.packetsSent++;
    if (pt === 111) this.sentOpusPayloads.push(payload);
    void sender.dtlsTransport.sendRtp(
      Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength),
      header,
    );
  }

  private onRtp(packet: RtpPacket): void {
    const { header, payload } = packet;
    this.receivedPayloadTypes.set(
      header.payloadType,
      (this.receivedPayloadTypes.get(header.payloadType) ?? 0) + 1,
    );
    this.receivedSequence.push(header.sequenceNumber);
    this.receivedSsrcs.add(header.ssrc);
    if (header.payloadType === 111) {
      this.receivedOpusPayloads.push(payload);
      const bytes = this.decoder.decode(payload);
      this.receivedPcm.push(new Int16Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 2));
    } else if (header.payloadType === 126 && payload.length >= 4) {
      this.receivedDtmf.push({
        event: payload[0]!,
        end: (payload[1]! & 0x80) !== 0,
        duration: (payload[2]! << 8) | payload[3]!,
        timestamp: header.timestamp,
        marker: header.marker,
      });
    }
  }

  private mid(): string {
    return this.transceiver?.mid ?? '0';
  }

  private async gathered(): Promise<void> {
    if (this.pc.iceGatheringState === 'complete') return;
    await new Promise<void>((resolve) => {
      const sub = this.pc.iceGatheringStateChange.subscribe((s) => {
        if (s === 'complete') {
          sub.unSubscribe();
          resolve();
        }
      });
    });
  }
}

/**
 * werift's SDP rewritten to Meta's shape: session-level `a=ice-lite`, `mid:audio`, no trickle
 * options or end-of-candidates, ptime/maxptime 20.
 */
export function toMetaShape(sdp: string): string {
  const lines = sdp.split(/\r?\n/).filter((l) => l.length > 0);
  const mid = lines.find((l) => l.startsWith('a=mid:'))?.slice(6) ?? '0';
  const out: string[] = [];
  for (const line of lines) {
    if (
      line === 'a=ice-lite' ||
      line === 'a=end-of-candidates' ||
      line.startsWith('a=ice-options') ||
      !isLoopbackCandidateOrOther(line)
    ) {
      continue;
    }
    if (line.startsWith('a=group:BUNDLE')) out.push('a=group:BUNDLE audio');
    else if (line === `a=mid:${mid}`) out.push('a=mid:audio');
    else out.push(line);
    if (line.startsWith('t=')) out.push('a=ice-lite');
    if (line.startsWith('a=rtpmap:126')) out.push('a=maxptime:20', 'a=ptime:20');
  }
  return out.join('\r\n') + '\r\n';
}

function fromMetaShape(sdp: string, mid: string): string {
  return sdp
    .replace(/^a=mid:audio(\r?)$/m, `a=mid:${mid}$1`)
    .replace(/^a=group:BUNDLE audio(\r?)$/m, `a=group:BUNDLE ${mid}$1`);
}

/** werift's answer with non-loopback candidates removed and `a=ice-lite` at session level. */
function toMetaAnswerShape(sdp: string): string {
  const lines = sdp.split(/\r?\n/).filter((l) => l.length > 0 && l !== 'a=ice-lite');
  const out: string[] = [];
  for (const line of lines) {
    if (!isLoopbackCandidateOrOther(line)) continue;
    out.push(line);
    if (line.startsWith('t=')) out.push('a=ice-lite');
  }
  return out.join('\r\n') + '\r\n';
}

function isLoopbackCandidateOrOther(line: string): boolean {
  return !line.startsWith('a=candidate:') || line.split(' ')[4] === '127.0.0.1';
}
