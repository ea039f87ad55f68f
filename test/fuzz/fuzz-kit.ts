/**
 * Seeded input generation for the fuzz targets. Every run uses the same seed (override with
 * FUZZ_SEED=<n> to explore), so a failure names the seed and input index that reproduce it.
 */

/** The seed of this run. */
export const FUZZ_SEED = Number(process.env.FUZZ_SEED ?? 20261201);

/** Deterministic PRNG (mulberry32). */
export class Prng {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Integer in [min, max]. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(0, items.length - 1)] as T;
  }

  bytes(length: number): Uint8Array {
    const out = new Uint8Array(length);
    for (let i = 0; i < length; i++) out[i] = this.int(0, 255);
    return out;
  }
}

/** Byte-level mutations of `input`: flips, inserts, deletes, truncation, duplication. */
export function mutateBytes(random: Prng, input: Uint8Array): Uint8Array {
  const out = [...input];
  const edits = random.int(1, 6);
  for (let e = 0; e < edits; e++) {
    const at = random.int(0, Math.max(0, out.length - 1));
    switch (random.int(0, 5)) {
      case 0:
        if (out.length > 0) out[at] = (out[at] as number) ^ (1 << random.int(0, 7));
        break;
      case 1:
        out.splice(at, 0, random.int(0, 255));
        break;
      case 2:
        out.splice(at, random.int(1, 8));
        break;
      case 3:
        out.length = random.int(0, out.length);
        break;
      case 4:
        out.splice(at, 0, ...out.slice(at, at + random.int(1, 16)));
        break;
      default:
        out[at] = random.pick([0x00, 0xff, 0x7f, 0x80]);
    }
  }
  return Uint8Array.from(out);
}

/** Formats a failure so it names what reproduces it. */
export function reproduce(target: string, index: number): string {
  return `${target}: input #${index} with FUZZ_SEED=${FUZZ_SEED}`;
}
