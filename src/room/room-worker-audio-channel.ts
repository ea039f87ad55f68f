import type { Duplex } from 'node:stream';

/**
 * The audio path between the connector and a room worker: a local socket pair carrying one tiny
 * binary frame per 20 ms of PCM, sent as soon as it exists (no batching). Measured against
 * `serialization: 'advanced'` IPC with typed arrays, this costs about half the CPU per frame on
 * both sides, and it lets a stalled peer be detected by its send backlog instead of growing
 * memory.
 *
 * Frame: u32le length of what follows · u8 kind · u32le legId · Int16 little-endian samples.
 */

export const AUDIO_FRAME_KIND = {
  /** Parent → worker: the WhatsApp caller's voice for the leg to publish. */
  callerAudio: 1,
  /** Worker → parent: the leg's 20 ms mix of the room. */
  roomMix: 2,
} as const;
export type AudioFrameKind = (typeof AUDIO_FRAME_KIND)[keyof typeof AUDIO_FRAME_KIND];

const HEADER_BYTES = 4 + 1 + 4;
/** Largest payload accepted: 20 ms at 48 kHz mono is 1920 bytes; anything far above is corrupt. */
const MAX_PAYLOAD_BYTES = 64 * 1024;
/**
 * Send backlog above which frames are dropped instead of queued: about 100 frames, i.e. 2 s of
 * audio of one call or 80 ms for 24 calls. A peer this far behind cannot play the audio in time.
 */
const MAX_BACKLOG_BYTES = 64 * 1024;

export type AudioFrameHandler = (kind: number, legId: number, pcm: Int16Array) => void;

export class RoomWorkerAudioChannel {
  readonly #stream: Duplex;
  #pending: Buffer | undefined;
  #framesDropped = 0;
  #closed = false;

  /**
   * @param stream the socket (parent: `child.stdio[3]`, worker: `new Socket({ fd: 3 })`)
   * @param onFrame called for each complete frame; `pcm` is a fresh, aligned copy
   * @param onCorrupt called once if the peer sends a frame that cannot be parsed
   */
  constructor(
    stream: Duplex,
    onFrame: AudioFrameHandler,
    onCorrupt: (reason: string) => void = () => undefined,
  ) {
    this.#stream = stream;
    stream.on('data', (chunk: Buffer) => {
      if (this.#closed) return;
      const reason = this.#receive(chunk, onFrame);
      if (reason) {
        this.close();
        onCorrupt(reason);
      }
    });
    // Errors surface as the process's exit; the channel must not crash the process.
    stream.on('error', () => undefined);
  }

  /** Frames not sent because the peer fell behind (or the channel was closed). */
  get framesDropped(): number {
    return this.#framesDropped;
  }

  /** Send one frame now; dropped (and counted) when the peer is far behind. */
  send(kind: AudioFrameKind, legId: number, pcm: Int16Array): void {
    if (this.#closed || this.#stream.destroyed || this.#stream.writableLength > MAX_BACKLOG_BYTES) {
      this.#framesDropped++;
      return;
    }
    const frame = Buffer.allocUnsafe(HEADER_BYTES + pcm.byteLength);
    frame.writeUInt32LE(1 + 4 + pcm.byteLength, 0);
    frame.writeUInt8(kind, 4);
    frame.writeUInt32LE(legId, 5);
    frame.set(new Uint8Array(pcm.buffer, pcm.byteOffset, pcm.byteLength), HEADER_BYTES);
    this.#stream.write(frame);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#pending = undefined;
    this.#stream.destroy();
  }

  /** Parse as many frames as `chunk` completes; returns a reason if the stream is corrupt. */
  #receive(chunk: Buffer, onFrame: AudioFrameHandler): string | undefined {
    let buf = this.#pending ? Buffer.concat([this.#pending, chunk]) : chunk;
    let offset = 0;
    while (buf.length - offset >= 4) {
      const length = buf.readUInt32LE(offset);
      if (length < 5 || length > MAX_PAYLOAD_BYTES + 5 || (length - 5) % 2 !== 0) {
        return `bad audio frame length ${length}`;
      }
      if (buf.length - offset < 4 + length) break;
      const kind = buf.readUInt8(offset + 4);
      const legId = buf.readUInt32LE(offset + 5);
      const start = offset + HEADER_BYTES;
      const pcm = new Int16Array((length - 5) / 2);
      new Uint8Array(pcm.buffer).set(buf.subarray(start, start + pcm.byteLength));
      offset += 4 + length;
      onFrame(kind, legId, pcm);
    }
    if (offset < buf.length) {
      // Keep only the incomplete tail (copied, so the socket's chunk can be released).
      buf = buf.subarray(offset);
      this.#pending = Buffer.from(buf);
    } else {
      this.#pending = undefined;
    }
    return undefined;
  }
}
