/**
 * The simulated WhatsApp user's phone for the bench: replays the pre-encoded burst signal (16 kHz
 * Opus, as WhatsApp sends) on the simulator process's shared 20 ms clock and keeps what it hears
 * as packets, decoded only when analysed. Meta's side of the call (relay peer, webhooks, timers)
 * is the simulator's own; only the user's end is lighter than {@link SimulatedPhone}.
 */
import type {
  BusinessRtpPacket,
  UserPhone,
  UserPhoneLink,
} from '../../src/simulator/user-phone.js';
import type { BurstReplay } from './opus-bursts.js';
import { PacketRecorder, type SharedPacer } from './opus-bursts.js';

export class ReplayPhone implements UserPhone {
  readonly kind = 'simulated';
  readonly recorder = new PacketRecorder(16_000);
  private stopSending: (() => void) | undefined;
  private seq = Math.floor(Math.random() * 0x10000);
  private closed = false;

  constructor(
    readonly voice: BurstReplay,
    private readonly pacer: SharedPacer,
  ) {}

  get description(): string {
    return `bench replay ${this.voice.pattern.hz} Hz`;
  }

  start(link: UserPhoneLink): void {
    if (this.stopSending || this.closed) return;
    const send = () => {
      const { payload, timestamp } = this.voice.next(Date.now());
      if (!link.mayTransmit) return;
      this.seq = (this.seq + 1) & 0xffff;
      link.send({
        payloadType: link.opusPayloadType,
        sequenceNumber: this.seq,
        timestamp,
        marker: false,
        payload,
      });
    };
    send();
    this.stopSending = this.pacer.add(send);
  }

  hear(packet: BusinessRtpPacket): void {
    if (this.closed || packet.codec !== 'opus') return;
    this.recorder.push(packet.payload);
  }

  close(): Promise<void> {
    this.closed = true;
    this.stopSending?.();
    this.stopSending = undefined;
    return Promise.resolve();
  }
}
