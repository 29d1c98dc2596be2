/**
 * Sentence embeddings from token states, sentence-transformers' conventions:
 *   mean: Σ(h·mask) / max(Σmask, 1e-9); cls: h[:, 0]; normalize: x / max(‖x‖₂, 1e-12).
 * hidden (batch, length, dim), mask (batch, length) -> (batch, dim)
 */
export function meanPool(hidden: Float32Array, mask: Int32Array, batch: number, length: number, dim: number): Float32Array {
  const out = new Float32Array(batch * dim);
  const acc = new Float64Array(dim);
  for (let b = 0; b < batch; b++) {
    acc.fill(0);
    let count = 0;
    for (let i = 0; i < length; i++) {
      const m = mask[b * length + i];
      if (!m) continue;
      count += m;
      const row = (b * length + i) * dim;
      for (let d = 0; d < dim; d++) acc[d] += hidden[row + d] * m;
    }
    const denom = Math.max(count, 1e-9);
    for (let d = 0; d < dim; d++) out[b * dim + d] = acc[d] / denom;
  }
  return out;
}

export function clsPool(hidden: Float32Array, batch: number, length: number, dim: number): Float32Array {
  const out = new Float32Array(batch * dim);
  for (let b = 0; b < batch; b++) out.set(hidden.subarray(b * length * dim, b * length * dim + dim), b * dim);
  return out;
}

/** Max over real tokens (sentence-transformers' pooling_mode_max_tokens). */
export function maxPool(hidden: Float32Array, mask: Int32Array, batch: number, length: number, dim: number): Float32Array {
  const out = new Float32Array(batch * dim).fill(-Infinity);
  for (let b = 0; b < batch; b++)
    for (let i = 0; i < length; i++) {
      if (!mask[b * length + i]) continue;
      const row = (b * length + i) * dim;
      for (let d = 0; d < dim; d++) out[b * dim + d] = Math.max(out[b * dim + d], hidden[row + d]);
    }
  return out;
}

/** Rows of x (rows, dim) scaled to unit L2 norm, in place. */
export function l2Normalize(x: Float32Array, dim: number): Float32Array {
  for (let r = 0; r < x.length / dim; r++) {
    let s = 0;
    for (let d = 0; d < dim; d++) s += x[r * dim + d] ** 2;
    const inv = 1 / Math.max(Math.sqrt(s), 1e-12);
    for (let d = 0; d < dim; d++) x[r * dim + d] *= inv;
  }
  return x;
}

export type PoolingMode = 'mean' | 'cls' | 'max';

export function pool(mode: PoolingMode, hidden: Float32Array, mask: Int32Array, batch: number, length: number, dim: number): Float32Array {
  if (mode === 'cls') return clsPool(hidden, batch, length, dim);
  if (mode === 'max') return maxPool(hidden, mask, batch, length, dim);
  return meanPool(hidden, mask, batch, length, dim);
}
