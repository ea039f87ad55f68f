/**
 * Waveform-substitution loss concealment (in the manner of ITU-T G.711 Appendix I): a lost
 * 20 ms frame is replaced by the last pitch period of the decoded signal, repeated with a
 * continuous phase and faded over consecutive losses; the first good frame after a loss is
 * cross-faded with the continuation so no click is heard.
 *
 * Opus's own concealment is not reachable through the binding we use (no `decode(NULL)`); the
 * TOC-only trick that reaches it produces DTX comfort noise about 20 dB below the signal, which
 * turns every lost packet into an audible hole. Repeating the pitch period keeps voiced speech and
 * tones at level for single losses, which is what most losses on a call are.
 */
export class PitchConcealer {
  private readonly history: Int16Array;
  /** Samples of history kept: 40 ms (two frames), enough for the longest pitch period twice. */
  private readonly historySize: number;
  private readonly minLag: number;
  private readonly maxLag: number;
  private readonly overlap: number;
  private lossRun = 0;
  private period = 0;
  private phase = 0;
  private filled = 0;

  /**
   * @param sampleRate PCM rate, Hz
   * @param frameSamples samples per frame
   */
  constructor(
    readonly sampleRate: number,
    readonly frameSamples: number,
  ) {
    this.historySize = frameSamples * 2;
    this.history = new Int16Array(this.historySize);
    // Pitch between 60 Hz and 400 Hz covers voices; a tone above that repeats a multiple of it.
    this.minLag = Math.round(sampleRate / 400);
    this.maxLag = Math.round(sampleRate / 60);
    this.overlap = Math.round(sampleRate / 400); // 2.5 ms cross-fade
  }

  /** Consecutive frames concealed so far. */
  get concealedRun(): number {
    return this.lossRun;
  }

  /**
   * A good frame arrived: smooth its start into the concealed signal if the previous frame was
   * concealed (modifies `frame` in place), then keep it as history.
   */
  receive(frame: Int16Array): void {
    if (this.lossRun > 0 && this.period > 0) {
      const gain = this.gainAt(this.lossRun, 0);
      for (let i = 0; i < this.overlap && i < frame.length; i++) {
        const w = (i + 1) / (this.overlap + 1);
        const continued = this.sampleAt(this.phase + i) * gain;
        frame[i] = clamp(Math.round(continued * (1 - w) + (frame[i] ?? 0) * w));
      }
    }
    this.lossRun = 0;
    this.push(frame);
  }

  /** One frame replacing a lost one. Silence before any audio or after ~80 ms of loss. */
  conceal(): Int16Array {
    const out = new Int16Array(this.frameSamples);
    if (this.filled < this.historySize) {
      this.lossRun++;
      return out;
    }
    if (this.lossRun === 0) {
      this.period = this.estimatePeriod();
      this.phase = 0;
    }
    const run = this.lossRun;
    for (let i = 0; i < this.frameSamples; i++) {
      const gain = this.gainAt(run, i / this.frameSamples);
      out[i] = clamp(Math.round(this.sampleAt(this.phase + i) * gain));
    }
    this.phase += this.frameSamples;
    this.lossRun++;
    return out;
  }

  /** Sample of the repeated last pitch period at continuation offset `n`. */
  private sampleAt(n: number): number {
    const p = this.period;
    return this.history[this.historySize - p + (n % p)] ?? 0;
  }

  /** Gain during the `run`-th consecutive lost frame (0-based), `t` in [0,1) within it. */
  private gainAt(run: number, t: number): number {
    // Full level for the first lost frame, then fade to silence over the next three.
    const start = run === 0 ? 1 : Math.max(0, 1 - (run - 1) * 0.35 - 0.05);
    const end = Math.max(0, 1 - run * 0.35 - 0.05);
    return run === 0 ? 1 - 0.05 * t : start + (end - start) * t;
  }

  private push(frame: Int16Array): void {
    const n = Math.min(frame.length, this.historySize);
    this.history.copyWithin(0, n);
    this.history.set(frame.subarray(frame.length - n), this.historySize - n);
    this.filled = Math.min(this.historySize, this.filled + n);
  }

  /**
   * Pitch period by normalised autocorrelation of the last frame against the history; a
   * multiple of the period of short tones is fine (it repeats them exactly).
   */
  private estimatePeriod(): number {
    const h = this.history;
    const len = this.frameSamples;
    const end = this.historySize;
    let bestLag = this.maxLag;
    let best = -Infinity;
    for (let lag = this.minLag; lag <= this.maxLag && lag < end - len + 1; lag++) {
      let xy = 0;
      let yy = 0;
      for (let i = end - len; i < end; i++) {
        const x = h[i] ?? 0;
        const y = h[i - lag] ?? 0;
        xy += x * y;
        yy += y * y;
      }
      const score = yy > 0 ? xy / Math.sqrt(yy) : 0;
      if (score > best) {
        best = score;
        bestLag = lag;
      }
    }
    return bestLag;
  }
}

function clamp(v: number): number {
  return v > 32767 ? 32767 : v < -32768 ? -32768 : v;
}
