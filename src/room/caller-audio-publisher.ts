import { AudioFrame, type AudioSource } from '@livekit/rtc-node';

/** Options of {@link CallerAudioPublisher}. */
export interface CallerAudioPublisherOptions {
  /**
   * Audio (ms) allowed to wait between the bridge and the wire: the native AudioSource queue plus
   * frames not yet handed to it. A frame that would exceed it is dropped, so a burst from Meta's
   * side costs a glitch instead of a permanent delay. Default 60 ms (3 frames of 20 ms).
   */
  maxQueuedMs?: number;
  /** Called once per failed capture (the publisher keeps going). */
  onError?: (err: Error) => void;
}

/**
 * Feeds the caller's PCM into the published AudioSource. Captures are strictly sequential: the FFI
 * server handles each capture request in its own async task, so overlapping `captureFrame` calls
 * could reorder frames.
 */
export class CallerAudioPublisher {
  readonly #pending: Int16Array[] = [];
  #pendingSamples = 0;
  #pumping = false;
  #closed = false;
  readonly #maxQueuedMs: number;
  /** Frames dropped because the queue was full. */
  droppedFrames = 0;
  /** Frames handed to the AudioSource. */
  capturedFrames = 0;

  constructor(
    private readonly source: AudioSource,
    private readonly options: CallerAudioPublisherOptions = {},
  ) {
    this.#maxQueuedMs = options.maxQueuedMs ?? 60;
  }

  /** Audio (ms) currently waiting: native queue estimate plus frames not yet captured. */
  get queuedMs(): number {
    return this.source.queuedDuration + (this.#pendingSamples / this.source.sampleRate) * 1000;
  }

  /** Queue one mono frame at the source's sample rate; drops it if the queue is full. */
  push(pcm: Int16Array): void {
    if (this.#closed || pcm.length === 0) return;
    const frameMs = (pcm.length / this.source.sampleRate) * 1000;
    if (this.queuedMs + frameMs > this.#maxQueuedMs + 0.5) {
      this.droppedFrames++;
      return;
    }
    this.#pending.push(pcm);
    this.#pendingSamples += pcm.length;
    if (!this.#pumping) void this.#pump();
  }

  async #pump(): Promise<void> {
    this.#pumping = true;
    try {
      for (let pcm = this.#pending.shift(); pcm; pcm = this.#pending.shift()) {
        this.#pendingSamples -= pcm.length;
        if (this.#closed) break;
        try {
          await this.source.captureFrame(
            new AudioFrame(pcm, this.source.sampleRate, 1, pcm.length),
          );
          this.capturedFrames++;
        } catch (err) {
          if (!this.#closed) this.options.onError?.(err as Error);
        }
      }
    } finally {
      this.#pumping = false;
    }
  }

  /** Stop capturing; frames still pending are discarded. Idempotent. */
  close(): void {
    this.#closed = true;
    this.#pending.length = 0;
    this.#pendingSamples = 0;
  }
}
