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
 * it has nothing (never delaying the others), and drops its oldest audio when it overflows. The
 * cushion each input holds adapts to its jitter, as a receiver's jitter buffer does: one frame
 * while delivery is steady, more after underruns.
 */

/** Options of {@link FrameMixer}. */
export interface FrameMixerOptions {
  /**
   * Frames an input must buffer before it contributes (its cushion against the jitter between
   * packet arrival and our tick), at start and after it ran dry. The cushion is adaptive: it
   * starts here, grows by a frame after each underrun that was late audio (it resumed within two
   * ticks; a longer gap is the speaker pausing, DTX or mute) up to `maxStartFrames`, and shrinks
   * back by a frame after `relaxAfterFrames` clean ticks. Each frame of cushion is 20 ms of latency, so
   * the common case (a steady sender, a steady clock) stays at one. Default 1.
   */
  startFrames?: number;
  /** Largest cushion an input grows to after underruns, frames. Default 3 (60 ms). */
  maxStartFrames?: number;
  /** Clean ticks (no underrun) after which a grown cushion shrinks by a frame. Default 500 (10 s). */
  relaxAfterFrames?: number;
  /**
   * Frames an input may buffer; beyond that its oldest samples are dropped. Default 4 (80 ms),
   * raised to `maxStartFrames + 1` when smaller.
   */
  maxFrames?: number;
}

/**
 * An input dry for at most this many ticks before its audio resumes was late (jitter); longer is
 * a pause of the speaker (DTX, mute), which must not grow the cushion.
 */
const MAX_LATE_TICKS = 2;

/** Peak below which a frame is quiet enough to drop unheard (about -40 dBFS). */
const QUIET_PEAK = 328;

interface CushionSettings {
  minSamples: number;
  maxSamples: number;
  relaxAfterFrames: number;
}

/** One participant's audio feeding the mixer. */
export class FrameMixerInput {
  readonly #ring: Int16Array;
  readonly #cushion: CushionSettings;
  #readIndex = 0;
  #buffered = 0;
  #primed = false;
  #cushionSamples: number;
  #cleanTicks = 0;
  /** Ticks since the input ran dry (undefined: it did not, or it is primed again). */
  #dryTicks: number | undefined;
  /** Set when the cushion shrank: the audio it no longer needs is dropped at the next quiet frame. */
  #shrinkPending = false;
  /** Samples discarded because the input ran ahead of the mix (overflow and quiet trims). */
  droppedSamples = 0;
  /** Quiet frames dropped to bring the latency back down to the cushion. */
  trimmedFrames = 0;
  /** Ticks on which a primed input had less than a frame (it then re-primes). */
  underruns = 0;
  /** Underruns that were late audio (not a pause): each grew the cushion. */
  lateFrames = 0;

  constructor(
    private readonly samplesPerFrame: number,
    cushion: CushionSettings,
    capacitySamples: number,
  ) {
    this.#ring = new Int16Array(capacitySamples);
    this.#cushion = cushion;
    this.#cushionSamples = cushion.minSamples;
  }

  /** Samples waiting to be mixed. */
  get bufferedSamples(): number {
    return this.#buffered;
  }

  /** The current cushion, in frames. */
  get cushionFrames(): number {
    return this.#cushionSamples / this.samplesPerFrame;
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
    if (overflow > 0) this.#skip(overflow);
    let writeIndex = (this.#readIndex + this.#buffered) % capacity;
    const firstPart = Math.min(data.length, capacity - writeIndex);
    this.#ring.set(data.subarray(0, firstPart), writeIndex);
    if (firstPart < data.length) this.#ring.set(data.subarray(firstPart), 0);
    writeIndex = (writeIndex + data.length) % capacity;
    this.#buffered += data.length;
    if (this.#dryTicks !== undefined) {
      // Audio again after running dry. Back within a couple of frames: a late packet, so a larger
      // cushion is needed. Later: the speaker paused (DTX, mute), which says nothing of jitter.
      if (this.#dryTicks <= MAX_LATE_TICKS) this.#grow();
      this.#dryTicks = undefined;
    }
    if (!this.#primed && this.#buffered >= this.#cushionSamples) this.#primed = true;
  }

  /** Add this input's next frame into `acc`; returns whether it contributed anything. */
  addTo(acc: Int32Array): boolean {
    if (!this.#primed) {
      if (this.#dryTicks !== undefined) this.#dryTicks++;
      return false;
    }
    const spf = this.samplesPerFrame;
    // More than the cushion is held (a burst, or the cushion just shrank): drop the next frame
    // if nobody would hear it, so the extra latency goes away without a glitch.
    const excess = this.#shrinkPending ? 0 : spf;
    if (this.#buffered - spf >= this.#cushionSamples + excess && this.#nextFrameIsQuiet()) {
      this.#skip(spf);
      this.trimmedFrames++;
      this.#shrinkPending = false;
    }
    const n = Math.min(spf, this.#buffered);
    const capacity = this.#ring.length;
    for (let i = 0; i < n; i++) {
      acc[i] = (acc[i] ?? 0) + (this.#ring[(this.#readIndex + i) % capacity] ?? 0);
    }
    this.#readIndex = (this.#readIndex + n) % capacity;
    this.#buffered -= n;
    if (n < spf) {
      // Ran dry: the rest of this frame is silence; wait for a (larger) cushion again.
      this.#primed = false;
      this.underruns++;
      this.#cleanTicks = 0;
      this.#dryTicks = 0;
    } else if (++this.#cleanTicks >= this.#cushion.relaxAfterFrames) {
      this.#cleanTicks = 0;
      if (this.#cushionSamples > this.#cushion.minSamples) {
        this.#cushionSamples -= spf;
        this.#shrinkPending = true;
      }
    }
    return n > 0;
  }

  #grow(): void {
    this.lateFrames++;
    this.#cushionSamples = Math.min(
      this.#cushion.maxSamples,
      this.#cushionSamples + this.samplesPerFrame,
    );
  }

  #nextFrameIsQuiet(): boolean {
    const capacity = this.#ring.length;
    for (let i = 0; i < this.samplesPerFrame; i++) {
      const v = this.#ring[(this.#readIndex + i) % capacity] ?? 0;
      if (v >= QUIET_PEAK || v <= -QUIET_PEAK) return false;
    }
    return true;
  }

  #skip(samples: number): void {
    this.#readIndex = (this.#readIndex + samples) % this.#ring.length;
    this.#buffered -= samples;
    this.droppedSamples += samples;
  }
}

/** Sums its inputs into frames of `samplesPerFrame` mono samples, saturating at int16. */
export class FrameMixer {
  readonly #inputs = new Set<FrameMixerInput>();
  readonly #cushion: CushionSettings;
  readonly #capacitySamples: number;
  readonly #acc: Int32Array;

  constructor(
    readonly samplesPerFrame: number,
    options: FrameMixerOptions = {},
  ) {
    if (!Number.isInteger(samplesPerFrame) || samplesPerFrame <= 0) {
      throw new RangeError('samplesPerFrame must be a positive integer');
    }
    const startFrames = Math.max(1, Math.floor(options.startFrames ?? 1));
    const maxStartFrames = Math.max(startFrames, Math.floor(options.maxStartFrames ?? 3));
    const maxFrames = Math.max(maxStartFrames + 1, Math.floor(options.maxFrames ?? 4));
    this.#cushion = {
      minSamples: startFrames * samplesPerFrame,
      maxSamples: maxStartFrames * samplesPerFrame,
      relaxAfterFrames: Math.max(1, Math.floor(options.relaxAfterFrames ?? 500)),
    };
    this.#capacitySamples = maxFrames * samplesPerFrame;
    this.#acc = new Int32Array(samplesPerFrame);
  }

  get inputCount(): number {
    return this.#inputs.size;
  }

  addInput(): FrameMixerInput {
    const input = new FrameMixerInput(this.samplesPerFrame, this.#cushion, this.#capacitySamples);
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
