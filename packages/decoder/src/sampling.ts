/** A small seeded generator (mulberry32): the same seed gives the same samples on every machine. */
export function seededRandom(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface SamplingOptions {
  /** Divides the logits; < 1 sharpens, > 1 flattens. Default 1. */
  temperature?: number;
  /** Keep only the k most likely tokens (0 = off). */
  topK?: number;
  /** Keep the smallest set of most likely tokens whose probability reaches p (1 = off). */
  topP?: number;
}

/** The probabilities sampling draws from after temperature, top-k and top-p (zeros for removed tokens). */
export function samplingDistribution(logits: ArrayLike<number>, options: SamplingOptions): Float64Array {
  const { temperature = 1, topK = 0, topP = 1 } = options;
  if (!(temperature > 0)) throw new RangeError(`temperature must be > 0, got ${temperature}`);
  if (!(topP > 0 && topP <= 1)) throw new RangeError(`topP must be in (0, 1], got ${topP}`);
  const n = logits.length;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => logits[b] - logits[a] || a - b);
  const keep = topK > 0 ? Math.min(topK, n) : n;
  let max = -Infinity;
  for (let r = 0; r < keep; r++) max = Math.max(max, logits[order[r]] / temperature);
  const p = new Float64Array(n);
  let z = 0;
  for (let r = 0; r < keep; r++) {
    const i = order[r];
    p[i] = Math.exp(logits[i] / temperature - max);
    z += p[i];
  }
  for (let r = 0; r < keep; r++) p[order[r]] /= z;
  if (topP < 1) {
    // Keep tokens, most likely first, until the kept mass reaches topP (always at least one).
    let mass = 0;
    let r = 0;
    for (; r < keep; r++) {
      mass += p[order[r]];
      if (mass >= topP) break;
    }
    let kept = 0;
    for (let q = 0; q <= Math.min(r, keep - 1); q++) kept += p[order[q]];
    for (let q = 0; q < keep; q++) p[order[q]] = q <= r ? p[order[q]] / kept : 0;
  }
  return p;
}

export function sample(p: Float64Array, random: () => number): number {
  let u = random();
  let last = 0;
  for (let i = 0; i < p.length; i++) {
    if (p[i] === 0) continue;
    last = i;
    u -= p[i];
    if (u < 0) return i;
  }
  return last;
}

export function argmax(x: ArrayLike<number>, offset = 0, n = x.length): number {
  let best = 0;
  for (let i = 1; i < n; i++) if (x[offset + i] > x[offset + best]) best = i;
  return best;
}
