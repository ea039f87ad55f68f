/**
 * The mixing path of the room's audio: each remote track's Opus is decoded as it arrives into
 * its own {@link FrameMixerInput}, and {@link RemoteAudioMixer.mix} sums one 20 ms frame of all
 * of them on the caller's clock. Used when two or more participants speak (and always for legs
 * that want PCM, e.g. Twilio's). Decoders exist only while mixing: the passthrough path never
 * decodes.
 */
import { OpusFrameDecoder, type OpusPcmRate } from '../media/opus-codec.js';
import { FrameMixer, type FrameMixerInput } from './frame-mixer.js';

interface MixedTrack {
  decoder: OpusFrameDecoder;
  input: FrameMixerInput;
  /** Last sequence number decoded, to conceal short losses. */
  lastSeq: number | undefined;
  ssrc: number | undefined;
}

/** A lost run longer than this is a pause (DTX, mute), not loss: nothing is concealed. */
const MAX_CONCEALED_FRAMES = 3;

export class RemoteAudioMixer {
  readonly sampleRate: OpusPcmRate;
  readonly frameSamples: number;
  readonly #mixer: FrameMixer;
  readonly #tracks = new Map<string, MixedTrack>();
  /** Packets that were not valid Opus. */
  undecodable = 0;

  constructor(sampleRate: OpusPcmRate) {
    this.sampleRate = sampleRate;
    this.frameSamples = (sampleRate * 20) / 1000;
    this.#mixer = new FrameMixer(this.frameSamples);
  }

  /** Track sids being mixed. */
  get trackSids(): string[] {
    return [...this.#tracks.keys()];
  }

  /** Start mixing `sid` (idempotent). */
  add(sid: string): void {
    if (this.#tracks.has(sid)) return;
    this.#tracks.set(sid, {
      decoder: new OpusFrameDecoder({ sampleRate: this.sampleRate }),
      input: this.#mixer.addInput(),
      lastSeq: undefined,
      ssrc: undefined,
    });
  }

  /** Stop mixing `sid` and free its decoder. */
  remove(sid: string): void {
    const track = this.#tracks.get(sid);
    if (!track) return;
    this.#mixer.removeInput(track.input);
    this.#tracks.delete(sid);
  }

  /** Remove every track. */
  clear(): void {
    for (const sid of [...this.#tracks.keys()]) this.remove(sid);
  }

  /** Decode one RTP packet of `sid` into its input (ignored for a track not mixed). */
  push(sid: string, packet: { payload: Uint8Array; sequenceNumber: number; ssrc: number }): void {
    const track = this.#tracks.get(sid);
    if (!track) return;
    if (track.ssrc !== packet.ssrc) {
      track.ssrc = packet.ssrc;
      track.lastSeq = undefined;
      track.decoder.reset();
    }
    if (track.lastSeq !== undefined) {
      const ahead = (packet.sequenceNumber - track.lastSeq) & 0xffff;
      if (ahead === 0 || ahead > 0x8000) return; // duplicate or late: already played past it
      const lost = ahead - 1;
      if (lost > 0 && lost <= MAX_CONCEALED_FRAMES) {
        for (let i = 0; i < lost; i++) track.input.push(track.decoder.conceal());
      }
    }
    track.lastSeq = packet.sequenceNumber;
    const pcm = track.decoder.decode(packet.payload);
    if (pcm === undefined) {
      this.undecodable++;
      return;
    }
    track.input.push(pcm);
  }

  /** One 20 ms frame of everyone mixed (silence when nobody has audio). */
  mix(): Int16Array {
    return this.#mixer.mix();
  }
}
