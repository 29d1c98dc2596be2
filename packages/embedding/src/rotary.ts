/**
 * Rotary position embeddings (RoFormer; Hugging Face's rotate-half layout): for position p and k < d/2 the pair
 * (x[k], x[k + d/2]) turns by p·θ^(−2k/d). Angles in float32 as transformers computes them.
 */
export interface RotaryTable {
  headDim: number;
  /** (positions, headDim/2) */
  cos: Float32Array;
  sin: Float32Array;
}

/** cos and sin of p·inv_freq_k for p < positions, inv_freq_k = 1/θ^(2k/d). */
export function rotaryTable(positions: number, headDim: number, theta: number): RotaryTable {
  const half = headDim / 2;
  const f = Math.fround;
  const cos = new Float32Array(positions * half);
  const sin = new Float32Array(positions * half);
  for (let k = 0; k < half; k++) {
    const invFreq = f(1 / f(theta ** f((2 * k) / headDim)));
    for (let p = 0; p < positions; p++) {
      const angle = f(p * invFreq);
      cos[p * half + k] = Math.cos(angle);
      sin[p * half + k] = Math.sin(angle);
    }
  }
  return { headDim, cos, sin };
}

/**
 * Rotates every head of the `heads`·headDim columns starting at `col` in each row of x (rows of `rowStride`
 * floats), in place: x·cos + rotate_half(x)·sin, rotate_half([x1, x2]) = [−x2, x1]; row r sits at position(r).
 */
export function applyRotary(x: Float32Array, rows: number, rowStride: number, col: number, heads: number, table: RotaryTable, position: (row: number) => number): void {
  const d = table.headDim;
  const half = d / 2;
  for (let r = 0; r < rows; r++) {
    const t = position(r) * half;
    for (let h = 0; h < heads; h++) {
      const base = r * rowStride + col + h * d;
      for (let k = 0; k < half; k++) {
        const a = x[base + k];
        const b = x[base + half + k];
        const c = table.cos[t + k];
        const s = table.sin[t + k];
        x[base + k] = a * c - b * s;
        x[base + half + k] = b * c + a * s;
      }
    }
  }
}
