/**
 * Rotary position embedding applied in place to the query and key heads of each row (Su et al.; Hugging Face's
 * rotate_half form): for each head, the first rotaryDim dims rotate in pairs (i, i + rotaryDim/2) — the two
 * halves, not adjacent dims — by the angle whose cos/sin the table holds for that row; the rest pass through.
 *   x   (rows, rowStride) with head h of row r at r*rowStride + h*headDim, heads × headDim ≤ rowStride
 *   cos, sin (rows, rotaryDim/2)   already scaled by the RoPE kind's attention factor
 */
export interface RopeArgs {
  rows: number;
  heads: number;
  headDim: number;
  rotaryDim: number;
  rowStride: number;
  rowStart?: number;
  rowEnd?: number;
}

export function rope(x: Float32Array, cos: Float32Array, sin: Float32Array, a: RopeArgs): void {
  const half = a.rotaryDim >> 1;
  for (let r = a.rowStart ?? 0; r < (a.rowEnd ?? a.rows); r++) {
    for (let h = 0; h < a.heads; h++) {
      const base = r * a.rowStride + h * a.headDim;
      for (let i = 0; i < half; i++) {
        const c = cos[r * half + i], s = sin[r * half + i];
        const x1 = x[base + i], x2 = x[base + i + half];
        x[base + i] = x1 * c - x2 * s;
        x[base + i + half] = x2 * c + x1 * s;
      }
    }
  }
}
