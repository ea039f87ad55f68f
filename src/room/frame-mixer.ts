/**
 * Mixes the audio of several room participants into one fixed-size frame per tick.
 *
 * Why not rtc-node's `AudioMixer`: it is pull-driven — each round awaits every input for up to
 * `streamTimeoutMs` (100 ms default) to fill a whole block, so one late participant delays the
 * mix for everyone; when nobody sends it polls every 1 ms instead of producing silence; its output
 * queue holds up to 100 blocks, so a slow consumer turns into seconds of latency; and it
 * concatenates a new buffer per frame. Even with `blocksize = rate/50` it has no steady clock.
 * Here, as in LiveKit SIP's mixer (media-sdk `mixer.go`), a clock outside the mixer calls
 * {@link FrameMixer.mix} every 20 ms; each input has a small ring buffer, contributes silence when
 * it has nothing (never delaying the others), and drops its oldest audio when it overflows.
 */

/** Options of {@link FrameMixer}. */
export interface FrameMixerOptions {
  /**
   * Frames an input must buffer before it contributes, at start and after it ran dry: one frame
   * of cushion absorbs the jitter between the native frame delivery and our tick. Default 2.
   */
  startFrames?: number;
  /** Frames an input may buffer; beyond that its oldest samples are dropped. Default 4 (80 ms). */
  maxFrames?: number;
}

/** One participant's audio feeding the mixer. */
export class FrameMixerInput {
  readonly #ring: Int16Array;
  #readIndex = 0;
  #buffered = 0;
  #primed = false;
  /** Samples discarded because the input ran ahead of the mix. */
  droppedSamples = 0;
  /** Ticks on which a primed input had less than a frame (it then re-primes). */
  underruns = 0;

  constructor(
    private readonly samplesPerFrame: number,
    private readonly startSamples: number,
    capacitySamples: number,
  ) {
    this.#ring = new Int16Array(capacitySamples);
  }

  /** Samples waiting to be mixed. */
  get bufferedSamples(): number {
    return this.#buffered;
  }

  /** Append PCM (any length). Overflow drops the oldest samples so latency stays bounded. */
  push(pcm: Int16Array): void {
    const capacity = this.#ring.length;
    let data = pcm;
    if (data.length > capacity) {
      this.droppedSamples += data.length - capacity;
      data = data.subarray(data.length - capacity);
    }
    const overflow = this.#buffered + data.length - capacity;
    if (overflow > 0) {
      this.#readIndex = (this.#readIndex + overflow) % capacity;
      this.#buffered -= overflow;
      this.droppedSamples += overflow;
    }
    let writeIndex = (this.#readIndex + this.#buffered) % capacity;
    const firstPart = Math.min(data.length, capacity - writeIndex);
    this.#ring.set(data.subarray(0, firstPart), writeIndex);
    if (firstPart < data.length) this.#ring.set(data.subarray(firstPart), 0);
    writeIndex = (writeIndex + data.length) % capacity;
    this.#buffered += data.length;
    if (!this.#primed && this.#buffered >= this.startSamples) this.#primed = true;
  }

  /** Add this input's next frame into `acc`; returns whether it contributed anything. */
  addTo(acc: Int32Array): boolean {
    if (!this.#primed) return false;
    const n = Math.min(this.samplesPerFrame, this.#buffered);
    const capacity = this.#ring.length;
    for (let i = 0; i < n; i++) {
      acc[i] = (acc[i] ?? 0) + (this.#ring[(this.#readIndex + i) % capacity] ?? 0);
    }
    this.#readIndex = (this.#readIndex + n) % capacity;
    this.#buffered -= n;
    if (n < this.samplesPerFrame) {
      // Ran dry: the rest of this frame is silence; wait for a cushion again.
      this.#primed = false;
      this.underruns++;
    }
    return n > 0;
  }
}

/** Sums its inputs into frames of `samplesPerFrame` mono samples, saturating at int16. */
export class FrameMixer {
  readonly #inputs = new Set<FrameMixerInput>();
  readonly #startSamples: number;
  readonly #capacitySamples: number;
  readonly #acc: Int32Array;

  constructor(
    readonly samplesPerFrame: number,
    options: FrameMixerOptions = {},
  ) {
    if (!Number.isInteger(samplesPerFrame) || samplesPerFrame <= 0) {
      throw new RangeError('samplesPerFrame must be a positive integer');
    }
    const maxFrames = Math.max(1, options.maxFrames ?? 4);
    const startFrames = Math.min(maxFrames, Math.max(1, options.startFrames ?? 2));
    this.#startSamples = startFrames * samplesPerFrame;
    this.#capacitySamples = maxFrames * samplesPerFrame;
    this.#acc = new Int32Array(samplesPerFrame);
  }

  get inputCount(): number {
    return this.#inputs.size;
  }

  addInput(): FrameMixerInput {
    const input = new FrameMixerInput(
      this.samplesPerFrame,
      this.#startSamples,
      this.#capacitySamples,
    );
    this.#inputs.add(input);
    return input;
  }

  removeInput(input: FrameMixerInput): void {
    this.#inputs.delete(input);
  }

  /**
   * One mixed frame. Summed in int32 and hard-clipped, not divided by the input count: scaling
   * would make every voice quieter as soon as a second participant joins. Silence when no input
   * has audio.
   */
  mix(): Int16Array {
    const acc = this.#acc;
    acc.fill(0);
    for (const input of this.#inputs) input.addTo(acc);
    const out = new Int16Array(this.samplesPerFrame);
    for (let i = 0; i < acc.length; i++) {
      const v = acc[i] ?? 0;
      out[i] = v > 32767 ? 32767 : v < -32768 ? -32768 : v;
    }
    return out;
  }
}
